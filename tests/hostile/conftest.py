"""Fixtures for the hostile-input tests: an Airflow DB and DAG runs for the canary test."""

from __future__ import annotations

from airflow_fixtures import airflow_db, run_task  # noqa: F401
