"""Example DAGs: they import cleanly, parse without network, and run in dry run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """Create the SQLite metadata DB in the throwaway AIRFLOW_HOME."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record and refuse every outgoing connection."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_UNIX:
            real_connect(self, address)
            return
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts


def test_dagbag_imports_every_example_without_errors_or_network(no_network: list[Any]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert "hfinfer_post_training_deploy" in bag.dag_ids
    assert no_network == []


def test_parsing_does_not_import_kubernetes() -> None:
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'huggingface_hub'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / "hfinfer_post_training_deploy.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_post_training_dag_dry_run_renders_plan_and_manifests(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any Hub or cluster traffic goes to a closed loopback port, never outside.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HFINFER_OUT_DIR", str(tmp_path))
    monkeypatch.delenv("HFINFER_KUBE_CONN", raising=False)
    import runpy

    module = runpy.run_path(str(DAGS / "hfinfer_post_training_deploy.py"))
    run = module["dag"].test()
    assert run.state == "success"
    manifests = list(yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()))
    assert [doc["kind"] for doc in manifests] == ["Service", "Deployment", "ScaledObject"]
    args = manifests[1]["spec"]["template"]["spec"]["containers"][0]["args"]
    # The model id and revision came from the upstream task through templating.
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert args[args.index("--revision") + 1] == "main"
