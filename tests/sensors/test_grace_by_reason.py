"""Through ``dag.test()``: a failure only a user can fix ends within its own grace period.

The fake kubelet stamps each outcome as if it had lasted a while already
(``rollout(ago=...)``), so a grace period of minutes is reached without
waiting for it. The sensor keeps its default ``grace_period`` (15 minutes):
what ends the wait early is the failure's class, not a shortened argument.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow_fixtures import captured_log as _log
from fakekube import FakeKubeServer
from fakekube.kubelet import FakeKubelet, sample_deployment

from airflow_provider_hfinfer.sensors import InferenceReadySensor

NS = "ml"

NEVER_HEALS = [
    # (outcome, reason, documented grace in seconds, what the message says)
    ("image_pull", "ImagePullBackOff", 60, "the image does not exist"),
    ("unfittable", "Unschedulable", 120, "no node can ever fit it"),
    ("undeclared_quota", "QuotaExceeded", 60, "the pod must declare what the quota limits"),
]
HEALS = [
    ("registry_down", "ImagePullBackOff", "the registry may recover"),
    ("unschedulable", "Unschedulable", "capacity may free up"),
    ("quota", "QuotaExceeded", "quota may free up"),
]
CPU_QUOTA = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "project-quota", "namespace": NS},
    "spec": {"hard": {"requests.cpu": "64", "requests.memory": "512Gi"}},
}


def _sensor(conn_id: str, deferrable: bool) -> InferenceReadySensor:
    return InferenceReadySensor(
        task_id="wait",
        name="llama",
        namespace=NS,
        kubernetes_conn_id=conn_id,
        poke_interval=0.2,
        timeout=4,
        deferrable=deferrable,
        retries=0,
    )


def _stage(fake: FakeKubeServer, kubelet: FakeKubelet, outcome: str, ago: float) -> None:
    fake.put_object(sample_deployment("llama", NS))
    if outcome == "undeclared_quota":
        # The real rule, not a scripted outcome: the namespace's quota limits
        # requests.cpu, the pod declares none, so the ReplicaSet is refused.
        fake.put_object(CPU_QUOTA)
        outcome = "ready"
    kubelet.rollout("llama", outcome=outcome, ago=ago)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(("outcome", "reason", "grace", "says"), NEVER_HEALS)
def test_a_failure_only_a_user_can_fix_fails_within_its_grace(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    outcome: str,
    reason: str,
    grace: int,
    says: str,
    deferrable: bool,
) -> None:
    _stage(fake_kube, kubelet, outcome, ago=grace + 5)

    run = run_task(lambda: _sensor(fake_kube_conn_id, deferrable))

    text = _log(capsys, caplog)
    assert run.state == "failed"
    assert f"[{reason}] ml/llama: 0/1 ready" in text
    assert f"[{says}: past the {grace // 60}m00s grace period]" in text
    assert "Sensor has timed out" not in text and "AirflowSensorTimeout" not in text


@pytest.mark.parametrize(("outcome", "reason", "says"), HEALS)
def test_a_failure_that_can_heal_is_still_waited_on_at_the_same_age(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    outcome: str,
    reason: str,
    says: str,
) -> None:
    _stage(fake_kube, kubelet, outcome, ago=125)

    run = run_task(lambda: _sensor(fake_kube_conn_id, deferrable=False))

    text = _log(capsys, caplog)
    assert run.state == "failed"  # by the sensor's own 4 s timeout, not by the reason
    assert "AirflowSensorTimeout" in text or "Sensor has timed out" in text
    assert f"({reason})" in text
    assert f"[{says}: waiting up to 15m00s]" in text
    assert f"[{reason}] ml/llama" not in text


def test_an_override_lets_a_user_wait_longer_for_one_class(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _stage(fake_kube, kubelet, "image_pull", ago=65)

    run = run_task(
        lambda: InferenceReadySensor(
            task_id="wait",
            name="llama",
            namespace=NS,
            kubernetes_conn_id=fake_kube_conn_id,
            grace_periods={"image-not-found": 600},
            poke_interval=0.2,
            timeout=2,
            retries=0,
        )
    )

    text = _log(capsys, caplog)
    assert run.state == "failed"
    assert "[the image does not exist: waiting up to 10m00s]" in text
    assert "[ImagePullBackOff] ml/llama" not in text


def test_an_unknown_class_is_refused_when_the_dag_is_built() -> None:
    with pytest.raises(ValueError, match=r"grace_periods: unknown failure class 'image'"):
        InferenceReadySensor(task_id="wait", name="llama", grace_periods={"image": 60})


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
@pytest.mark.parametrize(
    ("overrides", "reason"), [({}, "Timeout"), ({"image-not-found": 0}, "ImagePullBackOff")]
)
def test_the_create_operator_waits_with_the_same_grace_periods(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    deferrable: bool,
    overrides: dict[str, float],
    reason: str,
) -> None:
    from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

    fake_kube.create_namespace(NS)
    kubelet.start("image_pull")
    run = run_task(
        lambda: HFInferenceCreateOperator(
            task_id="deploy",
            workload={"name": "llama", "model": "org/m", "compute": {"gpus": 1}},
            namespace=NS,
            kubernetes_conn_id=fake_kube_conn_id,
            preflight="off",
            wait_for_ready=True,
            deferrable=deferrable,
            grace_periods=overrides,
            poll_interval=0.2,
            timeout=3,
            on_failure="keep",
            retries=0,
        )
    )
    text = _log(capsys, caplog)
    assert run.state == "failed"
    assert f"WorkloadError: [{reason}]" in text, text[-3000:]


def test_the_deploy_operators_refuse_an_unknown_class_and_any_on_run_ai() -> None:
    from airflow_provider_hfinfer.operators import HFInferenceCreateOperator

    spec = {"name": "llama", "model": "org/m"}
    with pytest.raises(ValueError, match=r"grace_periods: unknown failure class 'image'"):
        HFInferenceCreateOperator(
            task_id="d", workload=spec, namespace=NS, grace_periods={"image": 60}
        )
    with pytest.raises(ValueError, match=r"with backend='runai' leave grace_periods out"):
        HFInferenceCreateOperator(
            task_id="d",
            workload=spec,
            namespace=NS,
            runai_conn_id="r",
            grace_periods={"capacity": 60},
        )
