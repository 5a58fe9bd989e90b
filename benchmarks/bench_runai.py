"""Cost of waiting on a Run:ai workload: the backing-off trigger vs a fixed 2 s poll (issue 17).

The Run:ai API has no watch, so the deferrable wait polls ``GET
/api/v1/workloads/{id}``, doubling the pause while nothing changes (5 s up to
60 s). Against the fake control plane (tests/fakerunai) on loopback, with time
scaled down 1000x (5 s -> 5 ms), this measures in the same run:

(a) requests sent while a model loads for "30 minutes" (18 s scaled) by the
    trigger and by the loop a DAG author would otherwise write (a GET every
    2 s, 2 ms scaled); target: the trigger sends <= 40 (1.3 a minute);
(b) how late each notices that the workload serves (scaled back to seconds);
    the trigger's worst case is its longest pause (60 s);
(c) the requests of one create (token, names, lookup, POST, one read); target 6.

Run: ``.venv/bin/python benchmarks/bench_runai.py`` (about 40 seconds).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hfinfer-bench-"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

SCALE = 100.0
LOAD_SECONDS = 1800.0
CONN = "bench_runai"
TARGET_TRIGGER_REQUESTS = 40
TARGET_CREATE_REQUESTS = 6


def _reads(fake: object, workload_id: str) -> int:
    return len([r for r in fake.requests if r.path == f"/api/v1/workloads/{workload_id}"])  # type: ignore[attr-defined]


def main() -> int:
    from fakerunai import CLIENT_ID, CLIENT_SECRET, CLUSTER_NAME, FakeRunai
    from runai.builders import plan_of, spec

    from airflow_provider_hfinfer.runai import apply as step
    from airflow_provider_hfinfer.runai.client import RunaiClient
    from airflow_provider_hfinfer.runai.session import RunaiSession
    from airflow_provider_hfinfer.triggers.runai import RunaiReadyTrigger

    fake = FakeRunai().start()
    fake.add_project("team-a", "4")
    fake.credentials.add_secret("4", "hf-token")  # the existing secret the spec names
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = fake.airflow_connection_json()
    log = logging.getLogger("bench")
    failed = False

    # (c) one create
    session = RunaiSession(RunaiClient(fake.url, CLIENT_ID, CLIENT_SECRET), CLUSTER_NAME)
    before = len(fake.requests)
    target = session.resolve("team-a")
    plan = plan_of(spec(), target, owner="bench/deploy/run")
    submitted = step.submit(
        session, plan, step.claim(session, plan, if_exists="fail", log=log), log
    )
    step.observe(session, submitted.workload_id)
    create_requests = len(fake.requests) - before
    print(f"create: {create_requests} requests (target {TARGET_CREATE_REQUESTS})")
    failed |= create_requests > TARGET_CREATE_REQUESTS

    # (a), (b): a model that loads for 30 scaled minutes, then serves
    load = LOAD_SECONDS / SCALE
    fake.set_phase("llama", {"phase": "Initializing", "runningPods": 1})

    def serve_later(started: float) -> None:
        time.sleep(max(0.0, started + load - time.monotonic()))
        fake.set_phase("llama", {"phase": "Running", "runningPods": 1})

    def trigger_run() -> tuple[int, float]:
        trigger = RunaiReadyTrigger(
            "llama",
            "team-a",
            CONN,
            workload_id=submitted.workload_id,
            timeout=60,
            poll_interval=5 / SCALE,
            max_interval=60 / SCALE,
        )

        async def wait() -> None:
            async for _ in trigger.run():
                return

        reads = _reads(fake, submitted.workload_id)
        started = time.monotonic()
        threading.Thread(target=serve_later, args=(started,), daemon=True).start()
        asyncio.run(wait())
        late = (time.monotonic() - started - load) * SCALE
        return _reads(fake, submitted.workload_id) - reads, late

    def poll_run() -> tuple[int, float]:
        fake.set_phase("llama", {"phase": "Initializing", "runningPods": 1})
        reads = _reads(fake, submitted.workload_id)
        started = time.monotonic()
        threading.Thread(target=serve_later, args=(started,), daemon=True).start()
        while True:
            status, _ = step.observe(session, submitted.workload_id)
            if status.is_ready:
                break
            time.sleep(2 / SCALE)
        late = (time.monotonic() - started - load) * SCALE
        return _reads(fake, submitted.workload_id) - reads, late

    trigger_requests, trigger_late = trigger_run()
    poll_requests, poll_late = poll_run()
    fake.stop()
    ratio = trigger_requests / poll_requests if poll_requests else float("nan")
    print(
        f"30-minute model load: trigger {trigger_requests} requests "
        f"({trigger_requests / 30:.1f}/min), fixed 2 s poll {poll_requests} "
        f"({poll_requests / 30:.0f}/min): {ratio:.3f}x the requests "
        f"(target <= {TARGET_TRIGGER_REQUESTS})"
    )
    print(
        f"noticed serving after: trigger {trigger_late:.0f} s (at most its 60 s pause), "
        f"2 s poll {poll_late:.0f} s (scaled from the 100x run)"
    )
    failed |= trigger_requests > TARGET_TRIGGER_REQUESTS
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
