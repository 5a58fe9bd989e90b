"""The published JSON Schema (schema/inference-workload.schema.json) is current and useful.

Editors validate workload YAML with it (``# yaml-language-server: $schema=...``),
so it must accept what the spec accepts (the every-field example, a plain model
string) and flag what the spec refuses in shape (unknown fields, wrong types).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_provider_hfinfer.cli import workload_json_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "schema" / "inference-workload.schema.json"


def test_the_published_schema_is_what_hfinfer_schema_prints() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == workload_json_schema(), "run `make schema` and commit the result"


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_the_every_field_example_is_valid_under_the_schema() -> None:
    example = yaml.safe_load((REPO / "examples" / "workload.yaml").read_text(encoding="utf-8"))
    assert list(_validator().iter_errors(example)) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "llama", "model": "Qwen/Qwen2.5-7B-Instruct"},
        {"name": "llama", "model": {"id": "Qwen/Qwen2.5-7B-Instruct", "revision": "main"}},
        {
            "name": "llama",
            "model": "m/m",
            "auto_delete_after": "1h",
            "scale_to_zero": {"idle_seconds": "10m"},
        },
    ],
)
def test_short_forms_the_spec_accepts_are_valid_under_the_schema(spec: dict[str, Any]) -> None:
    assert list(_validator().iter_errors(spec)) == []


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"name": "llama", "model": "m/m", "replica": {"min": 1}}, "replica"),
        ({"name": "llama", "model": "m/m", "replicas": {"min": "one"}}, "one"),
        ({"model": "m/m"}, "name"),
        (
            {"name": "llama", "model": "m/m", "autoscaling": {"metric": "gpu", "threshold": 1}},
            "gpu",
        ),
    ],
)
def test_wrong_shapes_are_flagged_by_the_schema(spec: dict[str, Any], where: str) -> None:
    errors = [error.message for error in _validator().iter_errors(spec)]
    assert errors and any(where in message for message in errors)
