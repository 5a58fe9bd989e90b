"""What a failed rollout reports about the revision it rolled back to (pure wording)."""

from __future__ import annotations

import pytest

from airflow_provider_hfinfer.deploy.rollout import RollbackOutcome, failure_message
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.status import Phase, WorkloadStatus
from airflow_provider_hfinfer.status.verdict import generation_observed

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def workload(revision: str) -> InferenceWorkload:
    return InferenceWorkload.parse(
        {
            "name": "llama",
            "model": {"id": MODEL, "revision": revision},
            "compute": {"gpus": 1, "cpu": "4", "memory": "32Gi"},
            "replicas": {"min": 2, "max": 2},
        }
    )


def status(
    phase: Phase,
    reason: str,
    *,
    ready: int = 0,
    terminal: bool = False,
    generation: int = 3,
    observed: int = 3,
) -> WorkloadStatus:
    return WorkloadStatus(
        phase=phase,
        reason=reason,
        message=f"{ready}/2 ready; details",
        ready_replicas=ready,
        desired_replicas=2,
        generation=generation,
        observed_generation=observed,
        terminal=terminal,
    )


FAILED = f"revision broken-r2 of {MODEL} failed (CrashLoopBackOff): 0/2 ready. "
BACK = f"Rolled back to revision r1 of {MODEL}"


@pytest.mark.parametrize(
    ("outcome", "expected", "serving"),
    [
        (
            RollbackOutcome(True, status(Phase.READY, "Available", ready=2), 4.2),
            f"{BACK}; previous revision serving again (2/2 ready)",
            True,
        ),
        (
            RollbackOutcome(True, status(Phase.SCALED_TO_ZERO, "ScaledToZero"), 0.1),
            f"{BACK}; previous revision scaled to zero: 0/2 ready; details",
            True,
        ),
        (
            RollbackOutcome(True, status(Phase.STARTING, "ModelLoading"), 600.4),
            f"{BACK}, but the previous revision is not ready after 600s: ModelLoading: "
            "0/2 ready; details. It may still come up: follow it with InferenceReadySensor, "
            "or raise rollback_timeout",
            False,
        ),
        (
            RollbackOutcome(True, status(Phase.FAILED, "OOMKilled", terminal=True), 12.0),
            f"{BACK}, but the previous revision is not ready after 12s: OOMKilled: 0/2 ready; "
            "details. It fails too, waiting will not help: fix the cause, run the task again",
            False,
        ),
        (
            # Some replicas serve while the rest fail for good: not "serving again".
            RollbackOutcome(
                True, status(Phase.DEGRADED, "Unschedulable", ready=1, terminal=True), 900.0
            ),
            f"{BACK}, but the previous revision is not ready after 900s: Unschedulable: "
            "1/2 ready; details. It fails too",
            False,
        ),
        (
            # A terminal verdict the controller has not acted on yet is about the failed
            # revision's pods, not the restored one: the deadline ended the wait.
            RollbackOutcome(
                True,
                status(Phase.FAILED, "CrashLoopBackOff", terminal=True, observed=2),
                30.0,
            ),
            f"{BACK}, but the previous revision is not ready after 30s: CrashLoopBackOff: "
            "0/2 ready; details. It may still come up",
            False,
        ),
        (
            RollbackOutcome(True, None, 1.0, "[ServiceUnavailable] cluster down"),
            f"{BACK}, but whether the previous revision serves could not be read: "
            "[ServiceUnavailable] cluster down",
            False,
        ),
        (
            RollbackOutcome(False, error="[Forbidden] patch deployments denied"),
            f"Rolling back to revision r1 of {MODEL} failed: [Forbidden] patch deployments "
            "denied. Revision broken-r2 may still be applied, so the endpoint may not serve",
            False,
        ),
    ],
)
def test_failure_message_says_whether_the_endpoint_serves(
    outcome: RollbackOutcome, expected: str, serving: bool
) -> None:
    text = failure_message(
        workload("broken-r2"), workload("r1"), "CrashLoopBackOff", "0/2 ready", outcome
    )
    assert text.startswith(FAILED + expected)
    assert outcome.serving is serving


@pytest.mark.parametrize(
    ("generation", "observed", "expected"),
    [(3, 3, True), (3, 4, True), (3, 2, False), (3, None, False), (None, None, True)],
)
def test_generation_observed(generation: int | None, observed: int | None, expected: bool) -> None:
    verdict = WorkloadStatus(
        phase=Phase.STARTING,
        reason="RolloutInProgress",
        message="",
        generation=generation,
        observed_generation=observed,
    )
    assert generation_observed(verdict) is expected


def test_a_failure_with_the_same_revision_names_what_changed() -> None:
    previous = InferenceWorkload.parse(
        {"name": "llama", "model": {"id": "org/model", "revision": "main"}, "labels": {"a": "1"}}
    )
    new = InferenceWorkload.parse(
        {"name": "llama", "model": {"id": "org/model", "revision": "main"}, "labels": {"a": "2"}}
    )
    outcome = RollbackOutcome(False, error="boom")
    text = failure_message(new, previous, "CrashLoopBackOff", "crashed", outcome)
    assert text.startswith(
        "revision main of org/model (changed: labels.a) failed (CrashLoopBackOff): crashed."
    )
    assert "Rolling back to the previous spec of revision main of org/model failed" in text
    plain = failure_message(new, previous, "CrashLoopBackOff", "crashed")
    assert plain.endswith("Rolled back to the previous spec of revision main of org/model")
