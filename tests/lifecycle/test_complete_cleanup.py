"""Completion marks, auto-deletion (TTL) and the cleanup operator, through dag.test()."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output
from lifecycle_support import NS, xcom_values

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.kube.resources import WORKLOAD_KINDS
from airflow_provider_hfinfer.operators import (
    HFInferenceCleanupOperator,
    HFInferenceCompleteOperator,
    HFInferenceCreateOperator,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
KINDS = {
    "Secret": ("v1", "secrets"),
    "Service": ("v1", "services"),
    "Deployment": ("apps/v1", "deployments"),
    "ScaledObject": ("keda.sh/v1alpha1", "scaledobjects"),
}


@pytest.fixture(autouse=True)
def _token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_HF_CLEANUP_TOKEN", "hf_CleanupSecretToken1")


def workload(ttl: str | int | None, name: str = "scorer") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"},
        # A literal token is refused in DAG code; the DAG templates it from a Variable.
        "hf_access": {"type": "token", "token": "{{ var.value.hf_cleanup_token }}"},
        "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
        "replicas": {"min": 1, "max": 2},
        "autoscaling": {"metric": "concurrency", "threshold": 4},
    }
    if ttl is not None:
        spec["auto_delete_after"] = ttl
    return spec


def create_op(conn_id: str, ttl: str | int | None, **kwargs: Any) -> HFInferenceCreateOperator:
    return HFInferenceCreateOperator(
        task_id="deploy",
        workload=workload(ttl),
        namespace=NS,
        kubernetes_conn_id=conn_id,
        preflight="off",
        **kwargs,
    )


def complete_op(conn_id: str, at: datetime) -> HFInferenceCompleteOperator:
    return HFInferenceCompleteOperator(
        task_id="complete",
        name="scorer",
        namespace=NS,
        kubernetes_conn_id=conn_id,
        clock=lambda: at,
    )


def cleanup_op(conn_id: str, at: datetime, **kwargs: Any) -> HFInferenceCleanupOperator:
    return HFInferenceCleanupOperator(
        task_id="cleanup", kubernetes_conn_id=conn_id, clock=lambda: at, **kwargs
    )


def objects_of(cluster: Any, name: str, namespace: str = NS) -> dict[str, dict[str, Any]]:
    found = {}
    for kind, (version, plural) in KINDS.items():
        for obj in cluster.list_objects(version, plural, namespace):
            if obj["metadata"].get("labels", {}).get("hfinfer.io/workload") == name:
                found[f"{kind}/{obj['metadata']['name']}"] = obj
    return found


def test_complete_marks_every_object_with_phase_and_time(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(fake_kube_conn_id, "10m")).state == "success"
    run = run_task(lambda: complete_op(fake_kube_conn_id, T0))
    assert run.state == "success"
    objects = objects_of(cluster, "scorer")
    assert set(objects) == {
        "Secret/scorer-hf-token",
        "Service/scorer",
        "Deployment/scorer",
        "ScaledObject/scorer",
    }
    for obj in objects.values():
        annotations = obj["metadata"]["annotations"]
        assert annotations["hfinfer.io/phase"] == "Completed"
        assert annotations["hfinfer.io/finished-at"] == "2026-11-27T08:00:00Z"
        assert annotations["hfinfer.io/auto-delete-after"] == "600"
    [result] = xcom_values(run, "complete")
    assert result["expires_at"] == "2026-11-27T08:10:00Z" and result["deleted"] == []


def test_ttl_zero_deletes_at_completion(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(fake_kube_conn_id, 0)).state == "success"
    run = run_task(lambda: complete_op(fake_kube_conn_id, T0))
    assert run.state == "success"
    assert objects_of(cluster, "scorer") == {}
    [result] = xcom_values(run, "complete")
    assert result["deleted"] == [
        "ScaledObject/scorer",
        "Deployment/scorer",
        "Service/scorer",
        "Secret/scorer-hf-token",
    ]


def test_ttl_ten_minutes_keeps_before_and_deletes_after(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(fake_kube_conn_id, "10m")).state == "success"
    assert run_task(lambda: complete_op(fake_kube_conn_id, T0)).state == "success"

    early = run_task(lambda: cleanup_op(fake_kube_conn_id, T0 + timedelta(minutes=9, seconds=59)))
    assert early.state == "success" and xcom_values(early, "cleanup") == [[]]
    assert len(objects_of(cluster, "scorer")) == 4

    dry = run_task(lambda: cleanup_op(fake_kube_conn_id, T0 + timedelta(minutes=11), dry_run=True))
    assert xcom_values(dry, "cleanup") == [[f"{NS}/scorer"]]
    assert len(objects_of(cluster, "scorer")) == 4

    late = run_task(lambda: cleanup_op(fake_kube_conn_id, T0 + timedelta(minutes=11)))
    assert late.state == "success" and xcom_values(late, "cleanup") == [[f"{NS}/scorer"]]
    assert objects_of(cluster, "scorer") == {}


def _managed(kind: str, name: str, namespace: str, annotations: dict[str, str]) -> dict[str, Any]:
    version, _ = KINDS[kind]
    obj: dict[str, Any] = {
        "apiVersion": version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "airflow-provider-hfinfer",
                "hfinfer.io/workload": name,
            },
            "annotations": annotations,
        },
    }
    if kind == "Service":
        obj["spec"] = {"ports": [{"port": 80}]}
    return obj


def _seed(cluster: Any, count: int) -> tuple[set[str], set[str]]:
    """Seed ``count`` workloads (Deployment + Service) over two namespaces.

    Every third is expired, every third finished recently (not expired), every
    third unmarked; plus foreign look-alikes. Returns (expired, kept) refs.
    """
    expired, kept = set(), set()
    for index in range(count):
        namespace = ("team-a", "team-b")[index % 2]
        name = f"w{index:04d}"
        annotations = {"hfinfer.io/auto-delete-after": "600"}
        if index % 3 == 0:
            annotations |= {
                "hfinfer.io/phase": "Completed",
                "hfinfer.io/finished-at": "2026-11-27T07:00:00Z",
            }
            expired.add(f"{namespace}/{name}")
        elif index % 3 == 1:
            annotations |= {
                "hfinfer.io/phase": "Failed",
                "hfinfer.io/finished-at": "2026-11-27T07:55:00Z",
            }
            kept.add(f"{namespace}/{name}")
        else:
            kept.add(f"{namespace}/{name}")
        for kind in ("Deployment", "Service"):
            cluster.put_object(_managed(kind, name, namespace, annotations))
    # Foreign objects: same names and expired-looking annotations, but not ours.
    for name in ("w0000", "w0003-other", "w0000x"):
        for kind in ("Deployment", "Service"):
            obj = _managed(
                kind,
                name,
                "team-a",
                {
                    "hfinfer.io/phase": "Completed",
                    "hfinfer.io/finished-at": "2026-11-27T07:00:00Z",
                    "hfinfer.io/auto-delete-after": "0",
                },
            )
            obj["metadata"]["labels"] = {"app": "someone-else", "hfinfer.io/workload": name}
            if name == "w0000":
                obj["metadata"]["name"] = "w0000-foreign"
            cluster.put_object(obj)
    return expired, kept


def test_cleanup_of_a_thousand_workloads_lists_once_per_kind(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    cluster.create_namespace("team-b")
    expired, kept = _seed(cluster, 1000)
    foreign_before = {
        obj["metadata"]["name"]
        for obj in cluster.list_objects("apps/v1", "deployments", "team-a")
        if obj["metadata"]["labels"].get("app") == "someone-else"
    }
    cluster.requests.clear()
    started = time.monotonic()
    run = run_task(lambda: cleanup_op(fake_kube_conn_id, T0))
    elapsed = time.monotonic() - started
    assert run.state == "success"
    lists = cluster.requests.filter(verb="list")
    assert len(lists) == len(WORKLOAD_KINDS)  # cluster-wide: one list per kind, no GETs
    assert all(
        r.query.get("labelSelector") == "app.kubernetes.io/managed-by=airflow-provider-hfinfer"
        for r in lists
    )
    assert cluster.requests.count(verb="get") == 0
    [deleted] = xcom_values(run, "cleanup")
    assert set(deleted) == expired and len(expired) == 334
    assert cluster.requests.count(verb="delete") == 2 * len(expired)
    left = {
        f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        for obj in cluster.list_objects("apps/v1", "deployments")
        if obj["metadata"]["labels"].get("app") != "someone-else"
    }
    assert left == kept
    foreign_after = {
        obj["metadata"]["name"]
        for obj in cluster.list_objects("apps/v1", "deployments", "team-a")
        if obj["metadata"]["labels"].get("app") == "someone-else"
    }
    assert foreign_after == foreign_before == {"w0000-foreign", "w0003-other", "w0000x"}
    assert elapsed < 30


def test_cleanup_given_namespaces_lists_only_those(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    cluster.create_namespace("team-b")
    expired, _ = _seed(cluster, 30)
    cluster.requests.clear()
    run = run_task(lambda: cleanup_op(fake_kube_conn_id, T0, namespaces=["team-b"]))
    assert run.state == "success"
    lists = cluster.requests.filter(verb="list")
    assert len(lists) == len(WORKLOAD_KINDS)
    assert all("/namespaces/team-b/" in r.path for r in lists)
    [deleted] = xcom_values(run, "cleanup")
    assert set(deleted) == {ref for ref in expired if ref.startswith("team-b/")}


def test_terminal_readiness_failure_marks_the_workload_failed(
    cluster: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubelet.start("crash")
    run = run_task(
        lambda: create_op(fake_kube_conn_id, "30m", wait_for_ready=True, poll_interval=0.05)
    )
    assert run.state == "failed"
    annotations = objects_of(cluster, "scorer")["Deployment/scorer"]["metadata"]["annotations"]
    assert annotations["hfinfer.io/phase"] == "Failed"
    assert annotations["hfinfer.io/finish-reason"].startswith("CrashLoopBackOff")
    finished = datetime.fromisoformat(annotations["hfinfer.io/finished-at"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - finished).total_seconds()) < 60
    assert "marked Failed" in task_output(capsys, caplog)


def test_failed_task_with_on_failure_delete_removes_the_workload(
    cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    kubelet.start("loading")  # never ready: the task times out, a non-terminal failure
    run = run_task(
        lambda: create_op(
            fake_kube_conn_id,
            "30m",
            wait_for_ready=True,
            timeout=0.5,
            poll_interval=0.05,
            on_failure="delete",
        )
    )
    assert run.state == "failed"
    assert objects_of(cluster, "scorer") == {}


def test_failed_task_marks_failed_through_the_failure_callback(
    cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    kubelet.start("loading")
    run = run_task(
        lambda: create_op(
            fake_kube_conn_id, "30m", wait_for_ready=True, timeout=0.5, poll_interval=0.05
        )
    )
    assert run.state == "failed"
    annotations = objects_of(cluster, "scorer")["Service/scorer"]["metadata"]["annotations"]
    assert annotations["hfinfer.io/phase"] == "Failed"
    assert annotations["hfinfer.io/finish-reason"] == "task failed: Timeout"


def test_killed_task_marks_what_it_applied(cluster: Any, fake_kube_conn_id: str) -> None:
    operator = create_op(fake_kube_conn_id, "30m").prepare_for_execution()
    cluster.put_object(_managed("Deployment", "scorer", NS, {"hfinfer.io/auto-delete-after": "0"}))
    operator.applied = AppliedWorkload("scorer", NS, ("Deployment/scorer",))
    operator.on_kill()
    assert objects_of(cluster, "scorer") == {}  # TTL 0: marked Failed, then deleted at once


def test_name_taken_failure_touches_nothing(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "scorer", "namespace": NS, "labels": {"app": "other"}},
        "spec": {"ports": [{"port": 1234}]},
    }
    cluster.put_object(foreign)
    run = run_task(lambda: create_op(fake_kube_conn_id, 0))
    assert run.state == "failed"
    assert cluster.get_object("v1", "services", NS, "scorer")["metadata"]["labels"] == {
        "app": "other"
    }
    assert cluster.requests.writes == 0


def test_failure_never_marks_a_workload_another_task_deployed(
    cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(fake_kube_conn_id, "30m")).state == "success"
    kubelet.start("crash")
    run = run_task(
        lambda: create_op(
            fake_kube_conn_id,
            "30m",
            if_exists="update",
            wait_for_ready=True,
            poll_interval=0.05,
        )
    )
    assert run.state == "failed"
    for obj in objects_of(cluster, "scorer").values():
        assert "hfinfer.io/phase" not in obj["metadata"]["annotations"]


def test_complete_with_the_deploy_xcom_marks_only_that_tasks_objects(
    cluster: Any, fake_kube_conn_id: str
) -> None:
    from airflow_provider_hfinfer.operators import HFInferenceCompleteOperator
    from airflow_provider_hfinfer.render import render_manifests
    from airflow_provider_hfinfer.spec import InferenceWorkload

    workload = InferenceWorkload.model_validate({"name": "shared", "model": "org/model"})
    for manifest in render_manifests(workload, namespace=NS):
        manifest["metadata"]["annotations"]["hfinfer.io/owner"] = "other_dag/deploy/run_1"
        cluster.put_object(manifest)

    def complete(xcom: Any) -> dict[str, Any]:
        return HFInferenceCompleteOperator(
            task_id="complete", workload_xcom=xcom, kubernetes_conn_id=fake_kube_conn_id
        ).execute({})

    mine = {"name": "shared", "namespace": NS, "owner": "my_dag/deploy/run_9"}
    assert complete(mine)["marked"] == []
    assert complete("None")["marked"] == []  # the deploy task returned nothing
    theirs = {**mine, "owner": "other_dag/deploy/run_1"}
    assert len(complete(theirs)["marked"]) == 2  # Service and Deployment
