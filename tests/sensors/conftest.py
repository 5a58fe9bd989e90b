"""Fixtures for sensor tests: an Airflow DB, DAG runs and a fake kubelet for namespace ``ml``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from airflow_fixtures import airflow_db, run_task  # noqa: F401
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet

NAMESPACE = "ml"


@pytest.fixture
def kubelet(fake_kube: FakeKubeServer) -> Iterator[FakeKubelet]:
    """A fake kubelet for namespace ``ml`` (stopped at teardown if started)."""
    fake_kube.create_namespace(NAMESPACE)
    kubelet = FakeKubelet(fake_kube, NAMESPACE)
    try:
        yield kubelet
    finally:
        kubelet.stop()
