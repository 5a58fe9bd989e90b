"""The delete operator through dag.test(): waiting for pods, its timeout, and namesakes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output

from airflow_provider_hfinfer.operators import HFInferenceDeleteOperator

NS = "team-a"
OURS = {
    "hfinfer.io/workload": "llama",
    "app.kubernetes.io/managed-by": "airflow-provider-hfinfer",
}


def deployment(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llama", "namespace": NS, "labels": labels},
        "spec": {"selector": {"matchLabels": {"app": "llama"}}},
    }


def service(labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "llama", "namespace": NS, "labels": labels},
        "spec": {"ports": [{"port": 80}]},
    }


def pod(name: str, labels: dict[str, str], owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.4"}]},
        "status": {"phase": "Running"},
    }


def delete_op(conn_id: str, **kwargs: Any) -> HFInferenceDeleteOperator:
    params: dict[str, Any] = {
        "task_id": "delete",
        "name": "llama",
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "retries": 0,
    }
    params.update(kwargs)
    return HFInferenceDeleteOperator(**params)


def pod_names(cluster: Any) -> set[str]:
    return {item["metadata"]["name"] for item in cluster.list_objects("v1", "pods", NS)}


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    fake_kube.create_namespace(NS)
    return fake_kube


def test_wait_for_pods_returns_once_the_cascade_removed_them(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    owner = cluster.put_object(deployment(OURS))
    cluster.put_object(pod("llama-7d9f-a", OURS, owner))
    cluster.put_object(pod("llama-7d9f-b", OURS, owner))
    cluster.put_object(pod("llama-lookalike", {"app": "llama"}))  # not ours: never waited for

    run = run_task(
        lambda: delete_op(fake_kube_conn_id, wait_for_pods=True, timeout=5, poll_interval=0.05)
    )

    assert run.state == "success"
    assert pod_names(cluster) == {"llama-lookalike"}
    assert cluster.get_object("apps/v1", "deployments", NS, "llama") is None


def test_wait_for_pods_polls_until_terminating_pods_are_gone(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    cluster.put_object(deployment(OURS))
    # No owner: the pods go only when "the kubelet" below finishes terminating them.
    cluster.put_object(pod("llama-slow-a", OURS))
    cluster.put_object(pod("llama-slow-b", OURS))
    deleted = threading.Event()

    def kubelet() -> None:
        while not cluster.requests.count(method="DELETE", path_regex="/deployments/llama$"):
            time.sleep(0.01)
        time.sleep(0.3)
        for name in ("llama-slow-a", "llama-slow-b"):
            cluster.delete_object("v1", "pods", NS, name)
        deleted.set()

    thread = threading.Thread(target=kubelet, daemon=True)
    thread.start()
    try:
        run = run_task(lambda: delete_op(fake_kube_conn_id, wait_for_pods=True, poll_interval=0.05))
    finally:
        thread.join(5)

    assert run.state == "success"
    assert deleted.is_set() and pod_names(cluster) == set()
    pod_lists = cluster.requests.count(method="GET", path_regex=f"^/api/v1/namespaces/{NS}/pods$")
    assert pod_lists >= 3  # it kept looking while the pods terminated


def test_pods_that_outlive_the_timeout_fail_the_task_with_a_count(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster.put_object(deployment(OURS))
    cluster.put_object(pod("llama-stuck", OURS))  # e.g. a finalizer that never clears

    run = run_task(
        lambda: delete_op(fake_kube_conn_id, wait_for_pods=True, timeout=1, poll_interval=0.1)
    )

    assert run.state == "failed"
    assert "1 pod(s) still terminating after 1s" in task_output(capsys, caplog)
    # The objects were deleted before the wait; only the stuck pod is left.
    assert cluster.get_object("apps/v1", "deployments", NS, "llama") is None
    assert pod_names(cluster) == {"llama-stuck"}


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {"app": "llama"},
        {"hfinfer.io/workload": "llama"},  # our workload label, but not managed by us
        {"app.kubernetes.io/managed-by": "airflow-provider-hfinfer", "hfinfer.io/workload": "x"},
    ],
    ids=["no-labels", "other-app", "workload-label-only", "ours-but-another-workload"],
)
def test_namesakes_without_the_providers_labels_are_left_untouched(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    labels: dict[str, str],
) -> None:
    foreign_service = cluster.put_object(service(labels))
    ours = cluster.put_object(deployment(OURS))

    run = run_task(lambda: delete_op(fake_kube_conn_id))

    assert run.state == "success"
    assert "deleted Deployment/llama" in task_output(capsys, caplog)
    kept = cluster.get_object("v1", "services", NS, "llama")
    assert kept is not None and kept["metadata"]["uid"] == foreign_service["metadata"]["uid"]
    assert kept["metadata"].get("labels", {}) == labels
    assert cluster.get_object("apps/v1", "deployments", NS, ours["metadata"]["name"]) is None
    deletes = cluster.requests.filter(method="DELETE")
    assert [record.path for record in deletes] == [
        f"/apis/apps/v1/namespaces/{NS}/deployments/llama"
    ]


def test_a_namespace_of_only_namesakes_reports_the_workload_gone(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster.put_object(service({"app": "llama"}))
    cluster.put_object(deployment({"app": "llama"}))

    run = run_task(lambda: delete_op(fake_kube_conn_id, wait_for_pods=True, poll_interval=0.05))

    assert run.state == "success"
    assert "workload team-a/llama is already gone" in task_output(capsys, caplog)
    assert cluster.requests.count(is_write=True) == 0
    assert cluster.get_object("apps/v1", "deployments", NS, "llama") is not None
