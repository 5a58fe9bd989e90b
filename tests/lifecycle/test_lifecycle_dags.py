"""The TTL-cleanup example DAG's schedule (parsing and runs are in tests/dags)."""

from __future__ import annotations

import runpy
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_cleanup_dag_runs_every_five_minutes_one_run_at_a_time() -> None:
    dag = runpy.run_path(str(DAGS / "hfinfer_ttl_cleanup.py"))["dag"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.schedule == "*/5 * * * *"


def test_rollout_dag_never_overlaps_and_does_not_retry_a_failed_revision() -> None:
    dag = runpy.run_path(str(DAGS / "hfinfer_scheduled_rollout.py"))["dag"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.get_task("rollout").retries == 0
