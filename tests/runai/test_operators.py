"""Every operator with ``backend="runai"`` through dag.test() against the fake control plane."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from airflow_fixtures import captured_log as output
from airflow_fixtures import task_instance
from airflow_fixtures import xcom_result as result_of
from fakerunai import CLIENT_SECRET, FakeRunai

from airflow_provider_hfinfer.operators import (
    HFInferenceCreateOperator,
    HFInferenceDeleteOperator,
    HFInferenceUpdateOperator,
)
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION, OWNER_ANNOTATION

PROJECT = "team-a"

WORKLOAD: dict[str, Any] = {
    "name": "llama",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"},
    "hf_access": {"type": "existing_secret", "secret_name": "hf-token"},
    "compute": {"gpus": 2, "cpu": "4", "memory": "32Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "endpoint_access": {"mode": "groups", "groups": ["ml"]},
    "node_pools": ["a100", "h100"],
    "labels": {"team": "ml"},
}


def create_op(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": WORKLOAD,
        "namespace": PROJECT,
        "runai_conn_id": conn_id,
        "preflight": "off",
        "poll_interval": 0.01,
        "timeout": 10,
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def update_op(conn_id: str, revision: str, **kwargs: Any) -> HFInferenceUpdateOperator:
    workload = {**WORKLOAD, "model": {**WORKLOAD["model"], "revision": revision}}
    params: dict[str, Any] = {
        "task_id": "rollout",
        "workload": workload,
        "namespace": PROJECT,
        "runai_conn_id": conn_id,
        "preflight": "off",
        "poll_interval": 0.01,
        "timeout": 10,
        "rollback_timeout": 10,
        "retries": 0,
    }
    params.update(kwargs)
    return HFInferenceUpdateOperator(**params)


def xcom_values(run: Any) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return [row.value for row in session.query(XComModel).filter_by(run_id=run.run_id)]


def rendered_fields(run: Any) -> list[Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(run_id=run.run_id)
        return [row.rendered_fields for row in rows]


def annotations(fake: FakeRunai, name: str = "llama") -> dict[str, str]:
    return {a["name"]: a["value"] for a in fake.by_name(name).spec.get("annotations", [])}


def test_create_submits_one_run_ai_inference_and_returns_where_it_serves(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, wait_for_ready=True))
    assert run.state == "success"
    [workload] = fake_runai.named("llama")
    assert workload.project_id == "4"
    assert workload.spec["compute"]["gpuDevicesRequest"] == 2
    assert workload.spec["nodePools"] == ["a100", "h100"]
    assert workload.spec["servingPort"]["authorizedGroups"] == ["ml"]
    result = result_of(run)
    assert result["backend"] == "runai" and result["workload_id"] == workload.id
    assert result["endpoint_url"] == "https://llama-team-a.inference.example.com"
    assert result["objects"] == ["InferenceWorkload/llama"] and result["namespace"] == PROJECT
    assert annotations(fake_runai)[OWNER_ANNOTATION] == result["owner"]
    assert len(fake_runai.sent("POST", "/api/v1/workloads/inferences")) == 1
    # Names resolved once per task: one projects and one clusters listing.
    assert len(fake_runai.sent("GET", "/api/v1/org-unit/projects")) == 1


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        (
            [{"phase": "Failed", "phaseMessage": "container vllm: CrashLoopBackOff (exit 1)"}],
            "CrashLoopBackOff",
        ),
        (
            [
                {
                    "phase": "Failed",
                    "conditions": [{"type": "Ready", "status": "False", "reason": "OOMKilled"}],
                }
            ],
            "OOMKilled",
        ),
        (
            [
                {
                    "phase": "Initializing",
                    "age": 2000,
                    "conditions": [
                        {"type": "Ready", "status": "False", "reason": "ImagePullBackOff"}
                    ],
                }
            ],
            "ImagePullBackOff",
        ),
        ([{"phase": "Pending", "age": 2000}], "Unschedulable"),
        ([{"phase": "Pending", "age": 2000, "phaseReason": "OverLimit"}], "QuotaExceeded"),
        ([{"phase": "Stopped"}], "Stopped"),
    ],
)
def test_a_failed_wait_fails_the_task_with_the_mapped_reason_and_marks_it_failed(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    steps: list[dict[str, Any]],
    reason: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runai.script("llama", [{"phase": "Creating"}, *steps])
    run = run_task(lambda: create_op(runai_conn_id, wait_for_ready=True, retries=0))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert f"[{reason}]" in text
    marks = annotations(fake_runai)
    assert marks["hfinfer.io/phase"] == "Failed"  # on_failure='mark_failed': the TTL applies
    assert reason in marks["hfinfer.io/finish-reason"]


def test_a_first_deploy_that_fails_with_auto_delete_0_is_deleted(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    fake_runai.script("llama", [{"phase": "Failed", "phaseMessage": "OOMKilled"}])
    workload = {**WORKLOAD, "auto_delete_after": 0}
    run = run_task(
        lambda: create_op(runai_conn_id, workload=workload, wait_for_ready=True, retries=0)
    )
    assert run.state == "failed"
    assert fake_runai.named("llama") == []


def test_a_timeout_fails_with_the_last_status(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runai.script("llama", [{"phase": "Initializing", "runningPods": 1}])
    run = run_task(lambda: create_op(runai_conn_id, wait_for_ready=True, timeout=0.3, retries=0))
    assert run.state == "failed"
    assert "[Timeout] not ready after 0s: Run:ai Initializing" in output(capsys, caplog)


def test_a_retry_adopts_the_first_attempts_workload_without_a_duplicate(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Attempt 1 submits, then times out waiting; attempt 2 finds and follows the same one."""
    fake_runai.script("llama", [{"phase": "Initializing", "runningPods": 1}])
    stop = threading.Event()

    def control_plane() -> None:
        while not stop.is_set():  # the second attempt's name lookup: the model has loaded
            if (
                len(fake_runai.sent("GET", "/api/v1/workloads"))
                and len([r for r in fake_runai.sent("GET", "/api/v1/workloads") if r.query]) >= 2
            ):
                fake_runai.set_phase("llama", {"phase": "Running", "runningPods": 1})
                return
            time.sleep(0.01)

    thread = threading.Thread(target=control_plane, daemon=True)
    thread.start()
    try:
        run = run_task(
            lambda: create_op(
                runai_conn_id,
                wait_for_ready=True,
                timeout=0.5,
                retries=1,
                retry_delay=timedelta(0),
            )
        )
    finally:
        stop.set()
        thread.join(5)
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    assert "reconciling existing Run:ai workload llama" in text
    assert len(fake_runai.named("llama")) == 1
    assert len(fake_runai.sent("POST", "/api/v1/workloads/inferences")) == 1
    assert task_instance(run, "deploy").try_number == 2


def test_a_workload_someone_else_submitted_is_a_name_taken_error(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runai.add_foreign("llama", "4")
    run = run_task(lambda: create_op(runai_conn_id, if_exists="update"))
    assert run.state == "failed"
    assert "not managed by this provider: choose another workload name" in output(capsys, caplog)
    assert fake_runai.sent("POST", "/api/v1/workloads/inferences") == []
    assert fake_runai.sent("PATCH") == []


def test_forbidden_names_the_missing_permission(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runai.deny("POST /api/v1/workloads/inferences")
    run = run_task(lambda: create_op(runai_conn_id, retries=0))
    assert run.state == "failed"
    assert "may not create inference workloads in the project in project 'team-a'" in output(
        capsys, caplog
    )


def test_an_unknown_project_lists_the_known_ones(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, namespace="team-z", retries=0))
    assert run.state == "failed"
    assert "no Run:ai project 'team-z' (known: team-a, team-b)" in output(capsys, caplog)


def test_a_field_run_ai_cannot_express_fails_before_any_request(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    workload = {**WORKLOAD, "compute": {**WORKLOAD["compute"], "gpu_memory": "80Gi"}}
    run = run_task(lambda: create_op(runai_conn_id, workload=workload))
    assert run.state == "failed"
    assert "compute.gpu_memory (80Gi) has no Run:ai equivalent" in output(capsys, caplog)
    assert fake_runai.requests == []
    assert task_instance(run, "deploy").try_number == 1  # a spec error is not retried


def test_deferrable_create_waits_in_the_trigger_and_resumes(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, wait_for_ready=True, deferrable=True))
    assert run.state == "success"
    result = result_of(run)
    assert result["backend"] == "runai" and result["endpoint_url"]


def test_deferrable_create_fails_with_the_triggers_reason(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_runai.script(
        "llama",
        [{"phase": "Initializing"}, {"phase": "Failed", "phaseMessage": "CrashLoopBackOff"}],
    )
    run = run_task(
        lambda: create_op(runai_conn_id, wait_for_ready=True, deferrable=True, retries=0)
    )
    assert run.state == "failed"
    assert "[CrashLoopBackOff]" in output(capsys, caplog)
    assert annotations(fake_runai)["hfinfer.io/phase"] == "Failed"


def test_dry_run_prints_the_exact_request_body_and_sends_no_write(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, dry_run=True))
    assert run.state == "success"
    result = result_of(run)
    body = result["request"]
    assert body["name"] == "llama" and body["projectId"] == "4"
    assert body["spec"]["environmentVariables"][-1] == {
        "name": "HF_TOKEN",
        "secret": {"name": "hf-token", "key": "HF_TOKEN"},
    }
    text = output(capsys, caplog)
    assert "the real run would send POST /api/v1/workloads/inferences" in text
    assert '"gpuDevicesRequest": 2' in text
    assert "the real run would create InferenceWorkload/llama" in text
    assert [r.method for r in fake_runai.requests if r.path != "/api/v2/token"] == ["GET"] * 3


def test_dry_run_without_a_connection_renders_with_placeholders(
    run_task: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run = run_task(lambda: create_op("no_such_runai", dry_run=True))
    assert run.state == "success"
    assert result_of(run)["request"]["projectId"] == "<id of project team-a>"


def test_update_rolls_a_new_revision_out(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    run = run_task(lambda: update_op(runai_conn_id, "v2"))
    assert run.state == "success"
    workload = fake_runai.by_name("llama")
    assert "--revision v2" in workload.spec["args"]
    result = result_of(run, "rollout")
    assert result["changed"] is True and result["previous_revision"] == "main"
    [patch] = fake_runai.sent("PATCH")
    assert set(json.loads(patch.body)) == {"spec"}


def test_an_unchanged_spec_is_a_no_op(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id)).state == "success"
    run = run_task(lambda: update_op(runai_conn_id, "main"))
    assert run.state == "success"
    assert result_of(run, "rollout")["changed"] is False
    assert fake_runai.sent("PATCH") == []


def test_a_failed_update_rolls_back_to_the_recorded_spec(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    fake_runai.script_update(
        "llama",
        [{"phase": "Updating"}, {"phase": "Failed", "phaseMessage": "CrashLoopBackOff"}],
    )
    run = run_task(lambda: update_op(runai_conn_id, "v2"))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert "revision v2 of meta-llama/Llama-3.1-8B-Instruct failed (CrashLoopBackOff)" in text
    assert (
        "Rolled back to revision main of meta-llama/Llama-3.1-8B-Instruct; previous "
        "revision serving again" in text
    )
    workload = fake_runai.by_name("llama")
    assert "--revision main" in workload.spec["args"]
    assert '"revision":"main"' in annotations(fake_runai)[APPLIED_SPEC_ANNOTATION]
    assert len(fake_runai.sent("PATCH")) == 2


def test_update_with_rollback_false_leaves_the_failed_revision(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    fake_runai.script_update("llama", [{"phase": "Failed", "phaseMessage": "OOMKilled"}])
    run = run_task(lambda: update_op(runai_conn_id, "v2", rollback=False))
    assert run.state == "failed"
    assert "--revision v2" in fake_runai.by_name("llama").spec["args"]


def test_delete_removes_the_workload_and_succeeds_twice(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id)).state == "success"
    foreign = fake_runai.add_foreign("llama-web", "4")

    def delete_op(name: str = "llama") -> HFInferenceDeleteOperator:
        return HFInferenceDeleteOperator(
            task_id="delete", name=name, namespace=PROJECT, runai_conn_id=runai_conn_id
        )

    first = run_task(delete_op)
    assert first.state == "success"
    assert fake_runai.named("llama") == []
    assert result_of(first, "delete") == ["InferenceWorkload/llama"]
    second = run_task(delete_op)
    assert second.state == "success" and result_of(second, "delete") == []
    assert run_task(lambda: delete_op("llama-web")).state == "success"
    assert foreign.id in fake_runai.workloads  # never ours: left untouched


def test_the_client_secret_and_tokens_appear_in_no_sink(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, wait_for_ready=True, deferrable=True))
    assert run.state == "success"
    text = output(capsys, caplog)
    secrets = [CLIENT_SECRET, *fake_runai.tokens]
    values = json.dumps(xcom_values(run), default=str)
    rendered = json.dumps(rendered_fields(run), default=str)
    assert "runai_conn_id" in rendered  # the rendered fields were stored and are searched
    for secret in secrets:
        assert secret not in text and secret not in values and secret not in rendered
    bodies = [r.body for r in fake_runai.requests if r.path != "/api/v2/token"]
    assert not any(CLIENT_SECRET in body for body in bodies)


def test_a_deferred_update_follows_the_new_revision_in_the_trigger(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    run = run_task(lambda: update_op(runai_conn_id, "v2", deferrable=True))
    assert run.state == "success"
    result = result_of(run, "rollout")
    assert result["changed"] is True and result["previous_revision"] == "main"
    assert "--revision v2" in fake_runai.by_name("llama").spec["args"]


def test_a_deferred_failed_update_rolls_back_and_follows_it_in_the_trigger(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    fake_runai.script_update(
        "llama", [{"phase": "Updating"}, {"phase": "Failed", "phaseMessage": "OOMKilled"}]
    )
    run = run_task(lambda: update_op(runai_conn_id, "v2", deferrable=True))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert "revision v2 of meta-llama/Llama-3.1-8B-Instruct failed (OOMKilled)" in text
    assert "previous revision serving again" in text
    assert "--revision main" in fake_runai.by_name("llama").spec["args"]
    assert text.count("running trigger in line") == 2  # the rollout, then the rollback


def test_a_create_sends_six_requests(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    """The README's figure: token, clusters, projects, the name lookup, the POST, one read."""
    assert run_task(lambda: create_op(runai_conn_id)).state == "success"
    workload_id = fake_runai.by_name("llama").id
    sent = [(r.method, r.path.replace(workload_id, "{id}")) for r in fake_runai.requests]
    assert sent == [
        ("POST", "/api/v2/token"),
        ("GET", "/api/v1/clusters"),
        ("GET", "/api/v1/org-unit/projects"),
        ("GET", "/api/v1/workloads"),
        ("POST", "/api/v1/workloads/inferences"),
        ("GET", "/api/v1/workloads/{id}"),
    ]


def test_an_update_that_never_serves_times_out_and_rolls_back(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, wait_for_ready=True)).state == "success"
    fake_runai.script_update("llama", [{"phase": "Updating", "runningPods": 1}])
    run = run_task(lambda: update_op(runai_conn_id, "v2", timeout=0.3))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert "failed (Timeout): not ready after 0s" in text
    assert "--revision main" in fake_runai.by_name("llama").spec["args"]
