"""InferenceReadyTrigger run directly with asyncio against the fake cluster and kubelet."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from typing import Any

import pytest
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet, sample_deployment

from airflow_provider_hfinfer.triggers import InferenceReadyTrigger, ReadinessEvent

NS = "ml"


def run_trigger(trigger: InferenceReadyTrigger) -> ReadinessEvent:
    """Run the trigger to its end; it must yield exactly one typed event."""

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    payload = events[0].payload
    json.dumps(payload)  # JSON primitives only
    return ReadinessEvent.from_payload(payload)


def trigger_for(conn_id: str, **kwargs: Any) -> InferenceReadyTrigger:
    params: dict[str, Any] = {"timeout": 10.0, "grace_period": 0.5, "resync_interval": 30.0}
    params.update(kwargs)
    return InferenceReadyTrigger("llama", NS, conn_id, **params)


def later(seconds: float, action: Any) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def drop_client_connections(fake: FakeKubeServer) -> int:
    """Cut every open connection from the server side, as a network failure would."""
    http = fake._http  # the fake exposes no public "cut the network" switch
    assert http is not None
    with http.connections_lock:
        sockets = list(http.connections)
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return len(sockets)


def wait_until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_serialize_round_trip_holds_json_primitives_and_no_credentials() -> None:
    trigger = InferenceReadyTrigger(
        "llama",
        NS,
        "gpu_cluster",
        cluster_context="prod",
        timeout=600,
        started_at=1_790_000_000.5,
        grace_period=120,
        min_ready_replicas=2,
        accept_scaled_to_zero=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_hfinfer.triggers.readiness.InferenceReadyTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert not {"kube_config", "token", "connection_extras", "config_dict"} & set(kwargs)
    again = InferenceReadyTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert again.deadline == 1_790_000_600.5


def test_reports_ready_once_the_rollout_completes(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS, replicas=2))
    kubelet.rollout("llama", outcome="loading")

    def ready_once_watching() -> None:
        # Ready only after 0.6 s *and* once all four watches are open, however slow
        # the trigger is to start, so the counts below are exact.
        time.sleep(0.6)
        wait_until(lambda: fake_kube.requests.count(verb="watch") >= 4, timeout=30)
        kubelet.rollout("llama")

    later(0.0, ready_once_watching)
    trigger = trigger_for(fake_kube_conn_id)
    event = run_trigger(trigger)
    assert (event.status, event.phase, event.reason) == ("ready", "Ready", "Available")
    assert (event.ready_replicas, event.desired_replicas) == (2, 2)
    assert 0.5 <= event.elapsed_seconds < 5
    # One list and one watch per kind: nothing was polled while the model loaded.
    assert trigger.stats.lists == 4 and trigger.stats.watches == 4


@pytest.mark.parametrize(
    ("outcome", "reason", "words"),
    [
        ("crash", "CrashLoopBackOff", "--max-model-len"),
        ("oom", "OOMKilled", "raise the memory limit"),
        ("unschedulable", "Unschedulable", "Insufficient nvidia.com/gpu"),
        ("image_pull", "ImagePullBackOff", "failed to pull and unpack image"),
        ("quota", "QuotaExceeded", "exceeded quota: gpu-quota"),
        ("progress_deadline", "ProgressDeadlineExceeded", "timed out progressing"),
    ],
)
def test_terminal_failures_end_the_wait_with_their_reason(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    outcome: str,
    reason: str,
    words: str,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome=outcome)
    started = time.monotonic()
    event = run_trigger(trigger_for(fake_kube_conn_id, grace_period=1.0))
    assert (event.status, event.reason, event.phase) == ("failed", reason, "Failed")
    assert words in event.message
    # Graceful failures wait out the grace period (plus clock granularity), no longer.
    assert time.monotonic() - started < 4.5


def test_waits_through_a_graceful_failure_that_heals(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="unschedulable")
    later(0.5, lambda: kubelet.rollout("llama"))
    event = run_trigger(trigger_for(fake_kube_conn_id, grace_period=30.0))
    assert event.status == "ready"


def test_deadline_reports_timeout_with_the_last_status(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    # 3 s leaves a loaded machine time to list and watch first: the last status is known.
    event = run_trigger(trigger_for(fake_kube_conn_id, timeout=3))
    assert (event.status, event.reason) == ("timeout", "ModelLoading")
    assert event.message.startswith("not ready after 3s: 0/1 ready")
    assert 3 <= event.elapsed_seconds < 10


def test_deadline_survives_a_triggerer_restart(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    _, kwargs = trigger_for(
        fake_kube_conn_id, timeout=60, started_at=time.time() - 59.5
    ).serialize()
    event = run_trigger(InferenceReadyTrigger(**kwargs))
    assert event.status == "timeout" and event.elapsed_seconds >= 59.5


def test_scaled_to_zero_counts_as_ready_only_when_accepted(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama")
    kubelet.scale_to_zero("llama")
    fake_kube.put_object(
        {
            "apiVersion": "http.keda.sh/v1alpha1",
            "kind": "HTTPScaledObject",
            "metadata": {"name": "llama", "namespace": NS},
            "spec": {"scaleTargetRef": {"name": "llama"}, "replicas": {"min": 0, "max": 2}},
        }
    )
    event = run_trigger(trigger_for(fake_kube_conn_id, accept_scaled_to_zero=True))
    assert (event.status, event.phase) == ("ready", "ScaledToZero")
    event = run_trigger(trigger_for(fake_kube_conn_id, timeout=0.5))
    assert (event.status, event.phase) == ("timeout", "ScaledToZero")


def test_resumes_after_410_gone_by_listing_again(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    trigger = trigger_for(fake_kube_conn_id)

    def expire_history() -> None:
        wait_until(lambda: trigger.stats is not None and trigger.stats.watches >= 4)
        # The pods watch comes back late; meanwhile the rollout happens and etcd
        # compacts, so its resourceVersion is gone when it resumes.
        fake_kube.faults.add("GET", r"/namespaces/ml/pods$", status=None, delay=0.5)
        drop_client_connections(fake_kube)
        kubelet.rollout("llama")
        fake_kube.compact()

    later(0.0, expire_history)
    event = run_trigger(trigger)
    assert event.status == "ready"
    assert trigger.stats.expired >= 1
    assert trigger.stats.lists >= 5  # the expired kind was listed again


def test_resumes_after_dropped_connections_with_backoff(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    trigger = trigger_for(fake_kube_conn_id)

    def cut_network() -> None:
        wait_until(lambda: trigger.stats is not None and trigger.stats.watches >= 4)
        fake_kube.faults.add("GET", r"/namespaces/ml/", drop_connection=True, times=6)
        drop_client_connections(fake_kube)
        # Every reconnect attempt fails until the injected drops are used up.
        wait_until(lambda: fake_kube.faults.pending() == 0)
        kubelet.rollout("llama")

    later(0.0, cut_network)
    event = run_trigger(trigger)
    assert event.status == "ready"
    # All six injected drops were hit, and the trigger saw the cuts (how many of the
    # attempts it counts itself varies: aiohttp retries some refused reconnects on a
    # fresh socket, and a stream between two watches is not cut at all).
    assert fake_kube.faults.pending() == 0
    assert trigger.stats.reconnects >= 1
    # Resumed from the last resourceVersion: nothing had to be listed again.
    assert trigger.stats.lists == 4


def test_forbidden_watch_fails_with_the_missing_permission(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    fake_kube.deny("watch", "pods", NS)
    event = run_trigger(trigger_for(fake_kube_conn_id))
    assert (event.status, event.reason) == ("failed", "Forbidden")
    assert "grant get/list/watch" in event.message


def test_cleanup_and_on_kill_leave_the_workload_alone(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama")
    fake_kube.requests.clear()
    trigger = trigger_for(fake_kube_conn_id)
    asyncio.run(trigger.cleanup())
    asyncio.run(trigger.on_kill())
    assert fake_kube.requests.count(is_write=True) == 0
    assert fake_kube.get_object("apps/v1", "deployments", NS, "llama") is not None


def test_triggers_in_one_loop_share_one_client_and_close_it(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    from airflow_provider_hfinfer.kube.shared import open_clients

    for name in ("llama", "mistral", "qwen"):
        fake_kube.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")
    triggers = [
        InferenceReadyTrigger(name, NS, fake_kube_conn_id, timeout=10)
        for name in ("llama", "mistral", "qwen")
    ]
    seen_open: list[int] = []

    async def all_three() -> list[Any]:
        waits = [asyncio.ensure_future(trigger.run().__anext__()) for trigger in triggers]
        while not all(t.stats is not None and t.stats.watches >= 4 for t in triggers):
            await asyncio.sleep(0.01)
        seen_open.append(open_clients())
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: [kubelet.rollout(name) for name in ("llama", "mistral", "qwen")]
        )
        return list(await asyncio.gather(*waits))

    events = asyncio.run(all_three())
    assert [event.payload["status"] for event in events] == ["ready"] * 3
    assert seen_open == [1]
    assert open_clients() == 0


def test_unknown_connection_fails_readably() -> None:
    event = run_trigger(InferenceReadyTrigger("llama", NS, "no_such_conn", timeout=5))
    assert (event.status, event.reason) == ("failed", "ConnectionFailed")
    assert "no_such_conn" in event.message
