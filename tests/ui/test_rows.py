"""The page's pure builders: listed objects to table rows and to the detail panel."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_hfinfer.deploy.marks import mark_annotations
from airflow_provider_hfinfer.kube.snapshot import about_workload
from airflow_provider_hfinfer.render import RenderContext, render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.ui.detail import recent_events, scrub_log, shown_object
from airflow_provider_hfinfer.ui.listing import namespaces_of
from airflow_provider_hfinfer.ui.rows import (
    Owner,
    build_rows,
    group_objects,
    parse_owner,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
MANAGED = {"app.kubernetes.io/managed-by": "airflow-provider-hfinfer"}


def manifests(name: str = "llm", **fields: Any) -> list[dict[str, Any]]:
    spec = {"name": name, "model": {"id": "org/model", "revision": "v2"}, **fields}
    workload = InferenceWorkload.model_validate(spec)
    context = RenderContext(owner="train_dag/deploy/scheduled__2026-12-01", record_spec=True)
    objects = render_manifests(workload, namespace="ns", context=context)
    for obj in objects:
        obj["metadata"]["creationTimestamp"] = "2026-12-01T11:00:00Z"
    return objects


def event(about: str, reason: str = "BackOff", at: str = "2026-12-01T11:59:00Z") -> dict[str, Any]:
    return {
        "kind": "Event",
        "metadata": {"name": f"{about}.1", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": about, "namespace": "ns"},
        "reason": reason,
        "message": f"{reason} on {about}",
        "lastTimestamp": at,
    }


def test_a_row_carries_model_gpus_scaling_endpoint_owner_and_age() -> None:
    objects = manifests(
        compute={"gpus": 4},
        replicas={"min": 1, "max": 4},
        autoscaling={"metric": "latency", "threshold": 500},
    )
    (row,) = build_rows(objects, "gpu", NOW)
    assert (row.connection, row.namespace, row.name) == ("gpu", "ns", "llm")
    assert (row.model, row.revision) == ("org/model", "v2")
    # the scaler owns spec.replicas; the API server defaults an omitted one to 1
    assert (row.gpus_per_replica, row.desired_replicas, row.gpus_total) == (4, 1, 4)
    assert row.autoscaling == "1..4, latency > 500 ms"
    assert row.endpoint == "http://llm.ns.svc.cluster.local/v1"
    assert row.owner == Owner("train_dag", "deploy", "scheduled__2026-12-01")
    assert (row.created_at, row.age_seconds) == ("2026-12-01T11:00:00Z", 3600)
    assert row.objects == ("Service/llm", "Deployment/llm", "ScaledObject/llm")
    assert row.finished_phase is None and row.expires_at is None


def test_a_fixed_workload_counts_gpus_of_every_desired_replica() -> None:
    (row,) = build_rows(manifests(compute={"gpus": 2}, replicas={"min": 3, "max": 3}), "c", NOW)
    assert (row.gpus_per_replica, row.desired_replicas, row.gpus_total) == (2, 3, 6)
    assert row.autoscaling == "fixed 3"
    assert (row.phase, row.reason) == ("Pending", "RolloutInProgress")  # no pods yet


def test_a_finished_mark_wins_over_the_verdict_and_counts_down_its_ttl() -> None:
    objects = manifests(auto_delete_after=3600)
    marked = mark_annotations("Failed", NOW - timedelta(minutes=10), "smoke test failed")
    for obj in objects:
        obj["metadata"]["annotations"].update(marked)
    (row,) = build_rows(objects, "c", NOW)
    assert (row.phase, row.reason, row.finished_phase) == ("Failed", "smoke test failed", "Failed")
    assert row.expires_at == "2026-12-01T12:50:00Z" and row.expires_in_seconds == 3000


def test_leftovers_of_a_deleted_deployment_still_show() -> None:
    service = next(obj for obj in manifests() if obj["kind"] == "Service")
    (row,) = build_rows([service], "c", NOW)
    assert (row.phase, row.reason, row.gpus_total) == ("Not found", "NotFound", 0)
    assert row.objects == ("Service/llm",) and row.owner is not None


def test_foreign_objects_and_other_workloads_are_kept_apart() -> None:
    foreign = copy.deepcopy(manifests("llm")[1])
    foreign["metadata"]["labels"] = {"app": "someone-else", "hfinfer.io/workload": "llm"}
    foreign["metadata"]["name"] = "llm-copy"
    rows = build_rows([*manifests("llm"), *manifests("llm-b"), foreign], "c", NOW)
    assert [(row.name, row.objects) for row in rows] == [
        ("llm", ("Service/llm", "Deployment/llm")),
        ("llm-b", ("Service/llm-b", "Deployment/llm-b")),
    ]


@given(
    workloads=st.sets(st.from_regex(r"[a-c](-[a-c]){0,2}", fullmatch=True), min_size=1),
    involved=st.lists(st.from_regex(r"[a-c](-[a-c0-9]){0,4}", fullmatch=True), max_size=12),
)
def test_events_join_exactly_the_workloads_the_snapshot_rule_names(
    workloads: set[str], involved: list[str]
) -> None:
    objects: list[dict[str, Any]] = []
    for name in workloads:
        labels = {**MANAGED, "hfinfer.io/workload": name}
        meta = {"name": name, "namespace": "ns", "labels": labels}
        objects.append({"kind": "Service", "metadata": meta})
    events = [event(name) for name in involved]
    groups = {group.name: group for group in group_objects([*objects, *events])}
    for name in workloads:
        expected = [e for e in events if about_workload(e, name)]
        assert groups[name].events == expected


def test_events_of_another_namespace_do_not_join() -> None:
    other = event("llm-abc")
    other["metadata"]["namespace"] = "elsewhere"
    (group,) = group_objects([*manifests(), event("llm-abc"), other])
    assert [e["metadata"]["namespace"] for e in group.events] == ["ns"]


@pytest.mark.parametrize(
    ("raw", "owner"),
    [
        ("d/t/r", Owner("d", "t", "r")),
        (
            "d/t/manual__2026-12-01T10:00:00+00:00",
            Owner("d", "t", "manual__2026-12-01T10:00:00+00:00"),
        ),
        ("d/t", None),
        ("d//r", None),
        ("", None),
        (None, None),
    ],
)
def test_the_owner_annotation_is_read_back_or_left_unknown(
    raw: str | None, owner: Owner | None
) -> None:
    assert parse_owner(raw) == owner


@pytest.mark.parametrize(
    "secret",
    [
        "hf_AbCdEfGhIjKlMnOpQrStUv",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "sk-abcdefghijklmnopqrstuvwxyz123456",
    ],
)
def test_log_tails_lose_every_token(secret: str) -> None:
    tail = scrub_log(
        f"loading\nHF_TOKEN={secret}\nAuthorization: Bearer {secret}\nused {secret}\nValueError: x"
    )
    assert tail is not None and secret not in tail
    assert "HF_TOKEN=<redacted>" in tail and "Bearer <redacted>" in tail
    assert tail.startswith("loading\n") and tail.endswith("ValueError: x")


def test_a_shown_object_has_no_secret_values_nor_server_bookkeeping() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "llm-hf-token",
            "managedFields": [{"manager": "x"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data": 1}'},
        },
        "data": {"HF_TOKEN": "aGZfc2VjcmV0"},
        "stringData": {"HF_TOKEN": "hf_secret"},
    }
    shown = shown_object(secret)
    assert shown["data"] == {"HF_TOKEN": "<redacted>"} == shown["stringData"]
    assert "managedFields" not in shown["metadata"]
    notes = shown["metadata"]["annotations"]
    assert notes["kubectl.kubernetes.io/last-applied-configuration"] == "<redacted>"
    assert secret["data"]["HF_TOKEN"] == "aGZfc2VjcmV0"  # the input is not changed


def test_recent_events_are_newest_first_and_bounded() -> None:
    events = [event(f"llm-{i}", at=f"2026-12-01T11:{i:02d}:00Z") for i in range(40)]
    shown = recent_events(events, limit=5)
    assert [e["object"] for e in shown] == [f"Pod/llm-{i}" for i in (39, 38, 37, 36, 35)]


@pytest.mark.parametrize(
    ("extras", "namespaces"),
    [
        ({"hfinfer_workloads_namespaces": "a, b,a"}, ("a", "b")),
        ({"hfinfer_workloads_namespaces": ["x"], "namespace": "y"}, ("x",)),
        ({"namespace": "team"}, ("team",)),
        ({}, ("default",)),
    ],
)
def test_a_connection_covers_its_listed_namespaces(
    extras: dict[str, Any], namespaces: tuple[str, ...]
) -> None:
    assert namespaces_of(extras) == namespaces
