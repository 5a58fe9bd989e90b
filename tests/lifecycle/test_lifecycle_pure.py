"""The pure lifecycle decisions: marks, expiry, no-op detection, the recorded spec."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hfinfer.deploy.drift import unchanged
from airflow_provider_hfinfer.deploy.marks import (
    FinishedPhase,
    find_expired,
    format_rfc3339,
    mark_annotations,
    read_mark,
)
from airflow_provider_hfinfer.render import RenderContext, render_manifests
from airflow_provider_hfinfer.render.records import recorded_spec
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
OURS = {"app.kubernetes.io/managed-by": "airflow-provider-hfinfer"}


def obj(
    kind: str,
    name: str,
    *,
    phase: str | None = None,
    finished: datetime | None = None,
    ttl: str | None = "600",
    namespace: str = "ns",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    annotations = {}
    if phase:
        annotations["hfinfer.io/phase"] = phase
    if finished:
        annotations["hfinfer.io/finished-at"] = format_rfc3339(finished)
    if ttl is not None:
        annotations["hfinfer.io/auto-delete-after"] = ttl
    return {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**OURS, "hfinfer.io/workload": name} if labels is None else labels,
            "annotations": annotations,
        },
    }


OLD = NOW - timedelta(minutes=11)
RECENT = NOW - timedelta(minutes=9)


@pytest.mark.parametrize(
    ("objects", "expired"),
    [
        pytest.param(
            [obj("Deployment", "a", phase="Completed", finished=OLD)], ["ns/a"], id="expired"
        ),
        pytest.param([obj("Deployment", "a", phase="Failed", finished=OLD)], ["ns/a"], id="failed"),
        pytest.param([obj("Deployment", "a", phase="Completed", finished=RECENT)], [], id="recent"),
        pytest.param(
            [obj("Deployment", "a", phase="Completed", finished=NOW - timedelta(minutes=10))],
            ["ns/a"],
            id="exactly-at-ttl",
        ),
        pytest.param([obj("Deployment", "a")], [], id="unmarked"),
        pytest.param(
            [obj("Deployment", "a", phase="Completed", finished=OLD, ttl=None)], [], id="no-ttl"
        ),
        pytest.param(
            [obj("Deployment", "a", phase="Running", finished=OLD)], [], id="unknown-phase"
        ),
        pytest.param(
            [obj("Deployment", "a", phase="Completed", finished=OLD, labels={"app": "x"})],
            [],
            id="foreign",
        ),
        pytest.param(
            [
                obj("Deployment", "a"),
                obj("Service", "a", phase="Completed", finished=OLD),
            ],
            [],
            id="deployment-speaks-unmarked",
        ),
        pytest.param(
            [obj("Service", "a", phase="Completed", finished=OLD), obj("Secret", "a")],
            [],
            id="leftovers-one-unmarked",
        ),
        pytest.param(
            [
                obj("Service", "a", phase="Completed", finished=OLD),
                obj("Secret", "a", phase="Completed", finished=OLD),
            ],
            ["ns/a"],
            id="leftovers-all-marked",
        ),
        pytest.param(
            [
                obj("Deployment", "a", phase="Completed", finished=OLD),
                obj("Deployment", "a", phase="Completed", finished=OLD, namespace="other"),
                obj("Deployment", "ab", phase="Completed", finished=RECENT),
            ],
            ["ns/a", "other/a"],
            id="grouped-by-namespace-and-exact-name",
        ),
    ],
)
def test_find_expired(objects: list[dict[str, Any]], expired: list[str]) -> None:
    assert [item.ref for item in find_expired(objects, NOW)] == expired


def test_expired_workload_objects_come_in_delete_order() -> None:
    members = [
        obj(kind, "a", phase="Completed", finished=OLD)
        for kind in ("Secret", "Service", "Deployment", "ScaledObject")
    ]
    [item] = find_expired(members, NOW)
    assert [o["kind"] for o in item.objects] == ["ScaledObject", "Deployment", "Service", "Secret"]
    assert item.expired_at == OLD + timedelta(minutes=10)


def test_marks_round_trip_and_reason_only_for_failures() -> None:
    failed = mark_annotations("Failed", NOW, "CrashLoopBackOff:\n  vllm exited")
    assert failed["hfinfer.io/finished-at"] == "2026-11-27T12:00:00Z"
    assert failed["hfinfer.io/finish-reason"] == "CrashLoopBackOff: vllm exited"
    assert mark_annotations("Completed", NOW, "ignored")["hfinfer.io/finish-reason"] is None
    mark = read_mark({"metadata": {"annotations": {**failed, "hfinfer.io/auto-delete-after": "0"}}})
    assert mark is not None and mark.phase is FinishedPhase.FAILED
    assert mark.expires_at == NOW
    with pytest.raises(ValueError):
        mark_annotations("Done", NOW)


def _workload(revision: str) -> InferenceWorkload:
    return InferenceWorkload.parse(
        {
            "name": "llama",
            "model": {"id": "org/model", "revision": revision},
            "hf_access": {"type": "token", "token": "hf_PureTestSecret99"},
        }
    )


def test_recorded_spec_masks_the_token_and_round_trips() -> None:
    manifests = render_manifests(
        _workload("r1"), namespace="ns", context=RenderContext(record_spec=True)
    )
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    raw = deployment["metadata"]["annotations"][APPLIED_SPEC_ANNOTATION]
    assert "hf_PureTestSecret99" not in raw and json.loads(raw)["model"]["revision"] == "r1"
    spec = recorded_spec(deployment)
    assert spec is not None and spec.model.revision == "r1"
    assert recorded_spec({"metadata": {"annotations": {APPLIED_SPEC_ANNOTATION: "{"}}}) is None


def test_unchanged_compares_every_objects_spec_hash() -> None:
    old = render_manifests(_workload("r1"), namespace="ns")
    live = {f"{m['kind']}/{m['metadata']['name']}": m for m in old}
    assert unchanged(live, render_manifests(_workload("r1"), namespace="ns"))
    assert not unchanged(live, render_manifests(_workload("r2"), namespace="ns"))
    partial = dict(live)
    partial.pop("Service/llama")
    assert not unchanged(partial, old)


def test_unchanged_sees_a_rotated_token_though_the_spec_hash_leaves_it_out() -> None:
    old = render_manifests(_workload("r1"), namespace="ns")
    live = {f"{m['kind']}/{m['metadata']['name']}": m for m in old}
    rotated = InferenceWorkload.parse(
        {
            "name": "llama",
            "model": {"id": "org/model", "revision": "r1"},
            "hf_access": {"type": "token", "token": "hf_RotatedPureSecret11"},
        }
    )
    assert not unchanged(live, render_manifests(rotated, namespace="ns"))
