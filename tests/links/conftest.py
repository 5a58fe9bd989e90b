"""Fixtures for the operator-link tests: an Airflow DB and DAG runs against the fake cluster."""

from __future__ import annotations

from airflow_fixtures import airflow_db, run_task  # noqa: F401
