"""Run:ai phases map onto the same WorkloadStatus phases, reasons and verdict as Kubernetes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hfinfer.runai.status import assess_runai
from airflow_provider_hfinfer.status import Phase
from airflow_provider_hfinfer.status.verdict import Outcome, WaitRule, verdict

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def record(phase: str, *, age: float = 10, running: int = 0, minimum: int = 1, **extra: Any):
    return {
        "id": "w-1",
        "name": "llama",
        "phase": phase,
        "phaseUpdatedAt": (NOW - timedelta(seconds=age)).isoformat().replace("+00:00", "Z"),
        "runningPods": running,
        "requestedPods": {"min": minimum, "max": 3, "number": minimum},
        **extra,
    }


@pytest.mark.parametrize(
    ("workload", "phase", "reason", "outcome"),
    [
        (None, Phase.NOT_FOUND, "NotFound", Outcome.WAITING),
        (record("Creating"), Phase.PENDING, "PodPending", Outcome.WAITING),
        (record("Pending"), Phase.PENDING, "Unschedulable", Outcome.WAITING),
        (record("Pending", age=1000), Phase.FAILED, "Unschedulable", Outcome.FAILED),
        (
            record("Pending", phaseReason="NonPreemptibleOverQuota"),
            Phase.PENDING,
            "QuotaExceeded",
            Outcome.WAITING,
        ),
        (
            record("Pending", age=1000, phaseReason="OverLimit"),
            Phase.FAILED,
            "QuotaExceeded",
            Outcome.FAILED,
        ),
        (record("Initializing"), Phase.STARTING, "ContainerCreating", Outcome.WAITING),
        (record("Initializing", running=1), Phase.STARTING, "ModelLoading", Outcome.WAITING),
        (
            record(
                "Initializing",
                conditions=[{"type": "Ready", "status": "False", "reason": "ImagePullBackOff"}],
            ),
            Phase.STARTING,
            "ImagePullBackOff",
            Outcome.WAITING,
        ),
        (
            record(
                "Initializing",
                age=2000,
                conditions=[{"type": "Ready", "status": "False", "reason": "ImagePullBackOff"}],
            ),
            Phase.FAILED,
            "ImagePullBackOff",
            Outcome.FAILED,
        ),
        (record("Updating", running=1), Phase.STARTING, "RolloutInProgress", Outcome.WAITING),
        (record("Running", running=1), Phase.READY, "Available", Outcome.SERVING),
        (
            record("Running", running=0, minimum=0),
            Phase.SCALED_TO_ZERO,
            "ScaledToZero",
            Outcome.SERVING,
        ),
        (record("Running", running=1, minimum=2), Phase.STARTING, "NotReady", Outcome.WAITING),
        (record("Degraded", running=1, minimum=2), Phase.DEGRADED, "Degraded", Outcome.WAITING),
        (
            record("Failed", phaseMessage="container vllm: CrashLoopBackOff (exit code 1)"),
            Phase.FAILED,
            "CrashLoopBackOff",
            Outcome.FAILED,
        ),
        (
            record(
                "Failed", conditions=[{"type": "Ready", "status": "False", "reason": "OOMKilled"}]
            ),
            Phase.FAILED,
            "OOMKilled",
            Outcome.FAILED,
        ),
        (record("Failed"), Phase.FAILED, "Failed", Outcome.FAILED),
        (record("Stopped"), Phase.FAILED, "Stopped", Outcome.FAILED),
        (record("Completed"), Phase.FAILED, "Completed", Outcome.FAILED),
        (record("Deleting"), Phase.FAILED, "Terminating", Outcome.FAILED),
        (record("Unknown"), Phase.PENDING, "Unknown", Outcome.WAITING),
    ],
)
def test_each_phase_maps_onto_the_shared_status(
    workload: Any, phase: Phase, reason: str, outcome: Outcome
) -> None:
    status = assess_runai(workload, now=NOW, grace_period_seconds=900)
    assert (status.phase, status.reason) == (phase, reason)
    assert verdict(status, WaitRule(accept_scaled_to_zero=True)) is outcome


def test_a_phase_older_than_the_last_write_describes_the_previous_spec() -> None:
    written = NOW - timedelta(seconds=5)
    old = assess_runai(record("Running", age=60, running=1), now=NOW, written_at=written)
    assert (old.phase, old.reason) == (Phase.STARTING, "RolloutInProgress")
    new = assess_runai(record("Running", age=1, running=1), now=NOW, written_at=written)
    assert new.phase is Phase.READY


def test_the_message_names_run_ai_phase_and_its_own_message() -> None:
    status = assess_runai(
        record("Pending", age=75, phaseMessage="Not enough resources in node pool a100"),
        now=NOW,
    )
    assert status.message.startswith("Run:ai Pending for 1m15s")
    assert "Not enough resources in node pool a100" in status.message
    later = assess_runai(
        record("Pending", age=80, phaseMessage="Not enough resources in node pool a100"),
        now=NOW,
    )
    assert later.fingerprint() == status.fingerprint()  # elapsed time is not a change
