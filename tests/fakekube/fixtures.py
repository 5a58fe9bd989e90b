"""Pytest fixtures exposing the fake API server to tests.

Import the fixtures from ``tests/conftest.py``::

    from fakekube.fixtures import fake_kube, fake_kube_conn_id, kube_api_client  # noqa: E402, F401

``fake_kube`` is a started :class:`~fakekube.server.FakeKubeServer` (stopped at
teardown), ``kube_api_client`` a ``kubernetes.client.ApiClient`` pointed at it, and
``fake_kube_conn_id`` the id of an Airflow ``kubernetes`` connection (defined through
``AIRFLOW_CONN_<ID>``) whose ``kube_config`` extra targets it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .server import FakeKubeServer

FAKE_KUBE_CONN_ID = "fake_kube"


@pytest.fixture
def fake_kube() -> Iterator[FakeKubeServer]:
    """A started fake API server with a ``default`` namespace; stopped at teardown."""
    server = FakeKubeServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kube_api_client(fake_kube: FakeKubeServer) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` (host ``http://127.0.0.1:PORT``, bearer token)."""
    api_client = fake_kube.api_client()
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def fake_kube_conn_id(fake_kube: FakeKubeServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Define an Airflow ``kubernetes`` connection to the fake via ``AIRFLOW_CONN_FAKE_KUBE``."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{FAKE_KUBE_CONN_ID.upper()}", fake_kube.airflow_connection_json()
    )
    return FAKE_KUBE_CONN_ID
