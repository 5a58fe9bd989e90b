"""InferenceReadySensor in poke and deferrable mode, and the create operator deferring.

Failure states come from the fake kubelet; deferrable runs either go through
``dag.test()`` (which runs the trigger inline) or are driven step by step the
way the triggerer and worker would: ``execute`` defers, the trigger runs, its
event goes to ``execute_complete``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred
from airflow_fixtures import captured_log as output
from fakekube import FakeKubeServer, ProxyRequest
from fakekube.kubelet import FakeKubelet, sample_deployment

from airflow_provider_hfinfer.sensors import InferenceReadySensor

NS = "ml"
MODEL = "llama-3.1-8b"
FAILURES = [
    ("crash", "CrashLoopBackOff"),
    ("oom", "OOMKilled"),
    ("unschedulable", "Unschedulable"),
    ("image_pull", "ImagePullBackOff"),
    ("quota", "QuotaExceeded"),
    ("progress_deadline", "ProgressDeadlineExceeded"),
]
GRACE = 0.5


def sensor(conn_id: str, **kwargs: Any) -> InferenceReadySensor:
    params: dict[str, Any] = {
        "task_id": "wait",
        "name": "llama",
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "grace_period": GRACE,
        "poke_interval": 0.1,
        "timeout": 10,
    }
    params.update(kwargs)
    return InferenceReadySensor(**params)


def serve(fake: FakeKubeServer, name: str = "llama", model: str = MODEL) -> list[str]:
    """A Service answered by a healthy vLLM through the API proxy; returns the paths asked."""
    fake.put_object(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8000}]},
        }
    )
    asked: list[str] = []

    def vllm(req: ProxyRequest) -> tuple[int, Any]:
        asked.append(req.path)
        if req.path == "/health":
            return 200, ""
        if req.path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": model, "object": "model"}]}
        return 404, {"detail": "Not Found"}

    fake.register_proxy(NS, name, vllm, port="http")
    return asked


def on_first_watch(fake: FakeKubeServer, action: Any, watches: int = 1) -> threading.Thread:
    """Run ``action`` once ``watches`` watches are open: the task deferred, the trigger runs."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + 30
        while fake.requests.count(verb="watch") < watches and time.monotonic() < deadline:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def defer_and_resume(task: Any) -> Any:
    """What the triggerer and a worker do with a deferring task, in one process."""
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = type(deferred.value.trigger)(**json.loads(json.dumps(kwargs)))

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    payload = asyncio.run(first_event())
    resume = getattr(task, deferred.value.method_name)
    return resume({}, event=payload, **(deferred.value.kwargs or {}))


def xcom_values(run: Any, task_id: str) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(
            run_id=run.run_id, task_id=task_id, key="return_value"
        )
        values = [row.value for row in rows]
    return [json.loads(value) if isinstance(value, str) else value for value in values]


# ------------------------------------------------------------------ poke mode


@pytest.mark.parametrize(("outcome", "reason"), FAILURES)
def test_poke_mode_fails_with_the_reason_within_the_grace_period(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    outcome: str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome=outcome)
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match=rf"^\[{reason}\] ml/llama: "):
        sensor(fake_kube_conn_id, deferrable=False).execute({})
    assert time.monotonic() - started < GRACE + 2.5
    assert f"({reason})" in output(capsys, caplog)  # the progress line names the cause


def test_poke_mode_logs_progress_only_when_it_changes(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    task = sensor(fake_kube_conn_id, deferrable=False, poke_interval=0.05)

    def ready_after_pokes(pokes: int = 5) -> None:
        # Counted in requests, not seconds: a slow first poke must not miss "loading".
        deadline = time.monotonic() + 30
        seen = 0
        while seen < pokes and time.monotonic() < deadline:
            seen = fake_kube.requests.count("GET", r"/namespaces/ml/deployments/llama$")
            time.sleep(0.01)
        kubelet.rollout("llama")

    threading.Thread(target=ready_after_pokes, daemon=True).start()
    result = task.execute({})
    text = output(capsys, caplog)
    assert result["phase"] == "Ready" and result["endpoint"] == "endpoint not verified"
    assert text.count("Starting (ModelLoading)") == 1
    assert text.count("Ready (Available)") == 1


def test_reschedule_mode_frees_the_slot_then_fails_with_the_reason(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowRescheduleException

    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    context: Any = {"ti": SimpleNamespace(get_first_reschedule_date=lambda _context: None)}
    with pytest.raises(AirflowRescheduleException):
        sensor(fake_kube_conn_id, deferrable=False, mode="reschedule").execute(context)
    kubelet.rollout("llama", outcome="oom")
    with pytest.raises(AirflowFailException, match=r"^\[OOMKilled\] ml/llama: 0/1 ready"):
        sensor(fake_kube_conn_id, deferrable=False, mode="reschedule").execute(context)


def test_poke_mode_timeout_names_the_last_status(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    with pytest.raises(
        AirflowSensorTimeout, match=r"Last status: llama: Starting \(ModelLoading\)"
    ):
        sensor(fake_kube_conn_id, deferrable=False, timeout=0.3).execute({})


def test_poke_mode_waits_for_the_endpoint_to_list_the_model(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama")
    serve(fake_kube, model="some-other-model")
    task = sensor(
        fake_kube_conn_id,
        deferrable=False,
        verify_endpoint="proxy",
        served_model_name=MODEL,
        timeout=0.5,
    )
    with pytest.raises(AirflowSensorTimeout):
        task.execute({})
    asked = serve(fake_kube)
    result = task.execute({})
    assert asked == ["/health", "/v1/models"]
    assert MODEL in result["endpoint"]


# ------------------------------------------------------------- deferrable mode


@pytest.mark.parametrize(("outcome", "reason"), FAILURES)
def test_deferrable_fails_with_the_reason_within_the_grace_period(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    outcome: str,
    reason: str,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.start(lambda _deployment: outcome, delay=0.2)  # the failure shows after deferral
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match=rf"^\[{reason}\] ml/llama: "):
        defer_and_resume(sensor(fake_kube_conn_id, deferrable=True))
    assert time.monotonic() - started < GRACE + 3.5


def test_deferrable_timeout_is_a_sensor_timeout_with_the_status(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    with pytest.raises(AirflowSensorTimeout, match=r"\[Timeout\] ml/llama: not ready after"):
        defer_and_resume(sensor(fake_kube_conn_id, deferrable=True, timeout=0.5))


def test_deferrable_sensor_through_dag_test_verifies_the_endpoint(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    asked = serve(fake_kube)
    kubelet.rollout("llama", outcome="loading")
    # Become ready only once all four watches are open, so the count below is exact.
    on_first_watch(fake_kube, lambda: kubelet.rollout("llama"), watches=4)
    xcom = {"name": "llama", "namespace": NS, "served_model_name": MODEL}
    run = run_task(
        lambda: InferenceReadySensor(
            task_id="wait",
            workload_xcom=xcom,
            kubernetes_conn_id=fake_kube_conn_id,
            verify_endpoint="proxy",
            deferrable=True,
            timeout=20,
        )
    )
    text = output(capsys, caplog)
    assert run.state == "success", text
    assert asked == ["/health", "/v1/models"]
    [result] = xcom_values(run, "wait")
    assert result["phase"] == "Ready" and MODEL in result["endpoint"]
    # The trigger watched: one list and one watch per kind, no polling loop.
    assert fake_kube.requests.count(verb="watch") == 4
    assert fake_kube.requests.count("GET", r"/namespaces/ml/pods$") == 3  # poke, list, watch


def test_deferrable_failure_through_dag_test_lands_in_the_task_log(
    fake_kube: FakeKubeServer,
    fake_kube_conn_id: str,
    kubelet: FakeKubelet,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama", outcome="loading")
    on_first_watch(fake_kube, lambda: kubelet.rollout("llama", outcome="crash"))
    run = run_task(lambda: sensor(fake_kube_conn_id, deferrable=True, retries=0))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert "[CrashLoopBackOff] ml/llama: 0/1 ready; 1 crash-looping" in text
    assert "--max-model-len" in text  # the crashed pod's log tail, with the fix


def test_defaults_come_from_the_operators_section(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import airflow_provider_hfinfer.sensors.readiness as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    try:
        reloaded = importlib.reload(module)
        assert reloaded.InferenceReadySensor(task_id="w", name="a", namespace="b").deferrable
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "name \\+ namespace, or as workload_xcom"),
        ({"name": "a", "verify_endpoint": "curl"}, "must be 'none', 'proxy' or 'url'"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InferenceReadySensor(task_id="w", **kwargs)


def test_workload_xcom_rendered_as_text_is_understood(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    fake_kube.put_object(sample_deployment("llama", NS))
    kubelet.rollout("llama")
    text = str({"name": "llama", "namespace": NS, "objects": ["Deployment/llama"]})
    task = InferenceReadySensor(
        task_id="w", workload_xcom=text, kubernetes_conn_id=fake_kube_conn_id, poke_interval=0.1
    )
    assert task.execute({})["name"] == "llama"


def test_url_mode_checks_health_and_models_at_the_given_url(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, kubelet: FakeKubelet
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Vllm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            asked.append(self.path)
            body = b"" if self.path == "/health" else json.dumps({"data": [{"id": MODEL}]}).encode()
            self.send_response(200 if self.path in ("/health", "/v1/models") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Vllm)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        fake_kube.put_object(sample_deployment("llama", NS))
        kubelet.rollout("llama")
        url = f"http://127.0.0.1:{http.server_address[1]}/v1"
        result = sensor(
            fake_kube_conn_id,
            verify_endpoint="url",
            endpoint_url=url,
            served_model_name=MODEL,
            deferrable=False,
        ).execute({})
    finally:
        http.shutdown()
    assert asked == ["/health", "/v1/models"]
    assert result["endpoint"] == f"{url.removesuffix('/v1')}: /health 200, serving {MODEL}"
