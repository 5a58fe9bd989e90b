"""Fixtures for lifecycle tests: an Airflow DB, DAG runs, a namespace and a fake kubelet."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from lifecycle_support import NS


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


def _serialize(dag: Any) -> None:
    """Write a DAG built in a test to the metadata DB (``dag.test()`` needs it there)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


RunTask = Callable[..., Any]


@pytest.fixture
def run_task(airflow_db: None, request: pytest.FixtureRequest) -> RunTask:
    """Run operators (one, or a chain) in their own DAG through ``dag.test()``; return the run."""
    counter = {"n": 0}

    def run(operator_factory: Callable[[], Any]) -> Any:
        from airflow.sdk import DAG

        counter["n"] += 1
        base = f"t_{request.node.name}"[:180].replace("[", "_").replace("]", "_")
        with DAG(
            dag_id=f"{base}_{counter['n']}", schedule=None, start_date=datetime(2026, 1, 1)
        ) as dag:
            operator_factory()
        _serialize(dag)
        return dag.test(logical_date=datetime.now(timezone.utc))

    return run


@pytest.fixture
def cluster(fake_kube: Any, fake_kube_conn_id: str) -> Any:
    """The fake API server with the project's namespace."""
    fake_kube.create_namespace(NS)
    return fake_kube


@pytest.fixture
def kubelet(cluster: Any) -> Iterator[Any]:
    """A fake Deployment controller/kubelet for the namespace (stopped at teardown)."""
    from fakekube.kubelet import FakeKubelet

    fake = FakeKubelet(cluster, NS)
    try:
        yield fake
    finally:
        fake.stop()
