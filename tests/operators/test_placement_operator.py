"""Strict node-pool order through dag.test(): nodes and pods seeded in the fake cluster."""

from __future__ import annotations

from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

NS = "team-a"
KEY = "run.ai/node-pool"
GPU = "nvidia.com/gpu"

WORKLOAD: dict[str, Any] = {
    "name": "llama",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "compute": {"gpus": 2, "cpu": "8", "memory": "64Gi"},
    "replicas": {"min": 2, "max": 2},
    "node_pools": ["a100-pool", "h100-pool"],
}


def seed_node(cluster: Any, name: str, pool: str, gpus: int) -> None:
    allocatable = {GPU: str(gpus), "cpu": "64", "memory": "512Gi", "pods": "110"}
    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {KEY: pool}},
            "spec": {},
            "status": {"allocatable": allocatable, "capacity": allocatable},
        }
    )


def seed_pod(cluster: Any, name: str, node: str, gpus: int, phase: str = "Running") -> None:
    cluster.create_namespace("other-team")
    cluster.put_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "other-team"},
            "spec": {
                "nodeName": node,
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {GPU: str(gpus)}}}
                ],
            },
            "status": {"phase": phase},
        }
    )


def create_op(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": WORKLOAD,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "preflight": "off",
        "strict_node_pool_order": True,
        "retries": 0,
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def pod_affinity(cluster: Any) -> dict[str, Any]:
    deployment = cluster.get_object("apps/v1", "deployments", NS, "llama")
    affinity: dict[str, Any] = deployment["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    return affinity


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    fake_kube.create_namespace(NS)
    # a100-pool: a1 has 3 free GPUs after a 5-GPU pod (1 replica), a2 only 1 (none).
    seed_node(fake_kube, "a1", "a100-pool", 8)
    seed_node(fake_kube, "a2", "a100-pool", 8)
    seed_pod(fake_kube, "train-1", "a1", 5)
    seed_pod(fake_kube, "train-2", "a2", 7)
    # A finished pod holds nothing: a3 would be free, but it belongs to no listed pool.
    seed_node(fake_kube, "a3", "spare-pool", 8)
    seed_node(fake_kube, "h1", "h100-pool", 8)
    seed_pod(fake_kube, "done", "h1", 8, phase="Succeeded")
    return fake_kube


def test_pins_the_first_pool_with_room_and_logs_why_earlier_ones_were_skipped(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(fake_kube_conn_id))

    output = task_output(capsys, caplog)
    assert run.state == "success", output[-3000:]
    affinity = pod_affinity(cluster)
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {"matchExpressions": [{"key": KEY, "operator": "In", "values": ["h100-pool"]}]}
    ]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in affinity
    assert (
        "skipped a100-pool: room for 1 replica, 2 needed (node a1: room for 1; node a2: 1 free "
        "nvidia.com/gpu, needs 2)"
    ) in output
    assert "pinned to h100-pool: room for 2 replicas, 2 needed" in output
    # One cluster-wide list of the pools' nodes and one of the non-terminated pods.
    nodes = cluster.requests.filter(method="GET", path_regex=r"^/api/v1/nodes$")
    pods = cluster.requests.filter(method="GET", path_regex=r"^/api/v1/pods$")
    assert [r.query.get("labelSelector") for r in nodes] == [f"{KEY} in (a100-pool,h100-pool)"]
    assert [r.query.get("fieldSelector") for r in pods] == [
        "status.phase!=Succeeded,status.phase!=Failed"
    ]


def test_when_no_pool_has_room_the_preferred_order_is_kept(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_pod(cluster, "inference-x", "h1", 7)

    run = run_task(lambda: create_op(fake_kube_conn_id))

    output = task_output(capsys, caplog)
    assert run.state == "success", output[-3000:]
    affinity = pod_affinity(cluster)
    weights = [
        term["weight"] for term in affinity["preferredDuringSchedulingIgnoredDuringExecution"]
    ]
    assert weights == [100, 1]
    required = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required[0]["matchExpressions"][0]["values"] == ["a100-pool", "h100-pool"]
    assert "no listed pool has room for 2 replica(s) now" in output
    assert (
        "h100-pool: room for 0 replicas, 2 needed (node h1: 1 free nvidia.com/gpu, needs 2)"
        in output
    )
    assert "keeping the preferred-order affinity" in output


def test_without_permission_to_list_nodes_strict_mode_is_skipped(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster.deny("list", "nodes")

    run = run_task(lambda: create_op(fake_kube_conn_id))

    output = task_output(capsys, caplog)
    assert run.state == "success", output[-3000:]
    assert "strict node-pool order unavailable" in output
    assert "may not list nodes cluster-wide" in output
    affinity = pod_affinity(cluster)
    assert len(affinity["preferredDuringSchedulingIgnoredDuringExecution"]) == 2


def test_off_by_default_makes_no_capacity_reads(
    cluster: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: create_op(fake_kube_conn_id, strict_node_pool_order=False))

    assert run.state == "success"
    assert cluster.requests.count(path_regex=r"^/api/v1/(nodes|pods)$") == 0
    assert len(pod_affinity(cluster)["preferredDuringSchedulingIgnoredDuringExecution"]) == 2


def test_an_update_pins_the_pool_as_create_does_and_its_dry_run_said(
    cluster: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator

    # First deployed with the preferred order only, then updated with strict order on.
    run = run_task(lambda: create_op(fake_kube_conn_id, strict_node_pool_order=False))
    assert run.state == "success"
    task_output(capsys, caplog)

    def update_op(**kwargs: Any) -> HFInferenceUpdateOperator:
        params: dict[str, Any] = {
            "task_id": "roll",
            "workload": {**WORKLOAD, "labels": {"team": "search"}},
            "namespace": NS,
            "kubernetes_conn_id": fake_kube_conn_id,
            "preflight": "off",
            "strict_node_pool_order": True,
            "wait_for_ready": False,
            "retries": 0,
        }
        params.update(kwargs)
        return HFInferenceUpdateOperator(**params)

    assert run_task(lambda: update_op(dry_run=True)).state == "success"
    dry = task_output(capsys, caplog)
    assert "pinned to h100-pool" in dry
    run = run_task(update_op)
    output = task_output(capsys, caplog)
    assert run.state == "success", output[-3000:]
    assert "pinned to h100-pool: room for 2 replicas, 2 needed" in output
    terms = pod_affinity(cluster)["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": KEY, "operator": "In", "values": ["h100-pool"]}]}
    ]
