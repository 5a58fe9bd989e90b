"""The sensor, the polling trigger and the complete operator on the runai backend."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fakerunai import FakeRunai

from airflow_provider_hfinfer.operators import HFInferenceCompleteOperator
from airflow_provider_hfinfer.sensors.readiness import InferenceReadySensor
from airflow_provider_hfinfer.triggers.events import ReadinessEvent
from airflow_provider_hfinfer.triggers.runai import RunaiReadyTrigger, next_interval

from .test_operators import PROJECT, annotations, create_op, output, result_of


def sensor(conn_id: str, **kwargs: Any) -> InferenceReadySensor:
    params: dict[str, Any] = {
        "task_id": "ready",
        "name": "llama",
        "namespace": PROJECT,
        "runai_conn_id": conn_id,
        "poke_interval": 0.01,
        "timeout": 10,
    }
    params.update(kwargs)
    return InferenceReadySensor(**params)


def submit(fake: FakeRunai, conn_id: str, run_task: Any, steps: list[dict[str, Any]]) -> None:
    fake.script("llama", steps)
    assert run_task(lambda: create_op(conn_id)).state == "success"


@pytest.mark.parametrize("deferrable", [False, True])
def test_the_sensor_succeeds_once_run_ai_reports_it_running(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any, deferrable: bool
) -> None:
    submit(
        fake_runai,
        runai_conn_id,
        run_task,
        [{"phase": "Creating"}, {"phase": "Initializing"}, {"phase": "Running", "runningPods": 1}],
    )
    run = run_task(lambda: sensor(runai_conn_id, deferrable=deferrable))
    assert run.state == "success"
    result = result_of(run, "ready")
    assert (result["phase"], result["reason"], result["ready_replicas"]) == (
        "Ready",
        "Available",
        1,
    )


@pytest.mark.parametrize("deferrable", [False, True])
def test_the_sensor_fails_fast_with_the_mapped_reason(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    deferrable: bool,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    submit(
        fake_runai,
        runai_conn_id,
        run_task,
        [{"phase": "Creating"}, {"phase": "Failed", "phaseMessage": "OOMKilled"}],
    )
    run = run_task(lambda: sensor(runai_conn_id, deferrable=deferrable, retries=0))
    assert run.state == "failed"
    assert "[OOMKilled] team-a/llama" in output(capsys, caplog)


def test_the_sensor_takes_the_backend_from_the_create_tasks_xcom(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    submit(fake_runai, runai_conn_id, run_task, [{"phase": "Running", "runningPods": 1}])
    xcom = {"name": "llama", "namespace": PROJECT, "backend": "runai"}
    run = run_task(
        lambda: InferenceReadySensor(
            task_id="ready", workload_xcom=xcom, runai_conn_id=runai_conn_id, poke_interval=0.01
        )
    )
    assert run.state == "success"


def test_proxy_verification_is_refused_for_run_ai() -> None:
    with pytest.raises(ValueError, match="does not reach a Run:ai workload"):
        InferenceReadySensor(
            task_id="ready", name="x", namespace="p", runai_conn_id="r", verify_endpoint="proxy"
        )


def test_grace_periods_per_failure_class_are_refused_for_run_ai() -> None:
    with pytest.raises(ValueError, match="with backend='runai' leave grace_periods out"):
        InferenceReadySensor(
            task_id="ready",
            name="x",
            namespace="p",
            runai_conn_id="r",
            grace_periods={"image-not-found": 30},
        )
    # the one grace period still applies
    assert (
        InferenceReadySensor(
            task_id="ready", name="x", namespace="p", runai_conn_id="r", grace_period=30
        ).grace_period
        == 30
    )


def test_the_trigger_serializes_to_primitives_and_round_trips() -> None:
    trigger = RunaiReadyTrigger(
        "llama",
        PROJECT,
        "runai_prod",
        workload_id="w-1",
        written_at="2026-05-01T12:00:00+00:00",
        timeout=60,
        started_at=1000.0,
        min_ready_replicas=2,
        accept_scaled_to_zero=True,
        poll_interval=2,
        max_interval=30,
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_hfinfer.triggers.runai.RunaiReadyTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = RunaiReadyTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert "secret" not in json.dumps(kwargs).lower()


def test_the_wait_between_looks_doubles_while_nothing_changes() -> None:
    waits, current = [], 5.0
    for changed in (True, False, False, False, False, True, False):
        current = next_interval(current, changed, first=5.0, cap=60.0)
        waits.append(current)
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 5.0, 10.0]


def test_the_trigger_backs_off_and_emits_one_event(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    loading = [{"phase": "Initializing", "runningPods": 1}] * 6
    submit(fake_runai, runai_conn_id, run_task, [*loading, {"phase": "Running", "runningPods": 1}])
    trigger = RunaiReadyTrigger(
        "llama", PROJECT, runai_conn_id, timeout=30, poll_interval=0.01, max_interval=0.08
    )

    async def events() -> list[Any]:
        return [event async for event in trigger.run()]

    before = len(fake_runai.requests)
    [event] = asyncio.run(events())
    outcome = ReadinessEvent.from_payload(event.payload)
    assert (outcome.status, outcome.phase, outcome.reason) == ("ready", "Ready", "Available")
    status_reads = [
        r
        for r in fake_runai.requests[before:]
        if r.path.startswith("/api/v1/workloads/") and "/inferences/" not in r.path
    ]
    # One status read per look (the first look also finds the workload by name once).
    assert trigger.looks == len(status_reads) >= 5
    assert len(fake_runai.sent("GET", "/api/v1/workloads/inferences/")) == 1


def test_the_trigger_times_out_with_the_last_message(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    submit(fake_runai, runai_conn_id, run_task, [{"phase": "Pending", "phaseMessage": "no GPU"}])
    trigger = RunaiReadyTrigger("llama", PROJECT, runai_conn_id, timeout=0.2, poll_interval=0.05)

    async def first() -> Any:
        async for event in trigger.run():
            return event
        return None

    outcome = ReadinessEvent.from_payload(asyncio.run(first()).payload)
    assert outcome.status == "timeout" and "not ready after 0s: Run:ai Pending" in outcome.message
    assert "no GPU" in outcome.message


def test_complete_marks_the_run_ai_workload_and_auto_delete_0_deletes_it(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    submit(fake_runai, runai_conn_id, run_task, [{"phase": "Running", "runningPods": 1}])

    def complete() -> HFInferenceCompleteOperator:
        return HFInferenceCompleteOperator(
            task_id="complete", name="llama", namespace=PROJECT, runai_conn_id=runai_conn_id
        )

    run = run_task(complete)
    assert run.state == "success"
    marks = annotations(fake_runai)
    assert marks["hfinfer.io/phase"] == "Completed" and "hfinfer.io/finished-at" in marks
    assert result_of(run, "complete")["marked"] == ["InferenceWorkload/llama"]


def test_complete_with_auto_delete_0_deletes_the_run_ai_workload(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    from .test_operators import WORKLOAD

    fake_runai.script("llama", [{"phase": "Running", "runningPods": 1}])
    workload = {**WORKLOAD, "auto_delete_after": 0}
    assert run_task(lambda: create_op(runai_conn_id, workload=workload)).state == "success"
    run = run_task(
        lambda: HFInferenceCompleteOperator(
            task_id="complete", name="llama", namespace=PROJECT, runai_conn_id=runai_conn_id
        )
    )
    assert run.state == "success"
    assert fake_runai.named("llama") == []
    assert result_of(run, "complete")["deleted"] == ["InferenceWorkload/llama"]


def test_cleanup_deletes_expired_run_ai_workloads_only(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    from datetime import datetime, timedelta, timezone

    from airflow_provider_hfinfer.operators import HFInferenceCleanupOperator

    from .test_operators import WORKLOAD

    for name in ("llama", "mistral"):
        fake_runai.script(name, [{"phase": "Running", "runningPods": 1}])
        workload = {**WORKLOAD, "name": name, "auto_delete_after": 60}
        assert run_task(lambda w=workload: create_op(runai_conn_id, workload=w)).state == "success"
    foreign = fake_runai.add_foreign("web", "4")
    done = run_task(
        lambda: HFInferenceCompleteOperator(
            task_id="complete", name="llama", namespace=PROJECT, runai_conn_id=runai_conn_id
        )
    )
    assert done.state == "success"
    later = datetime.now(timezone.utc) + timedelta(minutes=2)
    run = run_task(
        lambda: HFInferenceCleanupOperator(
            task_id="cleanup",
            namespaces=[PROJECT],
            runai_conn_id=runai_conn_id,
            clock=lambda: later,
        )
    )
    assert run.state == "success"
    assert result_of(run, "cleanup") == [f"{PROJECT}/llama"]
    assert fake_runai.named("llama") == [] and len(fake_runai.named("mistral")) == 1
    assert foreign.id in fake_runai.workloads


def test_cleanup_on_run_ai_needs_the_projects(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    from airflow_provider_hfinfer.operators import HFInferenceCleanupOperator

    run = run_task(
        lambda: HFInferenceCleanupOperator(task_id="cleanup", runai_conn_id=runai_conn_id)
    )
    assert run.state == "failed"
