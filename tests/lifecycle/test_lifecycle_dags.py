"""The rollout and TTL-cleanup example DAGs: parse cheaply, schedule right, dry-run."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
FILES = ["hfinfer_scheduled_rollout.py", "hfinfer_ttl_cleanup.py"]


@pytest.mark.parametrize("filename", FILES)
def test_parsing_loads_neither_kubernetes_nor_the_hub(filename: str) -> None:
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'huggingface_hub'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / filename)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_cleanup_dag_runs_every_five_minutes_one_run_at_a_time() -> None:
    dag = runpy.run_path(str(DAGS / "hfinfer_ttl_cleanup.py"))["dag"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.schedule == "*/5 * * * *"


@pytest.mark.parametrize("filename", FILES)
def test_dag_dry_run_succeeds_without_a_cluster(
    airflow_db: None, filename: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HFINFER_KUBE_CONN", raising=False)
    dag = runpy.run_path(str(DAGS / filename))["dag"]
    run = dag.test()
    assert run.state == "success"
