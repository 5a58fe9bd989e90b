"""Cost and speed of waiting for readiness (issue 4), trigger vs polling.

(a) Detection latency: how long after the Deployment becomes available the
    watching trigger reports ready (target: within 1 s), beside a 2 s poll
    loop (snapshot + assess, as the non-deferrable wait does) measured in the
    same run, and a 30 s poll *computed* from the measured poll cost (half the
    interval on average plus one snapshot), not waited for.
(b) API load while a workload waits in steady state: requests per minute per
    waiting workload. The trigger's load is measured over a short window with
    a short resync interval and extrapolated to the default 300 s interval
    (requests per resync cycle x cycles per minute); the 2 s poll is measured
    over the same window and scaled to a minute. Target: <= 2/min for the
    watch, against 30+/min for a 2 s poll.
(c) 100 workloads waiting in one event loop against a fake API server in a
    child process (so its memory and threads are not counted): Python heap
    growth (tracemalloc) and RSS growth while all 100 wait (target < 50 MiB),
    and the event loop's largest lag (a 10 ms ticker; target < 100 ms while
    waiting), then every trigger must report ready once the child rolls them out.

Run: ``.venv/bin/python benchmarks/bench_readiness.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hfinfer-bench-"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

NS = "bench"
CONN = "bench_kube"
TRIALS = 5
POLL_INTERVAL = 2.0
SLOW_POLL_INTERVAL = 30.0
DEFAULT_RESYNC = 300.0
LOAD_RESYNC = 2.0
LOAD_WINDOW = 10.0
FLEET = 100

TARGET_LATENCY = 1.0
TARGET_WATCH_PER_MIN = 2.0
TARGET_MEMORY_MIB = 50.0
TARGET_LOOP_LAG = 0.1


# --------------------------------------------------------------- child cluster


def _child_cluster(conn: Any, count: int) -> None:
    """A fake API server + kubelet in its own process, driven over a pipe."""
    from fakekube.kubelet import FakeKubelet, sample_deployment
    from fakekube.server import FakeKubeServer

    server = FakeKubeServer(default_watch_timeout=600).start()
    server.create_namespace(NS)
    kubelet = FakeKubelet(server, NS)
    for index in range(count):
        name = f"fleet-{index:03d}"
        server.put_object(sample_deployment(name, NS))
        kubelet.rollout(name, outcome="loading")
    conn.send(server.airflow_connection_json(NS))
    while True:
        command = conn.recv()
        if command == "ready":
            for index in range(count):
                kubelet.rollout(f"fleet-{index:03d}")
            conn.send(time.monotonic())  # CLOCK_MONOTONIC is system-wide on Linux
        elif command == "requests":
            conn.send(len(server.requests))
        else:
            break
    server.stop()


# ------------------------------------------------------------------- helpers


def _trigger(name: str, **kwargs: Any) -> Any:
    from airflow_provider_hfinfer.triggers import InferenceReadyTrigger

    params: dict[str, Any] = {"timeout": 120.0, "grace_period": 900.0, "tick": 5.0}
    params.update(kwargs)
    return InferenceReadyTrigger(name, NS, CONN, **params)


async def _first_event(trigger: Any) -> tuple[dict[str, Any], float]:
    async for event in trigger.run():
        return dict(event.payload), time.monotonic()
    raise RuntimeError("the trigger ended without an event")


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("condition not reached")
        await asyncio.sleep(0.01)


def _poll_once(hook: Any, name: str) -> Any:
    from airflow_provider_hfinfer.status import assess

    return assess(**hook.workload_snapshot(name, NS), now=datetime.now(timezone.utc))


# --------------------------------------------------------------- (a) latency


async def _trigger_latency(server: Any, kubelet: Any, name: str) -> float:
    from fakekube.kubelet import sample_deployment

    server.put_object(sample_deployment(name, NS))
    kubelet.rollout(name, outcome="loading")
    trigger = _trigger(name)
    waiting = asyncio.ensure_future(_first_event(trigger))
    await _until(lambda: trigger.stats is not None and trigger.stats.watches >= 4)
    await asyncio.sleep(random.uniform(0.1, 0.5))
    loop = asyncio.get_running_loop()

    def become_ready() -> float:
        kubelet.rollout(name)  # the last write is the Deployment's Available status
        return time.monotonic()

    ready_at = await loop.run_in_executor(None, become_ready)
    payload, seen_at = await waiting
    if payload["status"] != "ready":
        raise RuntimeError(f"trigger reported {payload}")
    return seen_at - ready_at


def _poll_latency(server: Any, kubelet: Any, hook: Any, name: str) -> tuple[float, float]:
    """Detection latency of a 2 s poll loop; also the mean cost of one poll."""
    from fakekube.kubelet import sample_deployment

    server.put_object(sample_deployment(name, NS))
    kubelet.rollout(name, outcome="loading")
    seen: list[float] = []
    costs: list[float] = []

    def poll() -> None:
        while True:
            started = time.monotonic()
            status = _poll_once(hook, name)
            costs.append(time.monotonic() - started)
            if status.is_ready:
                seen.append(time.monotonic())
                return
            time.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - started)))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(random.uniform(0.2, 0.2 + POLL_INTERVAL))
    kubelet.rollout(name)
    ready_at = time.monotonic()
    poller.join(timeout=POLL_INTERVAL * 3)
    return seen[0] - ready_at, statistics.mean(costs)


def bench_latency(server: Any, kubelet: Any, hook: Any) -> tuple[bool, dict[str, float]]:
    watch = [asyncio.run(_trigger_latency(server, kubelet, f"lat-w{i}")) for i in range(TRIALS)]
    polled = [_poll_latency(server, kubelet, hook, f"lat-p{i}") for i in range(TRIALS)]
    poll_lat = [latency for latency, _ in polled]
    poll_cost = statistics.mean(cost for _, cost in polled)
    slow_poll = SLOW_POLL_INTERVAL / 2 + poll_cost
    mean_watch = statistics.mean(watch)
    print(f"(a) detection latency after the Deployment became available ({TRIALS} trials each)")
    print(
        f"    trigger (watch):      mean {mean_watch * 1000:7.1f} ms, "
        f"max {max(watch) * 1000:7.1f} ms   (target <= {TARGET_LATENCY:.0f} s)"
    )
    print(
        f"    2 s poll (measured):  mean {statistics.mean(poll_lat) * 1000:7.1f} ms, "
        f"max {max(poll_lat) * 1000:7.1f} ms   -> {statistics.mean(poll_lat) / mean_watch:.0f}x "
        "the trigger"
    )
    print(
        f"    30 s poll (computed: 15 s mean wait + {poll_cost * 1000:.1f} ms per poll): "
        f"{slow_poll:.1f} s -> {slow_poll / mean_watch:.0f}x the trigger"
    )
    return max(watch) <= TARGET_LATENCY, {"watch": mean_watch}


# ----------------------------------------------------------------- (b) load


async def _watch_load(server: Any, kubelet: Any, name: str, resync: float) -> int:
    from fakekube.kubelet import sample_deployment

    server.put_object(sample_deployment(name, NS))
    kubelet.rollout(name, outcome="loading")
    trigger = _trigger(name, resync_interval=resync, timeout=LOAD_WINDOW + 30)
    waiting = asyncio.ensure_future(_first_event(trigger))
    await _until(lambda: trigger.stats is not None and trigger.stats.watches >= 4)
    await asyncio.sleep(0.2)
    before = len(server.requests)
    await asyncio.sleep(LOAD_WINDOW)
    during = len(server.requests) - before
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    return during


def _poll_load(server: Any, kubelet: Any, hook: Any, name: str) -> int:
    from fakekube.kubelet import sample_deployment

    server.put_object(sample_deployment(name, NS))
    kubelet.rollout(name, outcome="loading")
    before = len(server.requests)
    deadline = time.monotonic() + LOAD_WINDOW
    while time.monotonic() < deadline:
        started = time.monotonic()
        _poll_once(hook, name)
        time.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - started)))
    return len(server.requests) - before


def bench_load(server: Any, kubelet: Any, hook: Any) -> bool:
    quiet = asyncio.run(_watch_load(server, kubelet, "load-default", DEFAULT_RESYNC))
    cycling = asyncio.run(_watch_load(server, kubelet, "load-short", LOAD_RESYNC))
    per_cycle = cycling / (LOAD_WINDOW / LOAD_RESYNC)
    watch_per_min = per_cycle * 60 / DEFAULT_RESYNC
    polled = _poll_load(server, kubelet, hook, "load-poll")
    poll_per_min = polled * 60 / LOAD_WINDOW
    per_poll = polled / (LOAD_WINDOW / POLL_INTERVAL)
    slow_per_min = per_poll * 60 / SLOW_POLL_INTERVAL
    print(f"(b) API requests per minute per waiting workload ({LOAD_WINDOW:.0f} s windows)")
    print(
        f"    trigger, default {DEFAULT_RESYNC:.0f} s resync: {quiet} requests in the window; "
        f"with a {LOAD_RESYNC:.0f} s resync {cycling} requests = {per_cycle:.1f} per cycle "
        f"(lists + watches)"
    )
    print(
        f"    trigger extrapolated to {DEFAULT_RESYNC:.0f} s resync: {watch_per_min:.2f}/min "
        f"(target <= {TARGET_WATCH_PER_MIN:.0f}/min)"
    )
    print(
        f"    2 s poll (measured): {poll_per_min:.0f}/min ({per_poll:.0f} requests per poll) "
        f"-> {poll_per_min / watch_per_min:.0f}x the trigger"
    )
    print(
        f"    30 s poll (computed): {slow_per_min:.0f}/min -> "
        f"{slow_per_min / watch_per_min:.1f}x the trigger"
    )
    return watch_per_min <= TARGET_WATCH_PER_MIN and quiet == 0


# ----------------------------------------------------------------- (c) fleet


class _LagMeter:
    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - started - 0.01)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._tick())

    def reset(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _fleet(pipe: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lag = _LagMeter()
    lag.start()
    rss_before = _rss_mib()
    heap_before = tracemalloc.get_traced_memory()[0]
    triggers = [_trigger(f"fleet-{index:03d}", timeout=120.0) for index in range(FLEET)]
    started = time.monotonic()
    waits = [asyncio.ensure_future(_first_event(trigger)) for trigger in triggers]
    await _until(
        lambda: all(t.stats is not None and t.stats.watches >= 4 for t in triggers), timeout=60
    )
    synced_in = time.monotonic() - started
    startup_lag = lag.reset()
    await asyncio.sleep(3.0)
    idle_lag = lag.reset()
    heap_after = tracemalloc.get_traced_memory()[0]
    rss_after = _rss_mib()
    await loop.run_in_executor(None, pipe.send, "ready")
    ready_sent = time.monotonic()
    events = await asyncio.gather(*waits)
    all_ready = time.monotonic() - ready_sent
    burst_lag = lag.reset()
    lag.stop()
    child_done = await loop.run_in_executor(None, pipe.recv)
    last_seen = max(seen for _, seen in events)
    return {
        "ready": sum(1 for payload, _ in events if payload["status"] == "ready"),
        "heap_mib": (heap_after - heap_before) / 2**20,
        "rss_mib": rss_after - rss_before,
        "synced_in": synced_in,
        "startup_lag": startup_lag,
        "idle_lag": idle_lag,
        "burst_lag": burst_lag,
        "all_ready": all_ready,
        "rollout": child_done - ready_sent,
        "after_last": max(0.0, last_seen - child_done),
    }


def bench_fleet(pipe: Any) -> bool:
    # Warm up imports and the connection path outside the measurement.
    asyncio.run(asyncio.wait_for(_warm_up(), timeout=30))
    tracemalloc.start()
    figures = asyncio.run(_fleet(pipe))
    tracemalloc.stop()
    print(f"(c) {FLEET} workloads waiting in one event loop (fake API server in a child process)")
    print(
        f"    all synced (list + watch x 4 kinds each) in {figures['synced_in']:.1f} s; "
        f"heap growth {figures['heap_mib']:.1f} MiB (tracemalloc), RSS growth "
        f"{figures['rss_mib']:.1f} MiB (target < {TARGET_MEMORY_MIB:.0f} MiB, "
        f"{figures['heap_mib'] * 1024 / FLEET:.0f} KiB per waiting workload)"
    )
    print(
        f"    largest event-loop lag: {figures['idle_lag'] * 1000:.1f} ms while waiting "
        f"(target < {TARGET_LOOP_LAG * 1000:.0f} ms), {figures['startup_lag'] * 1000:.1f} ms "
        f"while {FLEET} connected, {figures['burst_lag'] * 1000:.1f} ms while all became ready"
    )
    print(
        f"    {figures['ready']}/{FLEET} reported ready; the child's fake kubelet took "
        f"{figures['rollout']:.2f} s to roll all {FLEET} out, the last event came "
        f"{figures['after_last'] * 1000:.0f} ms after its last rollout"
    )
    return (
        figures["ready"] == FLEET
        and max(figures["heap_mib"], figures["rss_mib"]) < TARGET_MEMORY_MIB
        and figures["idle_lag"] < TARGET_LOOP_LAG
    )


async def _warm_up() -> None:
    trigger = _trigger("fleet-000", timeout=0.5)
    await _first_event(trigger)


# ---------------------------------------------------------------------- main


def main() -> int:
    """Measure and print; return 1 when a target is missed."""
    parent_end, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_child_cluster, args=(child_end, FLEET), daemon=True
    )
    child.start()
    fleet_conn = parent_end.recv()

    from fakekube.kubelet import FakeKubelet
    from fakekube.server import FakeKubeServer

    from airflow_provider_hfinfer.hooks.inference import HFInferenceHook

    server = FakeKubeServer(default_watch_timeout=600).start()
    server.create_namespace(NS)
    kubelet = FakeKubelet(server, NS)
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = server.airflow_connection_json(NS)
    hook = HFInferenceHook(CONN)
    started = time.monotonic()
    try:
        latency_ok, _ = bench_latency(server, kubelet, hook)
        load_ok = bench_load(server, kubelet, hook)
    finally:
        server.stop()
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = fleet_conn
    try:
        fleet_ok = bench_fleet(parent_end)
    finally:
        parent_end.send("stop")
        child.join(timeout=10)
    ok = latency_ok and load_ok and fleet_ok
    print(f"readiness benchmark ({time.monotonic() - started:.0f} s):", "PASS" if ok else "FAIL")
    if not ok:
        print(
            "missed: "
            + ", ".join(
                label
                for label, passed in (
                    ("latency", latency_ok),
                    ("api load", load_ok),
                    ("fleet memory/lag", fleet_ok),
                )
                if not passed
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
