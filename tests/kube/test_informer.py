"""Shared watches against the fake API server: every workload sees what its own watch would.

Interleaved changes to many workloads of one namespace (rollouts, relabelled and
deleted pods, events about objects whose names prefix each other, deleted and
re-created Deployments) are followed by one shared informer and, beside it, by
one private informer per workload (the behaviour before sharing). After every
change each workload's view must converge to what the store holds for it, in
both, and only the workloads whose objects changed may be woken.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet, sample_deployment

from airflow_provider_hfinfer.kube.snapshot import about_workload, workload_snapshot
from airflow_provider_hfinfer.kube.watch import (
    WatchSettings,
    WorkloadWatch,
    open_informers,
    watch_workload,
)
from airflow_provider_hfinfer.spec.names import WORKLOAD_LABEL, workload_selector

NS = "ml"
NAMES = ["llama", "llama-2", "llama-2-chat", "qwen", "qwen-coder", "mistral", "phi", "gemma"]
SETTINGS = WatchSettings(resync_seconds=30)


@asynccontextmanager
async def api_client(fake: FakeKubeServer) -> AsyncIterator[Any]:
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config_from_dict(
        fake.kubeconfig_dict(NS), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = 0
    async with client.ApiClient(configuration) as api:
        yield api


def _rv(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else str(obj["metadata"].get("resourceVersion"))


def fingerprint(snapshot: dict[str, Any]) -> tuple[Any, ...]:
    """What a view holds: every object by name and resourceVersion."""
    return (
        _rv(snapshot["deployment"]),
        *(
            sorted((o["metadata"]["name"], _rv(o)) for o in snapshot[kind])
            for kind in ("replica_sets", "pods", "events")
        ),
    )


def truth(fake: FakeKubeServer, name: str) -> tuple[Any, ...]:
    """What a private watch of ``name`` holds once it caught up: read from the store."""
    selector = workload_selector(name)
    return fingerprint(
        workload_snapshot(
            name,
            deployment=fake.get_object("apps/v1", "deployments", NS, name),
            replica_sets=fake.list_objects("apps/v1", "replicasets", NS, selector),
            pods=fake.list_objects("v1", "pods", NS, selector),
            events=[e for e in fake.list_objects("v1", "events", NS) if about_workload(e, name)],
        )
    )


async def converged(
    fake: FakeKubeServer, views: dict[str, list[WorkloadWatch]], timeout: float = 60.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while True:
        expected = await loop.run_in_executor(None, lambda: {n: truth(fake, n) for n in views})
        behind = [
            (name, index)
            for name, pair in views.items()
            for index, view in enumerate(pair)
            if fingerprint(view.snapshot()) != expected[name]
        ]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"views did not catch up (name, 0 shared / 1 private): {behind}")
        await asyncio.sleep(0.02)


Change = Callable[[], Any]


def _relabel(fake: FakeKubeServer, name: str, to: str | None) -> Change:
    def move(obj: dict[str, Any]) -> None:
        labels = obj["metadata"]["labels"]
        if to is None:
            labels.pop(WORKLOAD_LABEL, None)
        else:
            labels[WORKLOAD_LABEL] = to

    def change() -> None:
        pods = fake.list_objects("v1", "pods", NS, workload_selector(name))
        if pods:
            fake.update("v1", "pods", NS, pods[0]["metadata"]["name"], move)

    return change


def _delete_pods(fake: FakeKubeServer, name: str) -> Change:
    def change() -> None:
        for pod in fake.list_objects("v1", "pods", NS, workload_selector(name)):
            fake.delete_object("v1", "pods", NS, pod["metadata"]["name"])

    return change


def _recreate(fake: FakeKubeServer, kubelet: FakeKubelet, name: str) -> Change:
    def change() -> None:
        fake.delete_object("apps/v1", "deployments", NS, name)
        fake.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")

    return change


def _event_about(kubelet: FakeKubelet, involved: str) -> Change:
    target = {"kind": "Pod", "metadata": {"name": involved, "uid": ""}}
    return lambda: kubelet.event(target, "Pulling", f"pulling for {involved}", etype="Normal")


def _roll(kubelet: FakeKubelet, name: str, outcome: str) -> Change:
    return lambda: kubelet.rollout(name, outcome=outcome)


async def settled(views: list[WorkloadWatch], quiet: float = 0.1) -> None:
    """Clear the views' wake-ups until none comes for ``quiet`` seconds."""
    for _ in range(50):
        for view in views:
            view.changed.clear()
        await asyncio.sleep(quiet)
        if not any(view.changed.is_set() for view in views):
            return
    raise AssertionError("wake-ups kept coming with nothing changing")


def operations(
    kubelet: FakeKubelet, fake: FakeKubeServer, rng: random.Random
) -> list[tuple[str, Change]]:
    """A shuffled list of changes touching every workload several times, in its order."""
    per_workload: list[list[tuple[str, Change]]] = []
    for name in NAMES:
        others = [n for n in NAMES if n != name]
        last = _recreate(fake, kubelet, name) if rng.random() < 0.5 else _delete_pods(fake, name)
        changes = [
            _roll(kubelet, name, rng.choice(["loading", "unschedulable", "image_pull"])),
            _event_about(kubelet, f"{name}-{rng.randrange(1000)}"),
            _roll(kubelet, name, rng.choice(["crash", "oom", "ready"])),
            _relabel(fake, name, rng.choice([*others, None])),
            _event_about(kubelet, name),
            last,
            _roll(kubelet, name, "ready"),
        ]
        per_workload.append([(name, change) for change in changes])
    merged: list[tuple[str, Change]] = []
    while any(per_workload):
        queue = rng.choice([q for q in per_workload if q])
        merged.append(queue.pop(0))
    return merged


@pytest.mark.parametrize("seed", [18, 1018])
def test_interleaved_changes_reach_every_workload_as_a_private_watch_would(
    fake_kube: FakeKubeServer, seed: int
) -> None:
    fake_kube.create_namespace(NS)
    kubelet = FakeKubelet(fake_kube, NS)
    rng = random.Random(seed)
    for name in NAMES[:5]:  # the others appear while the watches run
        fake_kube.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with api_client(fake_kube) as api, AsyncExitStack() as stack:
            views: dict[str, list[WorkloadWatch]] = {}
            for name in NAMES:
                shared = await stack.enter_async_context(watch_workload(api, name, NS, SETTINGS))
                private = await stack.enter_async_context(
                    watch_workload(api, name, NS, SETTINGS, shared=False)
                )
                views[name] = [shared, private]
            assert open_informers() == 1 + len(NAMES)
            await converged(fake_kube, views)
            for name in NAMES[5:]:
                await loop.run_in_executor(None, fake_kube.put_object, sample_deployment(name, NS))
            await converged(fake_kube, views)
            for index, (name, change) in enumerate(operations(kubelet, fake_kube, rng)):
                if index % 3:
                    # Bursts: several changes land before anyone reads.
                    await loop.run_in_executor(None, change)
                    continue
                await converged(fake_kube, views)  # the burst before has landed
                await settled([pair[0] for pair in views.values()])  # and woken its waiters
                before = {n: fingerprint(pair[0].snapshot()) for n, pair in views.items()}
                await loop.run_in_executor(None, change)
                await converged(fake_kube, views)
                await asyncio.sleep(0.05)  # late, wrong wake-ups would show here
                moved = {
                    n for n, pair in views.items() if fingerprint(pair[0].snapshot()) != before[n]
                }
                woken = {n for n, pair in views.items() if pair[0].changed.is_set()}
                # Exactly the workloads whose objects changed were woken (the change's
                # own, a relabelled pod's new workload, names an event's object starts with).
                assert woken == moved, (name, woken, moved)
            await converged(fake_kube, views)
            shared_stats = views[NAMES[0]][0].stats
            assert all(pair[0].stats is shared_stats for pair in views.values())
            # One list and one watch per kind for all of them: nothing expired here.
            assert (shared_stats.lists, shared_stats.watches, shared_stats.expired) == (4, 4, 0)
        assert open_informers() == 0

    asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while fake_kube.open_watches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_kube.open_watches == 0


def test_only_the_workloads_a_change_is_about_are_woken(fake_kube: FakeKubeServer) -> None:
    fake_kube.create_namespace(NS)
    kubelet = FakeKubelet(fake_kube, NS)
    for name in ("llama", "llama-2", "qwen"):
        fake_kube.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        async with api_client(fake_kube) as api, AsyncExitStack() as stack:
            views = {
                name: await stack.enter_async_context(watch_workload(api, name, NS, SETTINGS))
                for name in ("llama", "llama-2", "qwen")
            }
            await converged(fake_kube, {n: [v] for n, v in views.items()})

            async def woken_by(change: Callable[[], Any]) -> set[str]:
                for view in views.values():
                    view.changed.clear()
                await loop.run_in_executor(None, change)
                await converged(fake_kube, {n: [v] for n, v in views.items()})
                await asyncio.sleep(0.1)
                return {name for name, view in views.items() if view.changed.is_set()}

            assert await woken_by(lambda: kubelet.rollout("qwen")) == {"qwen"}
            # An event about llama-2's pod is about llama too (its name starts "llama-").
            pod = {"kind": "Pod", "metadata": {"name": "llama-2-abc-xyz", "uid": ""}}
            assert await woken_by(lambda: kubelet.event(pod, "Pulling", "pull")) == {
                "llama",
                "llama-2",
            }
            assert await woken_by(lambda: kubelet.rollout("llama")) == {"llama"}

    asyncio.run(scenario())


def test_the_last_waiter_to_leave_closes_the_watches(fake_kube: FakeKubeServer) -> None:
    fake_kube.create_namespace(NS)
    fake_kube.put_object(sample_deployment("llama", NS))

    async def scenario() -> None:
        async with api_client(fake_kube) as api:
            first = watch_workload(api, "llama", NS, SETTINGS)
            second = watch_workload(api, "qwen", NS, SETTINGS)
            view = await first.__aenter__()
            await second.__aenter__()
            while fake_kube.open_watches < 4:
                await asyncio.sleep(0.02)
            await first.__aexit__(None, None, None)
            assert open_informers() == 1 and view.synced
            await asyncio.sleep(0.2)
            assert fake_kube.open_watches == 4
            await second.__aexit__(None, None, None)
            assert open_informers() == 0

    asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while fake_kube.open_watches and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_kube.open_watches == 0
    assert fake_kube.requests.count(verb="watch") == 4


class _Waiter:
    def __init__(self) -> None:
        self.changed = asyncio.Event()


def test_many_waiters_are_woken_in_batches_so_the_loop_keeps_turning() -> None:
    from airflow_provider_hfinfer.kube.informer import NamespaceInformer

    async def scenario() -> list[int]:
        informer = NamespaceInformer(None, NS, WatchSettings(wake_batch=32))
        waiters = [_Waiter() for _ in range(100)]
        for index, waiter in enumerate(waiters):
            informer._waiters.add(f"w{index}", waiter)  # subscribe() would start watching
        informer._wake(None)
        woken: list[int] = []
        for _ in range(5):
            await asyncio.sleep(0)  # one loop turn
            woken.append(sum(waiter.changed.is_set() for waiter in waiters))
        return woken

    assert asyncio.run(scenario()) == [32, 64, 96, 100, 100]
