"""Fixtures for operator tests: an Airflow DB and DAG runs against the fake cluster."""

from __future__ import annotations

import pytest
from airflow_fixtures import airflow_db, run_task  # noqa: F401
from fake_vllm import FakeVLLM
from fakekube import FakeKubeServer

NS = "ml"
NAME = "llama"
MODEL = "llama3-8b-chat"


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pre-flight traffic, if any test enables it, stays on a closed loopback port.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture
def vllm(fake_kube: FakeKubeServer) -> FakeVLLM:
    """A fake vLLM behind the Service ``ml/llama`` (port ``http``)."""
    fake_kube.create_namespace(NS)
    fake_kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
        }
    )
    server = FakeVLLM(model=MODEL)
    fake_kube.register_proxy(NS, NAME, server.proxy_handler, port="http")
    return server
