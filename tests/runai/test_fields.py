"""The field table: setting each form field changes exactly the Run:ai request paths it lists."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.runai.fields import FIELD_TABLE, FieldRow, leaf_paths, under
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION, SPEC_HASH_ANNOTATION

from .builders import FULL, TARGET, plan_of, spec

BOOKKEEPING = (
    f"spec.annotations[{SPEC_HASH_ANNOTATION}]",
    f"spec.annotations[{APPLIED_SPEC_ANNOTATION}]",
)
"""Paths every change moves (the hash and the recorded spec), left out of the diff."""

ROWS = {row.field: row for row in FIELD_TABLE}

# row -> (spec before, spec after, target after): one change of that field alone.
VARIATIONS: dict[str, tuple[dict[str, Any], dict[str, Any], Any]] = {
    "cluster (connection)": (
        spec(),
        spec(),
        dataclasses.replace(TARGET, cluster_id="0bd2fbbd-2ab4-4d1a-9d61-0a66a4fb70c9"),
    ),
    "namespace (project argument)": (spec(), spec(), dataclasses.replace(TARGET, project_id="9")),
    "name": (spec(), spec(name="mistral"), None),
    "model.id": (spec(), spec(model={**FULL["model"], "id": "Qwen/Qwen2.5-7B-Instruct"}), None),
    "model.revision": (spec(), spec(model={**FULL["model"], "revision": "v2"}), None),
    "model.served_name": (spec(), spec(model={**FULL["model"], "served_name": "bot"}), None),
    "hf_access existing_secret": (
        spec(),
        spec(hf_access={"type": "existing_secret", "secret_name": "other", "key": "TOKEN"}),
        None,
    ),
    "hf_access token / new_secret, hf_conn_id": (
        spec(),
        spec(hf_access={"type": "token", "token": "hf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}),
        None,
    ),
    "endpoint_access.mode": (
        spec(endpoint_access={"mode": "public"}),
        spec(endpoint_access={"mode": "authenticated"}),
        None,
    ),
    "endpoint_access.groups": (
        spec(),
        spec(endpoint_access={"mode": "groups", "groups": ["ml", "ops"]}),
        None,
    ),
    "endpoint_access.users": (
        spec(endpoint_access={"mode": "users", "users": ["ana@example.com"]}),
        spec(endpoint_access={"mode": "users", "users": ["bo@example.com"]}),
        None,
    ),
    "compute.gpus": (spec(), spec(compute={**FULL["compute"], "gpus": 2}), None),
    "compute.cpu": (spec(), spec(compute={**FULL["compute"], "cpu": "500m"}), None),
    "compute.cpu_limit": (spec(), spec(compute={**FULL["compute"], "cpu_limit": "6"}), None),
    "compute.memory": (spec(), spec(compute={**FULL["compute"], "memory": "8Gi"}), None),
    "compute.memory_limit": (
        spec(),
        spec(compute={**FULL["compute"], "memory_limit": "24Gi"}),
        None,
    ),
    "replicas.min": (spec(), spec(replicas={"min": 2, "max": 3}), None),
    "replicas.max": (spec(), spec(replicas={"min": 1, "max": 5}), None),
    "autoscaling.metric": (
        spec(),
        spec(autoscaling={"metric": "throughput", "threshold": 8}),
        None,
    ),
    "autoscaling.threshold": (
        spec(),
        spec(autoscaling={"metric": "concurrency", "threshold": 12}),
        None,
    ),
    "scale_to_zero.idle_seconds": (spec(), spec(scale_to_zero={"idle_seconds": 600}), None),
    "node_pools": (spec(), spec(node_pools=["a100-pool", "h100-pool"]), None),
    "node_type": (spec(), spec(node_type="h100"), None),
    "tolerations": (
        spec(),
        spec(tolerations=[{"key": "dedicated", "value": "ml", "effect": "NoExecute"}]),
        None,
    ),
    "auto_delete_after": (spec(), spec(auto_delete_after=0), None),
    "annotations": (spec(), spec(annotations={"team": "ops"}), None),
    "labels": (spec(), spec(labels={"team": "ops"}), None),
    "vllm.image": (
        spec(),
        spec(vllm={**FULL["vllm"], "image": "registry.example.com/vllm:1"}),
        None,
    ),
    "vllm.max_model_len, dtype, gpu_memory_utilization, task, extra_args": (
        spec(),
        spec(vllm={"max_model_len": 4096, "dtype": "bfloat16", "extra_args": ["--enforce-eager"]}),
        None,
    ),
    "cache.type, cache.claim_name": (
        spec(),
        spec(cache={"type": "pvc", "claim_name": "model-weights"}),
        None,
    ),
    "cache.size_limit": (spec(), spec(cache={"size_limit": "200Gi"}), None),
}

REFUSED: dict[str, dict[str, Any]] = {
    "compute.gpu_memory": spec(compute={**FULL["compute"], "gpu_memory": "80Gi"}),
    "update_strategy": spec(update_strategy="Recreate"),
    "cache.prewarm": spec(
        cache={"type": "pvc", "claim_name": "model-weights", "prewarm": True},
        model={**FULL["model"], "revision": "0123456789abcdef0123456789abcdef01234567"},
    ),
}


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    old, new = leaf_paths(before), leaf_paths(after)
    return {
        path
        for path in old.keys() | new.keys()
        if old.get(path, object()) != new.get(path, object()) and not under(path, BOOKKEEPING)
    }


@pytest.mark.parametrize("field", sorted(VARIATIONS))
def test_setting_a_field_changes_exactly_its_request_paths(field: str) -> None:
    row = ROWS[field]
    before, after, target = VARIATIONS[field]
    body_before = plan_of(before).body
    body_after = plan_of(after, target or TARGET).body
    changed = changed_paths(body_before, body_after)
    assert changed, f"{field}: no request path changed"
    stray = sorted(path for path in changed if not under(path, row.runai))
    assert stray == [], f"{field} changed paths the table does not list: {stray}"
    untouched = [p for p in row.runai if not any(under(path, (p,)) for path in changed)]
    assert untouched == [], f"{field}: the table lists paths the change did not touch"


def test_every_row_with_request_paths_has_a_variation_and_every_other_is_refused() -> None:
    mapped = {row.field for row in FIELD_TABLE if row.runai}
    assert mapped == set(VARIATIONS)
    assert {row.field for row in FIELD_TABLE if not row.runai} == set(REFUSED)


@pytest.mark.parametrize("field", sorted(REFUSED))
def test_fields_run_ai_cannot_express_are_refused_with_the_reason(field: str) -> None:
    with pytest.raises(SpecError, match="runai backend") as caught:
        plan_of(REFUSED[field])
    assert "Run:ai" in str(caught.value) and ": " in str(caught.value)


def _leaf_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        nested = info.annotation
        inner = getattr(nested, "__args__", (nested,))
        models = [arg for arg in inner if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if models and name not in ("hf_access", "tolerations"):
            for sub in models:
                found += _leaf_fields(sub, f"{path}.")
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("leaf", sorted(set(_leaf_fields(InferenceWorkload))))
def test_every_spec_field_has_a_row(leaf: str) -> None:
    parent, _, child = leaf.rpartition(".")

    def names(row: FieldRow) -> bool:
        text = row.field
        if leaf in text:
            return True
        return bool(parent) and text.startswith(parent) and child in text

    assert any(names(row) for row in FIELD_TABLE), f"{leaf} is missing from FIELD_TABLE"


def test_leaf_paths_name_list_items_by_name() -> None:
    body = {"spec": {"labels": [{"name": "team", "value": "ml"}], "nodePools": ["a", "b"]}}
    assert leaf_paths(body) == {
        "spec.labels[team].name": "team",
        "spec.labels[team].value": "ml",
        "spec.nodePools[0]": "a",
        "spec.nodePools[1]": "b",
    }


def test_the_readme_side_by_side_is_this_table() -> None:
    from pathlib import Path

    from airflow_provider_hfinfer.runai.fields import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Run:ai")
    section = readme[start : readme.index("\n## ", start + 3)]
    assert markdown_table() in section
