"""Fixtures for the Run:ai backend tests: the fake control plane, an Airflow DB, DAG runs."""

from __future__ import annotations

import pytest
from airflow_fixtures import airflow_db, run_task  # noqa: F401
from fakerunai.fixtures import fake_runai, runai_conn_id  # noqa: F401


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pre-flight traffic, if any test enables it, stays on a closed loopback port.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
