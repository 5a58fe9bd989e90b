"""Rollouts with HFInferenceUpdateOperator through dag.test() against the fake cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lifecycle_support import NS, task_output, xcom_values

from airflow_provider_hfinfer.lifecycle import APPLIED_SPEC_ANNOTATION
from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator

TOKEN = "hf_RolloutSecretToken77"


def spec(revision: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "llama",
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": revision},
        "hf_access": {"type": "token", "token": TOKEN},
        "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
        "replicas": {"min": 1, "max": 1},
        "auto_delete_after": "1h",
        **extra,
    }


def update_op(conn_id: str, revision: str, **kwargs: Any) -> HFInferenceUpdateOperator:
    params: dict[str, Any] = {
        "task_id": "rollout",
        "workload": spec(revision, **kwargs.pop("spec_extra", {})),
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "preflight": "off",
        "timeout": 10,
        "poll_interval": 0.05,
    }
    params.update(kwargs)
    return HFInferenceUpdateOperator(**params)


def deployment(cluster: Any) -> dict[str, Any]:
    found = cluster.get_object("apps/v1", "deployments", NS, "llama")
    assert found is not None
    return found


def served_revision(cluster: Any) -> str:
    args = deployment(cluster)["spec"]["template"]["spec"]["containers"][0]["args"]
    return str(args[args.index("--revision") + 1])


def by_revision(deploy: dict[str, Any]) -> str:
    """Kubelet policy: revisions named 'broken*' crash, 'nogpu*' cannot be scheduled."""
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    revision = args[args.index("--revision") + 1]
    if revision.startswith("broken"):
        return "crash"
    if revision.startswith("nogpu"):
        return "unschedulable"
    return "ready"


@pytest.fixture
def serving_r1(cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any) -> Any:
    """Revision r1 deployed and ready; the kubelet follows every new generation."""
    kubelet.start(by_revision)
    run = run_task(lambda: update_op(fake_kube_conn_id, "r1"))
    assert run.state == "success"
    assert served_revision(cluster) == "r1"
    return cluster


def test_update_to_a_new_revision_patches_objects_and_waits_until_ready(
    serving_r1: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    before = deployment(serving_r1)
    serving_r1.requests.clear()
    run = run_task(lambda: update_op(fake_kube_conn_id, "r2"))
    assert run.state == "success"
    after = deployment(serving_r1)
    assert served_revision(serving_r1) == "r2"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # patched, not recreated
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    status = after["status"]
    assert status["observedGeneration"] == after["metadata"]["generation"]
    assert status["readyReplicas"] == status["updatedReplicas"] == 1
    # Server-side applies only, no create/replace; the recorded spec is the new one, no token.
    assert {r.verb for r in serving_r1.requests.filter(is_write=True)} <= {"apply", "patch"}
    recorded = after["metadata"]["annotations"][APPLIED_SPEC_ANNOTATION]
    assert json.loads(recorded)["model"]["revision"] == "r2" and TOKEN not in recorded
    [result] = xcom_values(run, "rollout")
    assert result["changed"] is True and result["previous_revision"] == "r1"


def test_broken_revision_rolls_back_and_fails_with_the_reason(
    serving_r1: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_before = serving_r1.get_object("v1", "secrets", NS, "llama-hf-token")
    run = run_task(lambda: update_op(fake_kube_conn_id, "broken-r2"))
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "revision broken-r2 of meta-llama/Llama-3.1-8B-Instruct failed (CrashLoopBackOff)" in (
        output
    )
    assert "Rolled back to revision r1" in output
    assert served_revision(serving_r1) == "r1"
    annotations = deployment(serving_r1)["metadata"]["annotations"]
    assert json.loads(annotations[APPLIED_SPEC_ANNOTATION])["model"]["revision"] == "r1"
    # The rollback kept the Secret (the redacted spec never writes a token) and did not
    # mark the still-serving workload finished.
    secret_after = serving_r1.get_object("v1", "secrets", NS, "llama-hf-token")
    assert secret_after["data"] == secret_before["data"]
    assert "hfinfer.io/phase" not in annotations
    assert TOKEN not in output


def test_unchanged_spec_is_a_no_op_without_writes(
    serving_r1: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    serving_r1.requests.clear()
    run = run_task(lambda: update_op(fake_kube_conn_id, "r1"))
    assert run.state == "success"
    assert serving_r1.requests.writes == 0
    assert serving_r1.requests.count(verb="get") >= 1  # it did look
    [result] = xcom_values(run, "rollout")
    assert result["changed"] is False


def test_surge_pod_without_gpu_points_to_recreate(
    serving_r1: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: update_op(fake_kube_conn_id, "nogpu-r2", timeout=1.0))
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "failed (Unschedulable)" in output
    assert "update_strategy: Recreate" in output
    assert served_revision(serving_r1) == "r1"


def test_rollout_that_drops_the_autoscaler_prunes_it(
    cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    kubelet.start(by_revision)
    scaled = {
        "replicas": {"min": 1, "max": 3},
        "autoscaling": {"metric": "concurrency", "threshold": 8},
    }
    assert run_task(lambda: update_op(fake_kube_conn_id, "r1", spec_extra=scaled)).state == (
        "success"
    )
    assert cluster.get_object("keda.sh/v1alpha1", "scaledobjects", NS, "llama") is not None
    assert run_task(lambda: update_op(fake_kube_conn_id, "r2")).state == "success"
    assert cluster.get_object("keda.sh/v1alpha1", "scaledobjects", NS, "llama") is None


def test_killed_rollout_rolls_back_to_the_previous_spec(
    serving_r1: Any, fake_kube_conn_id: str
) -> None:
    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.spec import InferenceWorkload

    operator = update_op(fake_kube_conn_id, "r2").prepare_for_execution()
    previous = InferenceWorkload.parse(spec("r1"))
    new = InferenceWorkload.parse(spec("r2"))
    # The state of a rollout in flight: r2 applied, r1 recorded as the way back.
    operator.hook.apply(operator._render_spec(new, RenderOptions(), "dag/rollout/run"))
    assert served_revision(serving_r1) == "r2"
    operator._rollback_to = (
        previous,
        operator._render_spec(previous, RenderOptions(), "dag/rollout/run"),
        "dag/rollout/run",
    )
    operator._in_flight = ("llama", ["Deployment/llama"])
    operator.on_kill()
    assert served_revision(serving_r1) == "r1"
    assert "hfinfer.io/phase" not in deployment(serving_r1)["metadata"]["annotations"]
