"""Rollouts with HFInferenceUpdateOperator through dag.test() against the fake cluster."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output
from lifecycle_support import NS, xcom_values

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION

TOKEN = "hf_RolloutSecretToken77"
ROTATED = "hf_RotatedSecretToken88"


@pytest.fixture(autouse=True)
def rollout_token_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A literal token is refused in DAG code; the DAGs template it from Variables."""
    monkeypatch.setenv("AIRFLOW_VAR_HF_ROLLOUT_TOKEN", TOKEN)
    monkeypatch.setenv("AIRFLOW_VAR_HF_ROTATED_TOKEN", ROTATED)


MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def spec(revision: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "llama",
        "model": {"id": MODEL, "revision": revision},
        "hf_access": {"type": "token", "token": "{{ var.value.hf_rollout_token }}"},
        "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
        "replicas": {"min": 1, "max": 1},
        "auto_delete_after": "1h",
        **extra,
    }


def parsed(revision: str) -> InferenceWorkload:
    """``spec(revision)`` as the task sees it once the token template is rendered."""
    return InferenceWorkload.parse(
        {**spec(revision), "hf_access": {"type": "token", "token": TOKEN}}
    )


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


def rollback_gets(outcome: str) -> Callable[[dict[str, Any]], str]:
    """Kubelet policy: :func:`by_revision`, but the rollback's r1 rollout gets ``outcome``."""
    r1_rollouts = 0

    def decide(deploy: dict[str, Any]) -> str:
        nonlocal r1_rollouts
        if by_revision(deploy) != "ready":
            return by_revision(deploy)
        r1_rollouts += 1
        return "ready" if r1_rollouts == 1 else outcome

    return decide


def rolled_back_generations(kubelet: Any) -> list[str]:
    """Outcomes of the kubelet rollouts after the failed one (the rollback's)."""
    outcomes = [outcome for _name, _gen, outcome in kubelet.rollouts]
    return outcomes[outcomes.index("crash") + 1 :]


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

    operator = update_op(fake_kube_conn_id, "r2").prepare_for_execution()
    previous = parsed("r1")
    new = parsed("r2")
    # The state of a rollout in flight: r2 applied, r1 recorded as the way back.
    operator.hook.apply(operator._plan(new, RenderOptions(), "dag/rollout/run").manifests)
    assert served_revision(serving_r1) == "r2"
    way_back = operator._plan(previous, RenderOptions(), "dag/rollout/run")
    operator.applied = AppliedWorkload(
        "llama", NS, ("Deployment/llama",), existed=True, rollback=way_back
    )
    operator.rollback_timeout = 600  # a kill must not sit out the rollback wait
    serving_r1.requests.clear()
    operator.on_kill()
    assert served_revision(serving_r1) == "r1"
    assert "hfinfer.io/phase" not in deployment(serving_r1)["metadata"]["annotations"]
    # Applied, not followed: no readiness poll (which lists pods) happened.
    assert serving_r1.requests.count(verb="list") == 0


RECREATE = {"update_strategy": "Recreate"}


def test_rollback_waits_until_the_previous_revision_serves_again(
    cluster: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Recreate: the failed rollout stopped the r1 pods, so they must start again. The
    # controller's lag leaves the Deployment showing the crash-looping revision for a
    # while after the rollback is applied; that stale verdict must not end the wait.
    kubelet.start(by_revision, delay=0.3)
    assert run_task(lambda: update_op(fake_kube_conn_id, "r1", spec_extra=RECREATE)).state == (
        "success"
    )
    capsys.readouterr()
    caplog.clear()
    run = run_task(
        lambda: update_op(
            fake_kube_conn_id, "broken-r2", spec_extra=RECREATE, timeout=30, rollback_timeout=30
        )
    )
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "revision broken-r2 of meta-llama/Llama-3.1-8B-Instruct failed (CrashLoopBackOff)" in (
        output
    )
    assert (
        "Rolled back to revision r1 of meta-llama/Llama-3.1-8B-Instruct; previous revision "
        "serving again (1/1 ready)"
    ) in output
    assert "not ready after" not in output
    # The task ended after the r1 rollout of the rollback was ready, not before it.
    assert rolled_back_generations(kubelet) == ["ready"]
    assert served_revision(cluster) == "r1"
    assert TOKEN not in output


@pytest.mark.parametrize(
    ("comes_back_as", "reason", "rollback_timeout", "longest"),
    [
        # Never terminal: the wait ends at rollback_timeout (1s; whole seconds reported).
        ("loading", "ModelLoading", 1.0, 2),
        # Terminal: reported as soon as the controller rolled r1 out, long before 60s.
        ("oom", "OOMKilled", 60.0, 30),
    ],
)
def test_rollback_whose_revision_does_not_serve_says_so(
    cluster: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    comes_back_as: str,
    reason: str,
    rollback_timeout: float,
    longest: int,
) -> None:
    kubelet.start(rollback_gets(comes_back_as))
    assert run_task(lambda: update_op(fake_kube_conn_id, "r1", spec_extra=RECREATE)).state == (
        "success"
    )
    capsys.readouterr()
    caplog.clear()
    run = run_task(
        lambda: update_op(
            fake_kube_conn_id,
            "broken-r2",
            spec_extra=RECREATE,
            timeout=30,
            rollback_timeout=rollback_timeout,
        )
    )
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "failed (CrashLoopBackOff)" in output
    found = re.search(
        r"Rolled back to revision r1 of \S+, but the previous revision is not ready after "
        rf"(\d+)s: {reason}: 0/1 ready",
        output,
    )
    assert found is not None, output
    assert int(found.group(1)) <= longest
    assert "serving again" not in output
    assert rolled_back_generations(kubelet) == [comes_back_as]
    assert served_revision(cluster) == "r1"


def test_without_rollback_a_failed_revision_stays_and_nothing_is_awaited(
    serving_r1: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    capsys.readouterr()
    caplog.clear()
    run = run_task(
        lambda: update_op(fake_kube_conn_id, "broken-r2", rollback=False, rollback_timeout=30)
    )
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "revision broken-r2 of meta-llama/Llama-3.1-8B-Instruct failed (CrashLoopBackOff)" in (
        output
    )
    assert "olled back" not in output and "previous revision" not in output
    assert served_revision(serving_r1) == "broken-r2"
    assert rolled_back_generations(kubelet) == []


@pytest.mark.parametrize("rollback_timeout", [-1, float("nan")])
def test_rollback_timeout_must_be_a_number_of_seconds(rollback_timeout: float) -> None:
    with pytest.raises(ValueError, match=r"rollback_timeout \(.*\) must be 0 or more seconds"):
        update_op("unused", "r1", rollback_timeout=rollback_timeout)


def test_a_rotated_token_alone_is_applied_to_the_secret(
    serving_r1: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    import base64

    rotated = ROTATED
    serving_r1.requests.clear()
    new_spec = spec("r1")
    new_spec["hf_access"] = {"type": "token", "token": "{{ var.value.hf_rotated_token }}"}
    run = run_task(lambda: update_op(fake_kube_conn_id, "r1", workload=new_spec))
    assert run.state == "success"
    [result] = xcom_values(run, "rollout")
    assert result.get("changed") is not False
    secrets = [
        obj
        for obj in serving_r1.list_objects("v1", "secrets", NS)
        if obj["metadata"]["name"].startswith("llama")
    ]
    [secret] = secrets
    assert base64.b64decode(next(iter(secret["data"].values()))).decode() == rotated
    assert served_revision(serving_r1) == "r1"
    assert rotated not in json.dumps(result)


@pytest.mark.parametrize(
    ("revision", "state", "served"), [("r2", "success", "r2"), ("broken-r2", "failed", "r1")]
)
def test_a_rollout_never_confirmed_is_followed_by_the_next_try(
    serving_r1: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    revision: str,
    state: str,
    served: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_hfinfer.spec.names import PREVIOUS_SPEC_ANNOTATION

    # A try that applied the new spec but never saw it serve (here: it did not wait;
    # in life: killed, or its deferral timed out) leaves the way back recorded.
    first = run_task(lambda: update_op(fake_kube_conn_id, revision, wait_for_ready=False))
    assert first.state == "success"
    assert PREVIOUS_SPEC_ANNOTATION in deployment(serving_r1)["metadata"]["annotations"]

    # The next try sees an unchanged spec, yet follows the rollout instead of a no-op.
    again = run_task(lambda: update_op(fake_kube_conn_id, revision))
    assert again.state == state
    assert served_revision(serving_r1) == served
    assert PREVIOUS_SPEC_ANNOTATION not in deployment(serving_r1)["metadata"]["annotations"]
    output = task_output(capsys, caplog)
    assert "was never confirmed: following it now" in output
    if state == "failed":
        assert "previous revision serving again" in output


def test_dry_run_of_an_update_reports_the_quota_failure_and_changes_nothing(
    serving_r1: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hard = {"requests.nvidia.com/gpu": "1"}
    serving_r1.put_object(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "project-quota", "namespace": NS},
            "spec": {"hard": hard},
            "status": {"hard": hard, "used": {"requests.nvidia.com/gpu": "1"}},
        }
    )
    run = run_task(lambda: update_op(fake_kube_conn_id, "r2", dry_run=True))
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "dry run: the real run would fail: [QuotaExceeded]" in output
    assert "requests.nvidia.com/gpu: requested 1, used 1, hard 1" in output
    assert served_revision(serving_r1) == "r1"
