"""Helpers shared by the lifecycle tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

NS = "team-a"


def xcom_values(run: Any, task_id: str, key: str = "return_value") -> list[Any]:
    """XCom values a task pushed in a run, decoded."""
    import json

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, task_id=task_id, key=key)
        values = [row.value for row in rows]
    return [json.loads(value) if isinstance(value, str) else value for value in values]
