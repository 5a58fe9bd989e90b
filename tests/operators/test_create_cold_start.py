"""The create operator tells where a cold start's minutes went, through dag.test().

The simulated kubelet walks the pod through every phase on a schedule (played
sixty times faster, stamped with the schedule's own times); the task logs one
line per phase and returns ``cold_start`` with the seconds per phase, within a
second of the schedule, whether it polls or defers to the trigger.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow_fixtures import captured_log as logged
from airflow_fixtures import xcom_result as result_of
from fakekube import FakeKubeServer
from fakekube.schedule import PhaseSchedule, ScheduledKubelet

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

NS = "ml"
NAME = "llama3-8b-chat"
IMAGE = "vllm/vllm-openai:v0.6.4"
WORKLOAD: dict[str, Any] = {
    "name": NAME,
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct"},
    "compute": {"gpus": 1},
}
SCHEDULE = PhaseSchedule()
PHASE_LINES = (
    f"{NAME}: scheduling (",
    f"{NAME}: pulling image {IMAGE} (",
    f"{NAME}: starting the container (",
    f"{NAME}: downloading weights (",
    f"{NAME}: loading the model (",
    f"{NAME}: serving (after ",
)


@pytest.fixture
def scheduled(
    fake_kube: FakeKubeServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ScheduledKubelet]:
    # The schedule plays 60 times faster than real time: so is the log read.
    monkeypatch.setattr("airflow_provider_hfinfer.deploy.coldstart.LOG_INTERVAL_SECONDS", 0.25)
    fake_kube.create_namespace(NS)
    kubelet = ScheduledKubelet(fake_kube, NS, [SCHEDULE], speed=60)
    kubelet.start("scheduled")
    try:
        yield kubelet
    finally:
        kubelet.stop()


def create(conn_id: str, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": WORKLOAD,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "preflight": "off",
        "wait_for_ready": True,
        "poll_interval": 0.1,
        "timeout": 60,
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def assert_matches_schedule(cold_start: dict[str, Any]) -> None:
    expected = SCHEDULE.expected()
    assert cold_start["phase"] == "Serving"
    assert set(cold_start["phases"]) == set(expected)
    for phase, seconds in expected.items():
        assert cold_start["phases"][phase] == pytest.approx(seconds, abs=1.0), phase
    assert cold_start["total_seconds"] == pytest.approx(SCHEDULE.end, abs=1.0)
    (pod,) = cold_start["pods"].values()
    assert pod == cold_start["phases"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferred"])
def test_a_deploy_through_every_phase_logs_each_and_returns_the_breakdown(
    fake_kube_conn_id: str,
    scheduled: ScheduledKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    deferrable: bool,
) -> None:
    run = run_task(lambda: create(fake_kube_conn_id, deferrable=deferrable))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    assert_matches_schedule(result_of(run)["cold_start"])
    positions = [text.find(line) for line in PHASE_LINES]
    assert -1 not in positions, [
        line for line, at in zip(PHASE_LINES, positions, strict=True) if at < 0
    ]
    assert positions == sorted(positions)  # in the order the pod went through them
    for line in PHASE_LINES[:-1]:
        assert text.count(line) == 1, line  # one line per phase change, not per poll
