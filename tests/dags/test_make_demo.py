"""``make demo`` as the README promises: a dry run without a cluster, a deployment with one.

The real mode runs against the fake cluster: ``HFINFER_KUBECONFIG`` names a
kubeconfig for the fake API server, which this test process serves (with the
fake kubelet, vLLM and Hub), while ``make`` runs ``airflow dags test`` in a
subprocess like a user's shell would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import NS, Cluster

from airflow_provider_hfinfer.spec.names import PHASE_ANNOTATION

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (REPO / ".venv" / "bin" / "airflow").exists(),
    reason="make demo needs make and the project's .venv (made by `make install`)",
)


def _make_demo(*args: str, hf_endpoint: str = "http://127.0.0.1:9", target: str = "demo") -> str:
    """Run ``make <target>`` with a clean environment; return its terminal output."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "HFINFER_", "KUBECONFIG")) and key != "HF_TOKEN"
    }
    env.update({"HF_ENDPOINT": hf_endpoint, "NO_PROXY": "127.0.0.1,localhost"})
    done = subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_make_demo_without_a_cluster_prints_the_plan_and_writes_manifests() -> None:
    out = _make_demo()
    assert "dry run (no HFINFER_KUBECONFIG given)" in out
    for line in (
        "Plan for workload 'llama3-8b-chat' in namespace 'runai-team-a'",
        "scaling    1..3 replicas",
        "deletion   1800s after completion or failure",
        "dry run: would wait until runai-team-a/llama3-8b-chat serves",
        "dry run: 3 manifests written to",
        "example DAG run: success",
    ):
        assert line in out
    dag_file = REPO / "out/hfinfer_post_training_deploy.llama3-8b-chat.yaml"
    kinds = [doc["kind"] for doc in yaml.safe_load_all(dag_file.read_text())]
    assert kinds == ["Service", "Deployment", "ScaledObject"]
    example = REPO / "out/every-field-example.llama3-8b-chat.yaml"
    assert "AuthorizationPolicy" in [doc["kind"] for doc in yaml.safe_load_all(example.read_text())]


def _lines_between(out: str, start: str, end: str) -> list[str]:
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines) if i > first and line.startswith(end))
    return lines[first + 1 : last]


def test_make_demo_is_quiet_and_labels_each_plan_with_its_source() -> None:
    out = _make_demo()
    lines = out.splitlines()
    # One line per step, no echoed command lines or environment, no warnings.
    steps = [line for line in lines if line.startswith("[")]
    assert [line[:5] for line in steps] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert not any("AIRFLOW_HOME=" in line or ".venv/bin" in line for line in lines)
    assert "Warning" not in out and "warning" not in out.lower().replace("[warning]", "")
    # Two plans, each once, each under a label naming where its workload comes from.
    example = _lines_between(out, "--- plan 1 of 2: the every-field example", "[3/4]")
    from_dag = _lines_between(out, "--- plan 2 of 2: the DAG's own workload", "--- what")
    assert sum("Plan for workload" in line for line in lines) == 2
    assert any("2 GPU" in line for line in example) and any("1..4" in line for line in example)
    assert any("1..3 replicas" in line for line in from_dag)


def test_make_demo_with_a_kubeconfig_deploys_for_real(cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(cluster.kube.kubeconfig_dict(NS)))

    out = _make_demo(
        f"HFINFER_KUBECONFIG={kubeconfig}", f"NAMESPACE={NS}", hf_endpoint=cluster.hub.url
    )

    assert f"deploying with {kubeconfig} to namespace {NS}" in out
    assert "dry run" not in out
    assert "smoke test answer: 'echo: Reply with the single word: ready.'" in out
    assert "marked Completed" in out and "example DAG run: success" in out
    objects = cluster.workload_objects("llama3-8b-chat")
    assert {obj["kind"] for obj in objects} == {"Service", "Deployment", "ScaledObject"}
    assert all(obj["metadata"]["annotations"][PHASE_ANNOTATION] == "Completed" for obj in objects)

    cleaned = _make_demo(f"HFINFER_KUBECONFIG={kubeconfig}", f"NAMESPACE={NS}", target="demo-clean")
    assert "deleted: ['ScaledObject/llama3-8b-chat'" in cleaned
    assert cluster.workload_objects("llama3-8b-chat") == []
