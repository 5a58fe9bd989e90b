"""The fake kubelet produces cluster states the readiness model reads as a real cluster's."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.status import Phase, WorkloadStatus, assess

from .kubelet import CRASH_LOG, HASH_LABEL, REVISION, FakeKubelet, sample_deployment
from .server import FakeKubeServer

NS = "ml"


@pytest.fixture
def kubelet(fake_kube: FakeKubeServer) -> FakeKubelet:
    fake_kube.create_namespace(NS)
    return FakeKubelet(fake_kube, NS)


def _deploy(fake: FakeKubeServer, name: str = "llama", **kwargs: Any) -> dict[str, Any]:
    return fake.put_object(sample_deployment(name, NS, **kwargs))


def _assess(kubelet: FakeKubelet, name: str = "llama", later: float = 1.0) -> WorkloadStatus:
    moment = datetime.now(timezone.utc) + timedelta(seconds=later)
    return assess(**kubelet.snapshot(name), now=moment, grace_period_seconds=0)


def _wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_ready_rollout_builds_owned_replica_set_pods_and_status(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    _deploy(fake_kube, replicas=2)
    deployment = kubelet.rollout("llama")

    (rs,) = fake_kube.list_objects("apps/v1", "replicasets", NS)
    pods = fake_kube.list_objects("v1", "pods", NS)
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    assert rs["metadata"]["annotations"][REVISION] == "1"
    assert deployment["metadata"]["annotations"][REVISION] == "1"
    pod_hash = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"llama-{pod_hash}"
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["metadata"]["labels"]["hfinfer.io/workload"] == "llama"
        assert pod["metadata"]["labels"][HASH_LABEL] == pod_hash
    status = deployment["status"]
    assert status["observedGeneration"] == deployment["metadata"]["generation"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (2, 2, 2)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Available": "True",
        "Progressing": "True",
    }
    verdict = _assess(kubelet)
    assert verdict.phase is Phase.READY
    assert (verdict.ready_replicas, verdict.desired_replicas) == (2, 2)


@pytest.mark.parametrize(
    ("outcome", "reason", "terminal", "words"),
    [
        ("loading", "ModelLoading", False, "loading"),
        ("unschedulable", "Unschedulable", True, "Insufficient nvidia.com/gpu"),
        ("image_pull", "ImagePullBackOff", True, "Failed to pull image"),
        ("crash", "CrashLoopBackOff", True, "restarted 3 times"),
        ("oom", "OOMKilled", True, "OOMKilled"),
        ("quota", "QuotaExceeded", True, "exceeded quota: gpu-quota"),
        ("progress_deadline", "ProgressDeadlineExceeded", True, "progress deadline"),
    ],
)
def test_each_outcome_reads_as_its_reason(
    fake_kube: FakeKubeServer,
    kubelet: FakeKubelet,
    outcome: str,
    reason: str,
    terminal: bool,
    words: str,
) -> None:
    _deploy(fake_kube)
    kubelet.rollout("llama", outcome=outcome)
    verdict = _assess(kubelet)
    assert verdict.reason == reason, verdict.message
    assert verdict.terminal is terminal
    assert words in verdict.message
    assert verdict.phase is (Phase.FAILED if terminal else Phase.STARTING)


def test_crash_pod_has_a_log_the_api_serves(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    from kubernetes import client

    _deploy(fake_kube)
    kubelet.rollout("llama", outcome="crash")
    (pod,) = fake_kube.list_objects("v1", "pods", NS)
    api = fake_kube.api_client()
    try:
        text = client.CoreV1Api(api).read_namespaced_pod_log(
            pod["metadata"]["name"], NS, tail_lines=5, _preload_content=False
        )
        log = text.data.decode()
    finally:
        api.close()
    assert log == CRASH_LOG
    tails = {pod["metadata"]["name"]: log}
    verdict = assess(**kubelet.snapshot("llama"), now=datetime.now(timezone.utc), log_tails=tails)
    assert "--max-model-len" in verdict.message


def test_new_template_gets_next_revision_and_old_replica_set_scaled_to_zero(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    _deploy(fake_kube)
    kubelet.rollout("llama")
    _deploy(fake_kube, image="vllm/vllm-openai:v0.6.4-patched")
    deployment = kubelet.rollout("llama")

    sets = {
        rs["metadata"]["annotations"][REVISION]: rs
        for rs in fake_kube.list_objects("apps/v1", "replicasets", NS)
    }
    assert set(sets) == {"1", "2"}
    assert sets["1"]["spec"]["replicas"] == 0 and sets["1"]["status"]["replicas"] == 0
    (pod,) = fake_kube.list_objects("v1", "pods", NS)
    assert pod["metadata"]["ownerReferences"][0]["name"] == sets["2"]["metadata"]["name"]
    assert deployment["metadata"]["generation"] == 2
    assert deployment["metadata"]["annotations"][REVISION] == "2"
    verdict = _assess(kubelet)
    assert verdict.phase is Phase.READY
    assert (verdict.generation, verdict.observed_generation) == (2, 2)


def test_scale_to_zero_without_scaler_reads_as_scaled_down(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    _deploy(fake_kube)
    kubelet.rollout("llama")
    deployment = kubelet.scale_to_zero("llama")
    assert fake_kube.list_objects("v1", "pods", NS) == []
    assert "replicas" not in deployment["status"]
    verdict = _assess(kubelet)
    assert (verdict.reason, verdict.desired_replicas) == ("ScaledDown", 0)


def test_snapshot_through_the_hook_matches_labels(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet, fake_kube_conn_id: str
) -> None:
    _deploy(fake_kube)
    kubelet.rollout("llama", outcome="unschedulable")
    snapshot = HFInferenceHook(fake_kube_conn_id).workload_snapshot("llama", NS)
    assert len(snapshot["replica_sets"]) == 1 and len(snapshot["pods"]) == 1
    verdict = assess(**snapshot, now=datetime.now(timezone.utc), grace_period_seconds=3600)
    assert verdict.reason == "Unschedulable" and not verdict.terminal
    assert "0/4 nodes are available" in verdict.message


def test_automatic_mode_rolls_out_each_generation_by_policy(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    def policy(deployment: dict[str, Any]) -> str:
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return "crash" if image.endswith("broken") else "ready"

    with kubelet.start(policy, delay=0.05):
        _deploy(fake_kube)
        _wait_for(lambda: _assess(kubelet).phase is Phase.READY)
        _deploy(fake_kube, image="vllm/vllm-openai:broken")
        _wait_for(lambda: _assess(kubelet).reason == "CrashLoopBackOff")
        fake_kube.delete_object("apps/v1", "deployments", NS, "llama")
        _deploy(fake_kube)
        _wait_for(lambda: _assess(kubelet).phase is Phase.READY)
    assert [(name, outcome) for name, _, outcome in kubelet.rollouts] == [
        ("llama", "ready"),
        ("llama", "crash"),
        ("llama", "ready"),
    ]


def test_unknown_outcome_is_refused(fake_kube: FakeKubeServer, kubelet: FakeKubelet) -> None:
    _deploy(fake_kube)
    with pytest.raises(ValueError, match="unknown outcome 'melted'"):
        kubelet.rollout("llama", outcome="melted")


def test_keep_old_stalls_a_rolling_update_with_the_old_revision_serving(
    fake_kube: FakeKubeServer, kubelet: FakeKubelet
) -> None:
    _deploy(fake_kube)
    kubelet.rollout("llama")
    _deploy(fake_kube, image="vllm/vllm-openai:broken")
    kubelet.rollout("llama", outcome="crash", keep_old=True)
    verdict = _assess(kubelet)
    assert (verdict.phase, verdict.reason, verdict.terminal) == (
        Phase.DEGRADED,
        "CrashLoopBackOff",
        True,
    )
    assert "1 still serving" in verdict.message
    assert len(fake_kube.list_objects("v1", "pods", NS)) == 2
    _deploy(fake_kube)  # roll back to the first template: its ReplicaSet comes back
    deployment = kubelet.rollout("llama")
    assert deployment["metadata"]["annotations"][REVISION] == "3"
    assert _assess(kubelet).phase is Phase.READY
