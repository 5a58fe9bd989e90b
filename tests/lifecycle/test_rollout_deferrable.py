"""Deferrable rollouts with HFInferenceUpdateOperator: dag.test() against the fake cluster.

The trigger runs inline in ``dag.test()``, blocking the test thread, so the cluster
changes from a background thread once the trigger's watches are open (counted
requests, never fixed sleeps). Revisions named ``slow*`` load "for half an hour":
the fake kubelet leaves them loading until a test step rolls them out as ready or
crashing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow_fixtures import captured_log as task_output
from lifecycle_support import NS, xcom_values
from test_rollout import (  # noqa: F401 (rollout_token_variables: an autouse fixture)
    MODEL,
    TOKEN,
    parsed,
    rollout_token_variables,
    spec,
)
from test_rollout import update_op as rollout_update_op

from airflow_provider_hfinfer.deploy.rollout import rollout_failure
from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator
from airflow_provider_hfinfer.render.records import recorded_previous_spec, spec_from_record
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION, PREVIOUS_SPEC_ANNOTATION
from airflow_provider_hfinfer.triggers.events import ReadinessEvent

TRIGGER_WATCHES = 4  # Deployment, ReplicaSets, pods, events


def update_op(conn_id: str, revision: str, **kwargs: Any) -> HFInferenceUpdateOperator:
    """The rollout tests' operator, with room for a deferred wait."""
    return rollout_update_op(conn_id, revision, **{"timeout": 120, **kwargs})


def revision_of(deploy: dict[str, Any]) -> str:
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    return str(args[args.index("--revision") + 1])


def deployment(cluster: Any) -> dict[str, Any]:
    found = cluster.get_object("apps/v1", "deployments", NS, "llama")
    assert found is not None
    return found


def policy(rollback_outcome: str = "ready") -> Callable[[dict[str, Any]], str]:
    """Kubelet policy: ``slow*`` loads, ``broken*`` crashes, r1 serves.

    Every r1 rollout after the first (the rollback's) gets ``rollback_outcome``.
    """
    r1_rollouts = 0

    def decide(deploy: dict[str, Any]) -> str:
        nonlocal r1_rollouts
        revision = revision_of(deploy)
        if revision.startswith("slow"):
            return "loading"
        if revision.startswith("broken"):
            return "crash"
        r1_rollouts += 1
        return "ready" if r1_rollouts == 1 else rollback_outcome

    return decide


class OnWatches:
    """Run ``(watches, action)`` steps in a background thread, in order.

    Each action runs once that many watch requests were opened in all; on exit the
    thread stops waiting and what an action raised is raised in the test thread.
    """

    def __init__(self, cluster: Any, *steps: tuple[int, Callable[[], Any]]) -> None:
        self.cluster = cluster
        self.steps = steps
        self.done = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        try:
            for watches, action in self.steps:
                while self.cluster.requests.count(verb="watch") < watches:
                    if self._stop.is_set() or time.monotonic() > deadline:
                        return
                    time.sleep(0.02)
                action()
                self.done += 1
        except BaseException as err:  # noqa: BLE001 - re-raised in the test thread
            self.error = err

    def __enter__(self) -> OnWatches:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error is not None:
            raise self.error


def all_xcom_text(run: Any) -> str:
    """Every XCom value the rollout task stored (any key), as text."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, task_id="rollout")
        return " ".join(json.dumps(row.value) for row in rows)


def start_r1(cluster: Any, kubelet: Any, conn_id: str, run_task: Any, rollback: str) -> None:
    kubelet.start(policy(rollback))
    assert run_task(lambda: update_op(conn_id, "r1")).state == "success"
    assert revision_of(deployment(cluster)) == "r1"
    cluster.requests.clear()


@pytest.fixture
def serving_r1(cluster: Any, kubelet: Any, fake_kube_conn_id: str, run_task: Any) -> Any:
    """Revision r1 deployed (not deferred) and ready; the request log starts empty."""
    start_r1(cluster, kubelet, fake_kube_conn_id, run_task, "ready")
    return cluster


def test_deferrable_rollout_waits_in_the_triggerer_and_returns_the_same_result(
    serving_r1: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    while_deferred: dict[str, Any] = {}

    def finish_loading() -> None:
        while_deferred.update(deployment(serving_r1)["metadata"]["annotations"])
        kubelet.rollout("llama")

    with OnWatches(serving_r1, (TRIGGER_WATCHES, finish_loading)) as steps:
        run = run_task(lambda: update_op(fake_kube_conn_id, "slow-r2", deferrable=True))
    assert run.state == "success"
    # The model finished loading only after the trigger watched it: the task deferred.
    assert steps.done == 1
    assert serving_r1.requests.count(verb="watch") == TRIGGER_WATCHES
    assert revision_of(deployment(serving_r1)) == "slow-r2"
    [result] = xcom_values(run, "rollout")
    assert result == {
        "name": "llama",
        "namespace": NS,
        "endpoint_url": result["endpoint_url"],
        "endpoint_host": None,  # no scale-to-zero
        "owner": deployment(serving_r1)["metadata"]["annotations"]["hfinfer.io/owner"],
        "served_model_name": result["served_model_name"],
        "model": MODEL,
        "revision": "slow-r2",
        "spec_hash": deployment(serving_r1)["metadata"]["annotations"]["hfinfer.io/spec-hash"],
        "objects": result["objects"],
        "dry_run": False,
        "changed": True,
        "previous_revision": "r1",
    }
    assert result["endpoint_url"].endswith("/v1") and "Deployment/llama" in result["objects"]
    # While deferred, the way back was on the cluster, redacted; once the new revision
    # served, the record went (a later try finds nothing left to confirm).
    recorded = while_deferred[PREVIOUS_SPEC_ANNOTATION]
    assert json.loads(recorded)["model"]["revision"] == "r1" and TOKEN not in recorded
    annotations = deployment(serving_r1)["metadata"]["annotations"]
    assert PREVIOUS_SPEC_ANNOTATION not in annotations
    assert json.loads(annotations[APPLIED_SPEC_ANNOTATION])["model"]["revision"] == "slow-r2"
    assert TOKEN not in all_xcom_text(run)
    assert TOKEN not in task_output(capsys, caplog)


def test_deferrable_rollout_of_a_crashing_revision_rolls_back_and_fails(
    serving_r1: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_before = serving_r1.get_object("v1", "secrets", NS, "llama-hf-token")
    crash = (TRIGGER_WATCHES, lambda: kubelet.rollout("llama", outcome="crash"))
    with OnWatches(serving_r1, crash) as steps:
        run = run_task(lambda: update_op(fake_kube_conn_id, "slow-r2", deferrable=True))
    assert run.state == "failed"
    assert steps.done == 1
    output = task_output(capsys, caplog)
    assert f"revision slow-r2 of {MODEL} failed (CrashLoopBackOff)" in output
    assert (
        f"Rolled back to revision r1 of {MODEL}; previous revision serving again (1/1 ready)"
    ) in output
    assert revision_of(deployment(serving_r1)) == "r1"
    annotations = deployment(serving_r1)["metadata"]["annotations"]
    assert json.loads(annotations[APPLIED_SPEC_ANNOTATION])["model"]["revision"] == "r1"
    # The rollback's own apply records no previous spec; the serving workload is not
    # marked finished, and its Secret (never in an annotation) is kept.
    assert PREVIOUS_SPEC_ANNOTATION not in annotations
    assert "hfinfer.io/phase" not in annotations
    secret_after = serving_r1.get_object("v1", "secrets", NS, "llama-hf-token")
    assert secret_after["data"] == secret_before["data"]
    assert TOKEN not in output and TOKEN not in all_xcom_text(run)


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        # The restored revision reloads its model, then serves: the triggerer says so.
        ("ready", r"; previous revision serving again \(1/1 ready\)"),
        # It is still loading when rollback_timeout (5s: time for the fake controller to act
        # on the restored spec first, even on a busy machine) runs out.
        (None, r", but the previous revision is not ready after (\d+)s: ModelLoading: 0/1 ready"),
    ],
    ids=["serves-again", "still-loading"],
)
def test_deferred_rollback_is_followed_by_the_triggerer(
    cluster: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    then: str | None,
    expected: str,
) -> None:
    start_r1(cluster, kubelet, fake_kube_conn_id, run_task, rollback="loading")
    steps = [(TRIGGER_WATCHES, lambda: kubelet.rollout("llama", outcome="crash"))]
    if then is not None:
        steps.append((2 * TRIGGER_WATCHES, lambda: kubelet.rollout("llama", outcome=then)))
    capsys.readouterr()
    caplog.clear()
    with OnWatches(cluster, *steps) as done:
        run = run_task(
            lambda: update_op(
                fake_kube_conn_id,
                "slow-r2",
                deferrable=True,
                rollback_timeout=120 if then else 5,
            )
        )
    assert run.state == "failed"
    assert done.done == len(steps)
    # Two deferrals: the rollout, then the rolled-back revision.
    assert cluster.requests.count(verb="watch") == 2 * TRIGGER_WATCHES
    output = task_output(capsys, caplog)
    assert f"revision slow-r2 of {MODEL} failed (CrashLoopBackOff)" in output
    found = re.search(f"Rolled back to revision r1 of {re.escape(MODEL)}" + expected, output)
    assert found is not None, output
    if then is None:
        assert int(found.group(1)) <= 60
        assert "serving again" not in output
    assert revision_of(deployment(cluster)) == "r1"
    assert TOKEN not in output and TOKEN not in all_xcom_text(run)


def test_unchanged_spec_with_deferrable_neither_writes_nor_defers(
    serving_r1: Any, fake_kube_conn_id: str, run_task: Any
) -> None:
    run = run_task(lambda: update_op(fake_kube_conn_id, "r1", deferrable=True))
    assert run.state == "success"
    assert serving_r1.requests.writes == 0
    assert serving_r1.requests.count(verb="watch") == 0
    [result] = xcom_values(run, "rollout")
    assert result["changed"] is False


def test_failed_deferred_first_deploy_gets_on_failure(
    cluster: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
) -> None:
    kubelet.start(policy())
    crash = (TRIGGER_WATCHES, lambda: kubelet.rollout("llama", outcome="crash"))
    with OnWatches(cluster, crash):
        run = run_task(lambda: update_op(fake_kube_conn_id, "slow-r1", deferrable=True))
    assert run.state == "failed"
    annotations = deployment(cluster)["metadata"]["annotations"]
    assert annotations["hfinfer.io/phase"] == "Failed"
    assert PREVIOUS_SPEC_ANNOTATION not in annotations  # nothing to go back to


def test_rollout_replaced_while_deferred_is_neither_rolled_back_nor_pruned(
    serving_r1: Any,
    kubelet: Any,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def another_task_applies() -> None:
        serving_r1.update(
            "apps/v1",
            "deployments",
            NS,
            "llama",
            {"metadata": {"annotations": {"hfinfer.io/owner": "other_dag/rollout/run"}}},
        )
        kubelet.rollout("llama", outcome="crash")

    with OnWatches(serving_r1, (TRIGGER_WATCHES, another_task_applies)):
        run = run_task(lambda: update_op(fake_kube_conn_id, "slow-r2", deferrable=True))
    assert run.state == "failed"
    output = task_output(capsys, caplog)
    assert "[Superseded]" in output and "nothing rolled back or pruned" in output
    assert "Rolled back" not in output
    assert revision_of(deployment(serving_r1)) == "slow-r2"


# ------------------------------------------------------------------ pure parts


def test_previous_spec_record_is_redacted_and_round_trips() -> None:
    from airflow_provider_hfinfer.render import RenderContext, render_manifests

    manifests = render_manifests(parsed("r2"), namespace=NS)
    [deploy] = [item for item in manifests if item["kind"] == "Deployment"]
    assert PREVIOUS_SPEC_ANNOTATION not in deploy["metadata"]["annotations"]
    manifests = render_manifests(
        parsed("r2"), namespace=NS, context=RenderContext(previous=parsed("r1"))
    )
    [deploy] = [item for item in manifests if item["kind"] == "Deployment"]
    raw = deploy["metadata"]["annotations"][PREVIOUS_SPEC_ANNOTATION]
    assert TOKEN not in raw
    previous = recorded_previous_spec(deploy)
    assert previous is not None and previous.model.revision == "r1"
    assert previous.hf_access.type == "token"  # masked, never rendered into a Secret
    assert spec_from_record("{not json") is None and spec_from_record(None) is None


def event(status: str, reason: str, message: str = "0/1 ready") -> ReadinessEvent:
    return ReadinessEvent.model_validate(
        {
            "status": status,
            "name": "llama",
            "namespace": NS,
            "phase": "Starting",
            "reason": reason,
            "message": message,
        }
    )


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (event("ready", "Available"), None),
        (event("failed", "CrashLoopBackOff"), "CrashLoopBackOff"),
        (event("timeout", "ModelLoading", "not ready after 9s: 0/1 ready"), "ModelLoading"),
        # A rollout that got nowhere known times out as "Timeout", as when polled.
        (event("timeout", "RolloutInProgress", "not ready after 9s: ..."), "Timeout"),
    ],
)
def test_rollout_failure_words_the_trigger_verdict_like_the_polling_path(
    verdict: ReadinessEvent, reason: str | None
) -> None:
    error = rollout_failure(verdict)
    if reason is None:
        assert error is None
        return
    assert error is not None
    assert (error.reason, error.message, error.name) == (reason, verdict.message, "llama")
