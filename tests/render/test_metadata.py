"""Labels, annotations, names and the spec hash on every rendered object."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from airflow_provider_hfinfer.render import workload_selector
from airflow_provider_hfinfer.render.metadata import SPEC_HASH_ANNOTATION, TTL_ANNOTATION

from .builders import NAMESPACE, TOKEN, example_workload, one, render

USER_LABELS = {"team": "ml-platform", "example.com/cost-center": "4711"}
USER_ANNOTATIONS = {"example.com/owner": "ml-platform@example.com", "note": "long text, ok"}
PROVIDER_LABEL_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "hfinfer.io/workload",
}


def _all_kinds(**fields: Any) -> list[dict[str, Any]]:
    """Every object kind the kubernetes backend renders (the scaler is the ScaledObject)."""
    return render(
        hf_access={"type": "token", "token": TOKEN},
        endpoint_access={"mode": "users", "users": ["ada@example.com"]},
        replicas={"min": 1, "max": 2},
        autoscaling={"metric": "latency", "threshold": 2000},
        labels=USER_LABELS,
        annotations=USER_ANNOTATIONS,
        **fields,
    )


def _metas(manifests: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(where, metadata) of every object and of the pod template."""
    metas = [(item["kind"], item["metadata"]) for item in manifests]
    template = one(manifests, "Deployment")["spec"]["template"]["metadata"]
    return [*metas, ("pod template", template)]


def test_every_object_and_the_pod_template_carry_user_and_provider_labels() -> None:
    manifests = _all_kinds()
    assert len(manifests) == 6
    for where, meta in _metas(manifests):
        labels = meta["labels"]
        assert USER_LABELS.items() <= labels.items(), where
        assert PROVIDER_LABEL_KEYS <= set(labels), where
        assert labels["hfinfer.io/workload"] == "llama3-8b-chat", where
        assert labels["app.kubernetes.io/instance"] == "llama3-8b-chat", where


def test_every_object_and_the_pod_template_carry_user_annotations() -> None:
    for where, meta in _metas(_all_kinds()):
        assert USER_ANNOTATIONS.items() <= meta["annotations"].items(), where


def test_labels_and_annotations_render_as_plain_dicts() -> None:
    # The spec holds them read-only (FrozenMap); manifests must be plain JSON/YAML data.
    manifests = _all_kinds()
    for where, meta in _metas(manifests):
        assert type(meta["labels"]) is dict, where
        assert type(meta["annotations"]) is dict, where
    assert yaml.safe_load(yaml.safe_dump(manifests)) == manifests
    assert json.loads(json.dumps(manifests)) == manifests


def test_workload_selector_finds_every_object() -> None:
    selector = dict(part.split("=", 1) for part in workload_selector("llama3-8b-chat").split(","))
    assert selector["hfinfer.io/workload"] == "llama3-8b-chat"
    for where, meta in _metas(_all_kinds()):
        assert selector.items() <= meta["labels"].items(), where


def test_every_object_is_in_the_namespace() -> None:
    for manifest in _all_kinds():
        assert manifest["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize(("value", "seconds"), [("1h", "3600"), (90, "90"), (0, "0")])
def test_auto_delete_after_is_recorded_on_every_object(value: Any, seconds: str) -> None:
    for manifest in _all_kinds(auto_delete_after=value):
        assert manifest["metadata"]["annotations"][TTL_ANNOTATION] == seconds
    assert TTL_ANNOTATION == "hfinfer.io/auto-delete-after"


def test_no_auto_delete_annotation_when_the_workload_is_kept() -> None:
    for manifest in _all_kinds():
        assert TTL_ANNOTATION not in manifest["metadata"]["annotations"]


def test_model_and_revision_are_recorded() -> None:
    annotations = one(render(model={"id": "org/m", "revision": "abc123"}), "Deployment")[
        "metadata"
    ]["annotations"]
    assert annotations["hfinfer.io/model"] == "org/m"
    assert annotations["hfinfer.io/revision"] == "abc123"


# --- spec hash -----------------------------------------------------------------------------------


def _hashes(manifests: list[dict[str, Any]]) -> set[str]:
    return {item["metadata"]["annotations"][SPEC_HASH_ANNOTATION] for item in manifests}


def _hash(**fields: Any) -> str:
    (digest,) = _hashes(render(**fields))
    return digest


def test_all_objects_of_a_render_share_one_spec_hash() -> None:
    assert len(_hashes(_all_kinds())) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"compute": {"gpus": 2}},
        {"model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "v2"}},
        {"labels": {"team": "x"}},
        {"vllm": {"max_model_len": 4096}},
        {"hf_access": {"type": "existing_secret", "secret_name": "other"}},
    ],
    ids=["gpus", "revision", "labels", "vllm", "secret-name"],
)
def test_spec_hash_changes_when_the_spec_changes(change: dict[str, Any]) -> None:
    assert _hash(**change) != _hash()


def test_spec_hash_changes_with_the_namespace() -> None:
    assert _hashes(render(namespace="team-b")) != _hashes(render())


def test_spec_hash_ignores_a_token_change_and_reveals_nothing() -> None:
    first = _hash(hf_access={"type": "token", "token": TOKEN})
    second = _hash(hf_access={"type": "token", "token": "hf_another_token_value"})
    assert first == second
    assert TOKEN not in first


def test_spec_hash_ignores_a_new_secret_value_change() -> None:
    access = {"type": "new_secret", "secret_name": "s"}
    assert _hash(hf_access={**access, "value": "a1"}) == _hash(hf_access={**access, "value": "b2"})


def test_object_names_fit_in_63_characters_for_the_longest_name() -> None:
    name = "a" * 46
    manifests = _all_kinds(name=name)
    for manifest in manifests:
        assert len(manifest["metadata"]["name"]) <= 63
    assert one(manifests, "Secret")["metadata"]["name"] == f"{name}-hf-token"


def test_example_workload_objects_are_all_labelled() -> None:
    for where, meta in _metas(render(example_workload())):
        assert meta["labels"]["team"] == "ml-platform", where
        assert meta["labels"]["cost-center"] == "4711", where
