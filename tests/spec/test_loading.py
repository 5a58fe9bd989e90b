"""Loading a workload from YAML, JSON, files and mappings; its JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import ExistingSecretHFAccess, InferenceWorkload

from .builders import AUTOSCALED, BASE, EXAMPLE_WORKLOAD, workload

YAML_TEXT = """
name: llama3-8b-chat
model: meta-llama/Llama-3.1-8B-Instruct
replicas: {min: 1, max: 4}
autoscaling: {metric: throughput, threshold: 5}
compute:
  gpus: 2
  cpu: 8            # a bare number, as people write it
  memory: 64Gi
auto_delete_after: 10m
labels:
  cost-center: "4711"
"""


def test_from_yaml_reads_every_kind_of_value() -> None:
    spec = InferenceWorkload.from_yaml(YAML_TEXT)
    assert spec.name == "llama3-8b-chat"
    assert (spec.replicas.min, spec.replicas.max) == (1, 4)
    assert spec.autoscaling is not None and spec.autoscaling.metric == "throughput"
    assert (spec.compute.gpus, spec.compute.cpu, spec.compute.memory) == (2, "8", "64Gi")
    assert spec.auto_delete_after == 600
    assert spec.labels == {"cost-center": "4711"}


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "workload.yaml"
    path.write_text(YAML_TEXT, encoding="utf-8")
    assert InferenceWorkload.from_file(path) == InferenceWorkload.from_yaml(YAML_TEXT)
    assert InferenceWorkload.from_file(str(path)).name == "llama3-8b-chat"


def test_from_file_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "workload.json"
    path.write_text(json.dumps(workload(AUTOSCALED)), encoding="utf-8")
    assert InferenceWorkload.from_file(path).autoscaled


def test_from_file_reports_validation_errors(tmp_path: Path) -> None:
    path = tmp_path / "workload.yaml"
    path.write_text("name: Bad_Name\nmodel: a/b\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="DNS-1035"):
        InferenceWorkload.from_file(path)


def test_the_example_workload_loads() -> None:
    spec = InferenceWorkload.from_file(EXAMPLE_WORKLOAD)
    assert spec.name == "llama3-8b-chat"
    assert spec.model.served_model_name == "llama3-8b-chat"
    assert isinstance(spec.hf_access, ExistingSecretHFAccess)
    assert spec.hf_access.secret_name == "hf-credentials"
    assert spec.endpoint_access.groups == ("ml-research", "ml-platform")
    assert spec.compute.gpus == 2 and spec.compute.gpu_memory == "80Gi"
    assert spec.autoscaling is not None and spec.autoscaling.threshold == 2500
    assert [t.operator for t in spec.tolerations] == ["Exists", "Equals"]
    assert spec.auto_delete_after == 3600
    assert spec.cache.claim_name == "hf-model-cache"


def test_the_example_workload_round_trips_through_its_json_dump() -> None:
    spec = InferenceWorkload.from_file(EXAMPLE_WORKLOAD)
    assert InferenceWorkload.parse(json.dumps(spec.model_dump(mode="json"))) == spec


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(dict(BASE), id="dict"),
        pytest.param(MappingProxyType(dict(BASE)), id="read-only-mapping"),
        pytest.param("name: llama3-8b-chat\nmodel: meta-llama/Llama-3.1-8B-Instruct\n", id="yaml"),
        pytest.param(json.dumps(BASE), id="json"),
        pytest.param("  \n" + json.dumps(BASE, indent=2), id="json-indented"),
        pytest.param(
            "{name: llama3-8b-chat, model: meta-llama/Llama-3.1-8B-Instruct}",
            id="yaml-flow-mapping",
        ),
    ],
)
def test_parse_accepts_every_form(value: Any) -> None:
    assert InferenceWorkload.parse(value) == InferenceWorkload.model_validate(BASE)


def test_parse_returns_a_workload_unchanged() -> None:
    spec = InferenceWorkload.model_validate(BASE)
    assert InferenceWorkload.parse(spec) is spec


def test_parse_validates_json_text() -> None:
    with pytest.raises(ValidationError, match="replicas.min \\(3\\) exceeds replicas.max \\(2\\)"):
        InferenceWorkload.parse(json.dumps(workload(replicas={"min": 3, "max": 2})))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("- name: a\n- name: b\n", "a list"),
        ("llama3-8b-chat", "a single string"),
        ("42", "a number"),
        ("[1, 2]", "a list"),
        ("true", "true/false"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_a_clear_error(text: str, kind: str) -> None:
    with pytest.raises(SpecError, match=f"must be a mapping of fields, got {kind}: start the"):
        InferenceWorkload.from_yaml(text)
    with pytest.raises(SpecError, match=f"got {kind}"):
        InferenceWorkload.parse(text)


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "\ufeff"])
def test_an_empty_document_says_so_without_type_names(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        InferenceWorkload.parse(text)
    message = str(caught.value)
    assert "is empty: a workload is a mapping of fields; start with 'name:'" in message
    assert "NoneType" not in message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("name: [unclosed\n", id="unclosed-flow"),
        pytest.param("name: a\n  model: b\n bad: indent\n", id="indentation"),
        pytest.param("name: a\n---\nname: b\n", id="two-documents"),
        pytest.param("{name: a, model: [}", id="broken-flow-mapping"),
    ],
)
def test_malformed_yaml_is_a_spec_error(text: str) -> None:
    with pytest.raises(
        SpecError, match=r"not valid YAML \(line \d+, column \d+: [^\n]+\): fix the syntax there$"
    ):
        InferenceWorkload.parse(text)


def test_spec_errors_are_value_errors() -> None:
    # Callers that catch ValueError (pydantic's convention) catch loader errors too.
    with pytest.raises(ValueError, match="must be a mapping"):
        InferenceWorkload.from_yaml("[]")


def test_parse_rejects_other_types_clearly() -> None:
    with pytest.raises(SpecError, match="got int: pass one of those"):
        InferenceWorkload.parse(42)  # type: ignore[arg-type]


def test_json_schema_is_serialisable_and_documents_fields() -> None:
    schema = InferenceWorkload.model_json_schema()
    text = json.dumps(schema)
    assert json.loads(text) == schema
    props = schema["properties"]
    assert schema["required"] == ["name", "model"]
    assert schema["additionalProperties"] is False
    for field in InferenceWorkload.model_fields:
        assert props[field].get("description"), f"{field} has no description in the schema"
    assert "DNS-1035" in props["name"]["description"]
    # Nested models are closed too, so editors flag a misspelt key.
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())


def test_the_example_workload_passes_the_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = yaml.safe_load(EXAMPLE_WORKLOAD.read_text(encoding="utf-8"))
    jsonschema.validate(data, InferenceWorkload.model_json_schema())


def test_the_json_schema_flags_misspelt_fields() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError, match="'gpu' was unexpected"):
        jsonschema.validate(workload(compute={"gpu": 1}), InferenceWorkload.model_json_schema())


def test_json_schema_lists_the_allowed_values() -> None:
    defs = InferenceWorkload.model_json_schema()["$defs"]
    assert defs["Autoscaling"]["properties"]["metric"]["enum"] == [
        "latency",
        "throughput",
        "concurrency",
    ]
    assert defs["Toleration"]["properties"]["effect"]["enum"] == [
        "NoExecute",
        "NoSchedule",
        "PreferNoSchedule",
        "Any",
    ]
    assert defs["TokenHFAccess"]["properties"]["token"]["writeOnly"] is True
