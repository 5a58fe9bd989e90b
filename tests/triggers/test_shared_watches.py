"""Many InferenceReadyTriggers in one loop share the watches; each ends on its own truth."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet, sample_deployment

from airflow_provider_hfinfer.kube.watch import open_informers
from airflow_provider_hfinfer.triggers import InferenceReadyTrigger, ReadinessEvent

NS = "ml"
# Names that prefix each other: their pods' events are "about" several of them.
PLANS: dict[str, tuple[list[str], str, str]] = {
    "llama": (["unschedulable", "loading", "ready"], "ready", "Available"),
    "llama-2": (["loading", "crash"], "failed", "CrashLoopBackOff"),
    "llama-2-chat": (["image_pull", "loading", "ready"], "ready", "Available"),
    "qwen": (["loading", "oom"], "failed", "OOMKilled"),
    "qwen-coder": (["loading", "unschedulable", "ready"], "ready", "Available"),
}
for index in range(20):
    PLANS[f"m{index:02d}"] = (
        (["loading", "ready"], "ready", "Available")
        if index % 3
        else (["loading", "loading", "crash"], "failed", "CrashLoopBackOff")
    )
LATE = {"m18", "m19", "qwen-coder"}
"""Created only after the triggers started waiting."""


def _trigger(name: str, conn_id: str) -> InferenceReadyTrigger:
    # Workloads expected to fail get a short grace period (they pass through no
    # graceful state); the others a long one, so their graceful intermediate states
    # (unschedulable, image pull) never end them.
    failing = name in PLANS and PLANS[name][1] == "failed"
    return InferenceReadyTrigger(
        name, NS, conn_id, timeout=40.0, grace_period=0.5 if failing else 120.0, tick=0.2
    )


async def _first(trigger: InferenceReadyTrigger) -> ReadinessEvent:
    async for event in trigger.run():
        return ReadinessEvent.from_payload(event.payload)
    raise AssertionError("no event")


def _interleaved(rng: random.Random) -> list[tuple[str, str]]:
    queues = {name: list(plan[0]) for name, plan in PLANS.items()}
    steps: list[tuple[str, str]] = []
    while any(queues.values()):
        name = rng.choice([n for n, q in queues.items() if q])
        steps.append((name, queues[name].pop(0)))
    return steps


@pytest.mark.parametrize("seed", [7, 18])
def test_many_workloads_interleaved_each_trigger_reports_its_own_outcome(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet, seed: int
) -> None:
    rng = random.Random(seed)
    for name in PLANS:
        if name not in LATE:
            fake_kube.put_object(sample_deployment(name, NS))
    steps = _interleaved(rng)
    seen_informers: list[int] = []

    def drive() -> None:
        for name in LATE:
            fake_kube.put_object(sample_deployment(name, NS))
        for name, outcome in steps:
            kubelet.rollout(name, outcome=outcome)
            time.sleep(rng.uniform(0, 0.004))

    async def all_of_them() -> list[ReadinessEvent]:
        triggers = {name: _trigger(name, fake_kube_conn_id) for name in PLANS}
        waits = [asyncio.ensure_future(_first(t)) for t in triggers.values()]
        while not all(t.stats is not None for t in triggers.values()):
            await asyncio.sleep(0.01)
        while fake_kube.open_watches < 4:
            await asyncio.sleep(0.01)
        seen_informers.append(open_informers())
        await asyncio.get_running_loop().run_in_executor(None, drive)
        return list(await asyncio.gather(*waits))

    events = asyncio.run(all_of_them())
    got = {event.name: (event.status, event.reason) for event in events}
    assert got == {name: (plan[1], plan[2]) for name, plan in PLANS.items()}
    assert seen_informers == [1]
    # 25 waits, one list and one watch per kind between them.
    assert fake_kube.requests.count(verb="watch") == 4
    assert fake_kube.requests.count(verb="list") == 4
    assert open_informers() == 0


def test_a_cancelled_trigger_frees_its_share_and_the_others_go_on(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    for name in ("llama", "qwen"):
        fake_kube.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")
    counts: dict[str, Any] = {}

    async def scenario() -> ReadinessEvent:
        leaving = asyncio.ensure_future(_first(_trigger("llama", fake_kube_conn_id)))
        staying_trigger = _trigger("qwen", fake_kube_conn_id)
        staying = asyncio.ensure_future(_first(staying_trigger))
        while fake_kube.open_watches < 4:
            await asyncio.sleep(0.01)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        counts["after_cancel"] = (open_informers(), fake_kube.open_watches)
        await asyncio.get_running_loop().run_in_executor(None, lambda: kubelet.rollout("qwen"))
        event = await staying
        staying.cancel()
        return event

    event = asyncio.run(scenario())
    assert (event.name, event.status) == ("qwen", "ready")
    assert counts["after_cancel"] == (1, 4)
    assert open_informers() == 0
    deadline = time.monotonic() + 5
    while fake_kube.open_watches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_kube.open_watches == 0


def test_an_expired_watch_is_listed_again_once_for_every_waiter(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    names = [f"w{index}" for index in range(10)]
    for name in names:
        fake_kube.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")
    triggers = [_trigger(name, fake_kube_conn_id) for name in names]

    def expire() -> None:
        # Every stream is cut and history compacted while all ten roll out.
        fake_kube.faults.add("GET", r"/namespaces/ml/pods$", status=None, delay=0.5)
        http = fake_kube._http
        assert http is not None
        with http.connections_lock:
            sockets = list(http.connections)
        for sock in sockets:
            try:
                sock.shutdown(2)
            except OSError:
                pass
        for name in names:
            kubelet.rollout(name)
        fake_kube.compact()

    async def scenario() -> list[ReadinessEvent]:
        waits = [asyncio.ensure_future(_first(t)) for t in triggers]
        while fake_kube.open_watches < 4:
            await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, expire)
        return list(await asyncio.gather(*waits))

    events = asyncio.run(scenario())
    assert [e.status for e in events] == ["ready"] * len(names)
    stats = triggers[0].stats
    assert all(t.stats is stats for t in triggers)
    assert stats.expired >= 1
    # One fresh list per expired watch, not one per waiting trigger.
    assert stats.lists == 4 + stats.expired
