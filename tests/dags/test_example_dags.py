"""Example DAGs: they import cleanly, parse without network, and run in dry run."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DAGS, load_dag, task_states

EXAMPLES = {
    "hfinfer_post_training_deploy.py": "hfinfer_post_training_deploy",
    "hfinfer_scheduled_rollout.py": "hfinfer_scheduled_rollout",
    "hfinfer_batch_inference.py": "hfinfer_batch_inference",
    "hfinfer_ttl_cleanup.py": "hfinfer_ttl_cleanup",
}


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


def test_the_examples_are_the_dags_folder() -> None:
    assert sorted(path.name for path in DAGS.glob("*.py")) == sorted(EXAMPLES)


def test_dagbag_imports_every_example_without_errors_or_network(no_network: list[Any]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted(EXAMPLES.values())
    assert no_network == []


@pytest.mark.parametrize("filename", sorted(EXAMPLES))
def test_parsing_loads_neither_kubernetes_nor_the_hub(filename: str) -> None:
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'huggingface_hub'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / filename)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_example_copied_into_a_fresh_airflow_dags_folder_imports_cleanly(
    tmp_path: Path,
) -> None:
    """What a user does: copy the file into their dags folder; Airflow finds no error.

    A new AIRFLOW_HOME, run from outside the repository, so the provider comes
    from the installed package and not from the source tree.
    """
    home, dags = tmp_path / "airflow", tmp_path / "airflow" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAGS / "hfinfer_post_training_deploy.py", dags)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "HFINFER_")) and key != "PYTHONPATH"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    code = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; "
        "bag = DagBag(dag_folder=sys.argv[1]); "
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': bag.import_errors}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(dags)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    )
    parsed = json.loads(out.stdout.strip().splitlines()[-1])
    assert parsed == {"dags": ["hfinfer_post_training_deploy"], "errors": {}}


def test_post_training_dag_dry_run_renders_plan_and_manifests(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any Hub or cluster traffic goes to a closed loopback port, never outside.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HFINFER_OUT_DIR", str(tmp_path))
    monkeypatch.delenv("HFINFER_KUBE_CONN", raising=False)

    run = load_dag("hfinfer_post_training_deploy.py").test()

    assert run.state == "success", task_states(run)
    written = tmp_path / "hfinfer_post_training_deploy.llama3-8b-chat.yaml"
    manifests = list(yaml.safe_load_all(written.read_text()))
    assert [doc["kind"] for doc in manifests] == ["Service", "Deployment", "ScaledObject"]
    args = manifests[1]["spec"]["template"]["spec"]["containers"][0]["args"]
    # The model id and revision came from the upstream task through templating.
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert args[args.index("--revision") + 1] == "main"


@pytest.mark.parametrize(
    "filename",
    ["hfinfer_batch_inference.py", "hfinfer_scheduled_rollout.py", "hfinfer_ttl_cleanup.py"],
)
def test_other_examples_succeed_in_dry_run_without_a_cluster(
    airflow_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filename: str
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HFINFER_OUT_DIR", str(tmp_path))
    monkeypatch.delenv("HFINFER_KUBE_CONN", raising=False)

    run = load_dag(filename).test()

    assert run.state == "success", task_states(run)
    assert set(task_states(run).values()) == {"success"}
