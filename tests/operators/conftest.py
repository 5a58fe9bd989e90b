"""Fixtures for operator tests: an Airflow DB and DAG runs against the fake cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the SQLite metadata DB once per test session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pre-flight traffic, if any test enables it, stays on a closed loopback port.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


RunTask = Callable[..., Any]


def _serialize(dag: Any) -> None:
    """Write a DAG built in a test to the metadata DB, as the DAG processor would.

    ``dag.test()`` on Airflow 3 runs only DAGs that a bundle has serialized.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture
def run_task(airflow_db: None, request: pytest.FixtureRequest) -> RunTask:
    """Run one operator in its own DAG through ``dag.test()``; return the DagRun."""
    counter = {"n": 0}

    def run(operator_factory: Callable[[], Any], *, logical_date: datetime | None = None) -> Any:
        from airflow.sdk import DAG

        counter["n"] += 1
        dag_id = f"t_{request.node.name}"[:200].replace("[", "_").replace("]", "_")
        with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
            operator_factory()
        _serialize(dag)
        when = logical_date or datetime.now(timezone.utc)
        return dag.test(logical_date=when)

    return run
