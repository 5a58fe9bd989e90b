"""Airflow fixtures shared by test packages: a metadata DB and DAG runs through ``dag.test()``.

Import them into a package's ``conftest.py``::

    from airflow_fixtures import airflow_db, run_task  # noqa: F401
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

RunTask = Callable[..., Any]

_migrated: list[bool] = []


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the SQLite metadata DB once per test session, whichever package asks first."""
    if _migrated:
        return
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    _migrated.append(True)


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
        dag_id = re.sub(r"[^A-Za-z0-9_.-]", "_", f"t_{request.node.name}")[:200]
        with DAG(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
            operator_factory()
        _serialize(dag)
        when = logical_date or datetime.now(timezone.utc)
        return dag.test(logical_date=when)

    return run


def task_instance(run: Any, task_id: str) -> Any:
    """The task instance of ``task_id`` in a finished DagRun, read back from the DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
            .one()
        )
        session.expunge(ti)
        return ti


def captured_log(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """What the test's tasks printed since the last call, plus every log record so far."""
    captured = capsys.readouterr()
    return captured.out + captured.err + caplog.text


def xcom_result(run: Any, task_id: str = "deploy") -> Any:
    """The ``return_value`` XCom of ``task_id`` in a finished DagRun, decoded."""
    import json

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(run_id=run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value
