"""The one readiness verdict every waiter reads: serving, failed for good, or waiting.

This module owns the judgement the create and update operators, the sensor and
the trigger share (lightkube's ``wait(for_conditions, raise_for_conditions)``
as a pure function of :class:`~.model.WorkloadStatus`):

* **serving**: enough replicas of the current revision are ready, or (when the
  waiter accepts it) the autoscaler holds the workload at zero;
* **failed**: the readiness model calls the failure terminal and, when the
  waiter asks for it, the Deployment controller has observed the latest spec
  (until then the pods judged are those of the replaced revision);
* **waiting**: anything else.

It also says which pod's log tail explains a failure (read once, before
reporting). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from airflow_provider_hfinfer.status.model import Phase, WorkloadStatus

LOG_TAIL_REASONS = frozenset(
    {"CrashLoopBackOff", "OOMKilled", "ContainerTerminated", "RunContainerError"}
)
"""Failures whose pod log explains them: the tail is read once, before reporting."""


class Outcome(str, Enum):
    """Where a wait stands after one look at the workload."""

    SERVING = "serving"
    FAILED = "failed"
    WAITING = "waiting"


@dataclass(frozen=True)
class WaitRule:
    """What a waiter counts as done.

    Attributes:
        accept_scaled_to_zero: A workload its autoscaler holds at zero serves.
        require_observed: A terminal failure ends the wait only once the
            Deployment controller has observed the latest spec (rollouts: right
            after an apply the pods judged are the replaced revision's).
    """

    accept_scaled_to_zero: bool = True
    require_observed: bool = False


def caught_up(generation: int | None, observed: int | None) -> bool:
    """Whether a controller that observed ``observed`` has seen spec ``generation``."""
    if generation is None:
        return True
    return observed is not None and observed >= generation


def generation_observed(status: WorkloadStatus) -> bool:
    """True once the Deployment controller has acted on the latest spec.

    Until then the pods :func:`~airflow_provider_hfinfer.status.assess` judges are
    those of the revision the last apply replaced (right after a rollback: the
    failed one), so a terminal verdict is not yet about the applied spec.
    """
    return caught_up(status.generation, status.observed_generation)


def serving(status: WorkloadStatus, rule: WaitRule = WaitRule()) -> bool:
    """Whether the workload serves (or is held at zero, when ``rule`` accepts that)."""
    if status.is_ready:
        return True
    return rule.accept_scaled_to_zero and status.phase is Phase.SCALED_TO_ZERO


def verdict(status: WorkloadStatus, rule: WaitRule = WaitRule()) -> Outcome:
    """Serving, failed for good, or waiting, under ``rule``."""
    if serving(status, rule):
        return Outcome.SERVING
    if status.is_failed and (not rule.require_observed or generation_observed(status)):
        return Outcome.FAILED
    return Outcome.WAITING


def settled(status: WorkloadStatus, rule: WaitRule = WaitRule()) -> bool:
    """Waiting is over: the workload serves, or fails in a way waiting will not heal."""
    return verdict(status, rule) is not Outcome.WAITING


def log_tail_pod(status: WorkloadStatus) -> str | None:
    """The current pod whose log explains the failure (a crash or OOM), if any."""
    for pod in status.pods:
        if pod.current and pod.reason in LOG_TAIL_REASONS:
            return pod.name
    return None
