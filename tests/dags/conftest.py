"""Fixtures for the example DAG tests: an Airflow DB, and a whole fake cluster to run them on.

``cluster`` is everything an example DAG touches when it deploys for real: the
fake API server (as the Airflow connection ``fake_kube``), a fake kubelet that
rolls out every Deployment of the namespace, a fake vLLM behind each example's
Service, and a fake Hugging Face Hub with the examples' models for the
pre-flight checks. The DAG files read ``HFINFER_*`` variables when parsed, so
tests load them with :func:`load_dag` after the fixture set those.
"""

from __future__ import annotations

import base64
import copy
import runpy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_fixtures import airflow_db  # noqa: F401
from fake_vllm import FakeVLLM
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet
from preflight.fake_hub import GRANTED_TOKEN, FakeHub, FakeRepo, default_repos

DAGS = Path(__file__).resolve().parents[2] / "dags"
NS = "runai-team-a"
SERVICES = {
    "llama3-8b-chat": "llama3-8b-chat",
    "qwen-batch": "qwen-batch",
    "llama3-8b-nightly": "llama3-8b-nightly",
}

QWEN_7B_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "torch_dtype": "bfloat16",
    "vocab_size": 152064,
}


def _example_repos() -> list[FakeRepo]:
    """The fake Hub's repositories plus the two models the example DAGs serve."""
    repos = default_repos()
    llama = next(repo for repo in repos if repo.model_id == "meta-llama/Llama-3.1-8B")
    instruct = copy.deepcopy(llama)
    instruct.model_id = "meta-llama/Llama-3.1-8B-Instruct"
    qwen = FakeRepo(
        "Qwen/Qwen2.5-7B-Instruct",
        "9" * 40,
        QWEN_7B_CONFIG,
        {"parameters": {"BF16": 7_615_616_512}, "total": 7_615_616_512},
    )
    return [*repos, instruct, qwen]


@dataclass
class Cluster:
    """The fakes behind one example DAG run."""

    kube: FakeKubeServer
    kubelet: FakeKubelet
    hub: FakeHub
    models: dict[str, FakeVLLM]
    out: Path

    def workload_objects(self, name: str) -> list[dict[str, Any]]:
        """Every object the provider manages for workload ``name`` (by its label)."""
        found = []
        for version, plural, kind in (
            ("v1", "services", "Service"),
            ("apps/v1", "deployments", "Deployment"),
            ("keda.sh/v1alpha1", "scaledobjects", "ScaledObject"),
            ("v1", "secrets", "Secret"),
        ):
            for obj in self.kube.list_objects(version, plural, NS):
                if obj["metadata"].get("labels", {}).get("hfinfer.io/workload") == name:
                    found.append({**obj, "kind": kind})
        return found


@pytest.fixture
def cluster(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    """A namespace with the HF token Secret, a kubelet, vLLM fakes and a fake Hub; env set."""
    fake_kube.create_namespace(NS)
    token = base64.b64encode(GRANTED_TOKEN.encode()).decode()
    fake_kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hf-credentials", "namespace": NS},
            "data": {"HF_TOKEN": token},
        }
    )
    models = {}
    for service, model in SERVICES.items():
        models[service] = FakeVLLM(model=model, max_model_len=4096)
        fake_kube.register_proxy(NS, service, models[service].proxy_handler, port="http")
    hub = FakeHub(_example_repos()).start()
    kubelet = FakeKubelet(fake_kube, NS).start("ready", delay=0.05)
    for key, value in {
        "HFINFER_KUBE_CONN": fake_kube_conn_id,
        "HFINFER_NAMESPACE": NS,
        "HFINFER_OUT_DIR": str(tmp_path),
        "HFINFER_READY_TIMEOUT": "60",
        "HF_ENDPOINT": hub.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    try:
        yield Cluster(fake_kube, kubelet, hub, models, tmp_path)
    finally:
        kubelet.stop()
        hub.stop()


def load_dag(filename: str) -> Any:
    """Parse an example DAG file with the current environment; return its DAG."""
    return runpy.run_path(str(DAGS / filename))["dag"]


def task_states(run: Any) -> dict[str, str | None]:
    """``task_id`` (with ``[map_index]`` for mapped tasks) -> final state, read from the DB."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id)
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): (
                str(getattr(ti.state, "value", ti.state)) if ti.state is not None else None
            )
            for ti in rows
        }


def xcom(run: Any, task_id: str, map_index: int = -1) -> Any:
    """The return value a task pushed in ``run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(run_id=run.run_id, task_id=task_id, key="return_value", map_index=map_index)
            .one()
        )
        return XComModel.deserialize_value(row)
