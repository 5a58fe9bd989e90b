"""Stuck is told apart from slow: a phase without progress is a warning with its cause.

Through dag.test(), against the fake cluster whose simulated kubelet stops a pod
in one phase: an image pull that never finishes and a weights download that
never ends. The sensor warns once with the phase and the likely cause, and its
failure names the phase it failed in and after how long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from airflow_fixtures import captured_log as logged
from fakekube import FakeKubeServer
from fakekube.kubelet import sample_deployment
from fakekube.schedule import PhaseSchedule, ScheduledKubelet

from airflow_provider_hfinfer.sensors import InferenceReadySensor

NS = "ml"
NAME = "llama3-8b-chat"
IMAGE = "vllm/vllm-openai:v0.6.4"
STUCK_PULL = PhaseSchedule(scheduled=0, pulling=0, pulled=None)
STUCK_DOWNLOAD = PhaseSchedule(scheduled=0, pulling=0, pulled=0.5, started=1, loading=None)


def play(fake: FakeKubeServer, schedule: PhaseSchedule) -> ScheduledKubelet:
    fake.create_namespace(NS)
    fake.put_object(sample_deployment(NAME, NS, image=IMAGE))
    kubelet = ScheduledKubelet(fake, NS, [schedule])
    kubelet.rollout(NAME, outcome="scheduled")
    return kubelet


@pytest.fixture
def fast_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("airflow_provider_hfinfer.deploy.coldstart.LOG_INTERVAL_SECONDS", 0.2)
    yield


def wait(conn_id: str, **kwargs: Any) -> InferenceReadySensor:
    params: dict[str, Any] = {
        "task_id": "wait",
        "name": NAME,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "poke_interval": 0.2,
        "timeout": 4,
        "stall_after": 1.5,
        "retries": 0,
    }
    params.update(kwargs)
    return InferenceReadySensor(**params)


def test_a_stuck_image_pull_is_a_warning_with_the_registry_as_cause(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubelet = play(fake_kube, STUCK_PULL)
    try:
        run = run_task(lambda: wait(fake_kube_conn_id))
    finally:
        kubelet.stop()
    text = logged(capsys, caplog)
    assert run.state == "failed"
    assert f"{NAME}: pulling image {IMAGE} (" in text
    warning = f"{NAME}: no progress pulling image {IMAGE} for "
    assert text.count(warning) == 1, text[-2000:]  # once, not on every poke
    assert "likely cause: image pull from a slow registry" in text
    assert f"(failed while pulling image {IMAGE}, after " in text


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_stuck_download_is_a_warning_naming_the_missing_token(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    run_task: Any,
    fast_logs: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    deferrable: bool,
) -> None:
    kubelet = play(fake_kube, STUCK_DOWNLOAD)
    try:
        run = run_task(lambda: wait(fake_kube_conn_id, deferrable=deferrable, timeout=5))
    finally:
        kubelet.stop()
    text = logged(capsys, caplog)
    assert run.state == "failed"
    assert f"{NAME}: downloading weights (" in text, text[-3000:]
    warnings = text.count(f"{NAME}: no progress downloading weights")
    # Once per waiter: deferred, the worker's first poke and then the trigger may each warn.
    assert 1 <= warnings <= (2 if deferrable else 1), text[-3000:]
    assert "likely cause: no HF_TOKEN: anonymous Hub downloads are rate-limited" in text
    assert "(failed while downloading weights, after " in text


def test_a_healthy_start_within_the_limit_warns_of_nothing(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    run_task: Any,
    fast_logs: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    quick = PhaseSchedule(
        scheduled=0.2, pulling=0.2, pulled=0.6, started=0.8, loading=1.2, ready=1.6
    )
    kubelet = play(fake_kube, quick)
    try:
        run = run_task(lambda: wait(fake_kube_conn_id, stall_after=30))
    finally:
        kubelet.stop()
    text = logged(capsys, caplog)
    assert run.state == "success"
    assert "no progress" not in text
    assert f"{NAME}: serving (after " in text
