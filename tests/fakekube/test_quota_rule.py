"""The fake cluster refuses pods as ResourceQuota admission does."""

from __future__ import annotations

from typing import Any

from .kubelet import FakeKubelet, sample_deployment
from .quota import refusal
from .server import FakeKubeServer

NS = "ml"


def _quota(hard: dict[str, str], name: str = "project-quota") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"hard": hard},
    }


def _spec(**resources: dict[str, str]) -> dict[str, Any]:
    return {"containers": [{"name": "vllm", "image": "vllm", "resources": resources}]}


def test_a_quota_on_cpu_makes_every_container_declare_it() -> None:
    quota = _quota({"requests.cpu": "8", "limits.memory": "64Gi", "requests.nvidia.com/gpu": "4"})
    message = refusal(_spec(limits={"nvidia.com/gpu": "1"}), [quota])
    assert message == (
        "failed quota: project-quota: must specify limits.memory for: vllm; requests.cpu for: vllm"
    )
    # A limit defaults the request, as the API server's defaulting does.
    admitted = _spec(limits={"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"})
    assert refusal(admitted, [quota]) is None


def test_limit_range_defaults_count_as_declared() -> None:
    limit_range = {
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "1"}}]},
    }
    assert refusal(_spec(), [_quota({"requests.cpu": "8"})], [limit_range]) is None


def test_usage_beyond_the_hard_limit_is_exceeded_quota() -> None:
    quota = _quota({"requests.nvidia.com/gpu": "2"})
    one = _spec(requests={"nvidia.com/gpu": "1"}, limits={"nvidia.com/gpu": "1"})
    assert refusal(one, [quota], live_pod_specs=[one]) is None
    assert refusal(one, [quota], live_pod_specs=[one, one]) == (
        "exceeded quota: project-quota, requested: requests.nvidia.com/gpu=1, "
        "used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2"
    )


def test_the_replica_set_is_refused_with_failed_create(fake_kube: FakeKubeServer) -> None:
    fake_kube.create_namespace(NS)
    fake_kube.put_object(_quota({"requests.cpu": "8"}))
    fake_kube.put_object(sample_deployment("llama", NS))

    FakeKubelet(fake_kube, NS).rollout("llama")

    (rs,) = fake_kube.list_objects("apps/v1", "replicasets", NS)
    (failure,) = rs["status"]["conditions"]
    assert (failure["type"], failure["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert (
        "is forbidden: failed quota: project-quota: must specify requests.cpu"
        in (failure["message"])
    )
    assert fake_kube.list_objects("v1", "pods", NS) == []
    (event,) = [e for e in fake_kube.list_objects("v1", "events", NS)]
    assert event["reason"] == "FailedCreate"


def test_a_backdated_rollout_stamps_its_events_in_the_past(fake_kube: FakeKubeServer) -> None:
    from datetime import datetime, timedelta, timezone

    fake_kube.create_namespace(NS)
    fake_kube.put_object(sample_deployment("llama", NS))
    FakeKubelet(fake_kube, NS).rollout("llama", outcome="image_pull", ago=300)

    stamps = [e["firstTimestamp"] for e in fake_kube.list_objects("v1", "events", NS)]
    assert stamps
    for stamp in stamps:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert datetime.now(timezone.utc) - when > timedelta(seconds=290)
