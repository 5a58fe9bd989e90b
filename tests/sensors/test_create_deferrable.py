"""HFInferenceCreateOperator with ``deferrable=True``: apply, defer to the trigger, finish."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet
from test_readiness_sensor import on_first_watch

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

NS = "ml"
WORKLOAD: dict[str, Any] = {
    "name": "llama",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"},
    "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
    "replicas": {"min": 1, "max": 1},
}


def create_op(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": WORKLOAD,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "preflight": "off",
        "wait_for_ready": True,
        "deferrable": True,
        "timeout": 20,
        "retries": 0,
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def results(run: Any) -> list[dict[str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(
            run_id=run.run_id, task_id="deploy", key="return_value"
        )
        values = [row.value for row in rows]
    return [json.loads(value) if isinstance(value, str) else value for value in values]


def test_deferrable_create_returns_the_same_result_once_ready(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet, run_task: Any
) -> None:
    on_first_watch(fake_kube, lambda: kubelet.rollout("llama"), watches=4)
    run = run_task(lambda: create_op(fake_kube_conn_id))
    assert run.state == "success"
    [result] = results(run)
    assert (result["name"], result["namespace"]) == ("llama", NS)
    assert result["endpoint_url"].endswith("/v1") and "Deployment/llama" in result["objects"]
    # The wait happened in the trigger, by watching (not by polling the Deployment).
    assert fake_kube.requests.count(verb="watch") == 4
    assert fake_kube.requests.count("GET", r"/deployments/llama$") <= 2  # ownership check


def test_deferrable_create_fails_with_the_reason_and_marks_the_workload(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubelet.start("oom", delay=0.3)
    run = run_task(lambda: create_op(fake_kube_conn_id))
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert run.state == "failed"
    assert "[OOMKilled]" in text and "raise the memory limit" in text
    deployment = fake_kube.get_object("apps/v1", "deployments", NS, "llama")
    assert deployment is not None
    annotations = deployment["metadata"]["annotations"]
    assert annotations["hfinfer.io/phase"] == "Failed"
    assert "OOMKilled" in annotations["hfinfer.io/finish-reason"]


def test_deferrable_create_of_a_scale_to_zero_workload_held_at_zero_succeeds(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet, run_task: Any
) -> None:
    spec = {
        **WORKLOAD,
        "replicas": {"min": 0, "max": 2},
        "autoscaling": {"metric": "concurrency", "threshold": 8},
        "scale_to_zero": {"idle_seconds": 600},
    }
    on_first_watch(fake_kube, lambda: kubelet.scale_to_zero("llama"), watches=4)
    run = run_task(lambda: create_op(fake_kube_conn_id, workload=spec))
    assert run.state == "success"
    [result] = results(run)
    # The interceptor serves it; the Host header to send comes with the result.
    assert result["endpoint_host"] == "llama.ml.svc.cluster.local"
