"""Fixtures of the Workloads page tests: a seeded fake cluster and Airflow's own API app.

The app is the one Airflow's API server serves (``airflow.api_fastapi.app.
create_app``), with the plugin found through the package's ``airflow.plugins``
entry point.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_fixtures import airflow_db  # noqa: F401
from fakekube.server import FakeKubeServer
from page_support import PASSWORDS, Cluster, Page, airflow_environment, require_entry_point
from workloads_seed import DENIED_NS, seed_all


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A fake cluster holding every seeded workload; pods may not be listed in team-b."""
    server = FakeKubeServer().start()
    try:
        kubelet = seed_all(server)
        server.deny("list", "pods", namespace=DENIED_NS)
        yield Cluster(server, kubelet)
    finally:
        server.stop()


@pytest.fixture
def page(
    cluster: Cluster,
    airflow_db: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Page]:
    """Airflow's API server app, built as ``airflow api-server`` builds it."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    require_entry_point()
    for key, value in airflow_environment(cluster.server, tmp_path).items():
        monkeypatch.setenv(key, value)
    purge_cached_app()
    app = create_app()
    with TestClient(app) as client:
        tokens = {}
        for user, password in PASSWORDS.items():
            answer = client.post("/auth/token", json={"username": user, "password": password})
            assert answer.status_code == 201, answer.text
            tokens[user] = answer.json()["access_token"]
        yield Page(client, tokens)
    purge_cached_app()
