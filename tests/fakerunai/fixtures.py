"""Pytest fixtures exposing the fake Run:ai control plane to tests.

Import them into a package's ``conftest.py``::

    from fakerunai.fixtures import fake_runai, runai_conn_id  # noqa: F401

``fake_runai`` is a started :class:`~fakerunai.server.FakeRunai` with projects
``team-a`` and ``team-b``, each with a Kubernetes secret ``hf-token`` (stopped at
teardown); ``runai_conn_id`` the id of an Airflow ``runai``
connection to it (defined through ``AIRFLOW_CONN_<ID>``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import FakeRunai

RUNAI_CONN_ID = "fake_runai"
PROJECT = "team-a"


@pytest.fixture
def fake_runai() -> Iterator[FakeRunai]:
    """A started fake control plane with the project ``team-a``; stopped at teardown."""
    server = FakeRunai().start()
    server.add_project(PROJECT, "4")
    server.add_project("team-b", "7")
    for project_id in ("4", "7"):  # the existing secret the tests' specs name
        server.credentials.add_secret(project_id, "hf-token")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def runai_conn_id(fake_runai: FakeRunai, monkeypatch: pytest.MonkeyPatch) -> str:
    """Define an Airflow ``runai`` connection to the fake via ``AIRFLOW_CONN_FAKE_RUNAI``."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{RUNAI_CONN_ID.upper()}", fake_runai.airflow_connection_json()
    )
    return RUNAI_CONN_ID
