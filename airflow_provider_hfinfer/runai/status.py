"""A Run:ai workload as a :class:`~airflow_provider_hfinfer.status.WorkloadStatus`.

This module owns :func:`assess_runai`: the workload record of
``GET /api/v1/workloads/{workloadId}`` (``phase``, ``phaseMessage``,
``phaseReason``, ``phaseUpdatedAt``, ``runningPods``, ``requestedPods``,
``conditions``) mapped onto the same phases and reasons the Kubernetes
readiness model reports, so the one verdict (:mod:`airflow_provider_hfinfer.
status.verdict`) judges both backends:

==============================  ===============================================
Run:ai phase                    WorkloadStatus
==============================  ===============================================
(404)                           NotFound (NotFound)
Creating                        Pending (PodPending)
Pending                         Pending (Unschedulable, or QuotaExceeded when
                                Run:ai names the quota); terminal after the
                                grace period
Initializing, Resuming          Starting (ContainerCreating / ModelLoading, or a
                                pod failure named in the conditions: terminal
                                after the grace period)
Updating                        Starting (RolloutInProgress)
Running                         Ready (Available); ScaledToZero when min is 0 and
                                nothing runs; Starting while fewer run than needed
Degraded                        Degraded; terminal after the grace period
Failed                          Failed (the pod failure the conditions name, else
                                Failed); terminal at once
Stopped, Stopping, Completed    Failed (Stopped / Completed); terminal
Deleting, Terminating           Failed (Terminating); terminal
Unknown                         Pending (Unknown)
==============================  ===============================================

A phase older than the caller's last write (``written_at``, the control plane's
own clock) still describes the previous spec: it reads as Starting
(RolloutInProgress), never as Ready. Pure: no I/O, ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_hfinfer.status import DEFAULT_GRACE_PERIOD_SECONDS, Phase, WorkloadStatus
from airflow_provider_hfinfer.status.model import Reason

POD_REASONS: tuple[str, ...] = (
    Reason.OOM_KILLED.value,
    Reason.CRASH_LOOP_BACK_OFF.value,
    Reason.INVALID_IMAGE_NAME.value,
    Reason.ERR_IMAGE_NEVER_PULL.value,
    Reason.IMAGE_PULL_BACK_OFF.value,
    Reason.ERR_IMAGE_PULL.value,
    Reason.CREATE_CONTAINER_CONFIG_ERROR.value,
    Reason.CREATE_CONTAINER_ERROR.value,
    Reason.RUN_CONTAINER_ERROR.value,
    Reason.UNSCHEDULABLE.value,
)
"""Kubelet and scheduler reasons looked for in Run:ai's conditions, most specific first."""

QUOTA_PHASE_REASONS = frozenset({"NonPreemptibleOverQuota", "OverLimit"})
STOPPED_PHASES = {"Stopped": "Stopped", "Stopping": "Stopped", "Completed": "Completed"}
GONE_PHASES = frozenset({"Deleting", "Terminating"})


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def named_reason(workload: Mapping[str, Any]) -> str | None:
    """The pod failure Run:ai's conditions or phase message name, if any (most specific)."""
    texts: list[str] = [str(workload.get("phaseMessage") or "")]
    conditions = workload.get("conditions")
    for condition in conditions if isinstance(conditions, Sequence) else ():
        if isinstance(condition, Mapping) and condition.get("status") != "True":
            texts += [str(condition.get("reason") or ""), str(condition.get("message") or "")]
    joined = " ".join(texts)
    return next((reason for reason in POD_REASONS if reason in joined), None)


def _elapsed(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    minutes, rest = divmod(seconds, 60)
    return f" for {minutes}m{rest:02d}s" if minutes else f" for {rest}s"


class _Judge:
    """The facts of one record and the clock, shared by the phase rules."""

    def __init__(
        self,
        workload: Mapping[str, Any],
        now: datetime,
        grace: float,
        min_ready: int | None,
    ) -> None:
        self.workload = workload
        self.now = now
        self.grace = grace
        self.phase = str(workload.get("phase") or "Unknown")
        self.message = str(workload.get("phaseMessage") or "").strip()
        self.since = parse_time(workload.get("phaseUpdatedAt"))
        self.running = _int(workload.get("runningPods"))
        pods = workload.get("requestedPods")
        pods = pods if isinstance(pods, Mapping) else {}
        self.min = _int(pods.get("min"))
        self.desired = max(_int(pods.get("number")), self.min)
        self.needed = max(1, self.min if min_ready is None else min_ready)

    def overdue(self) -> bool:
        """The current phase has lasted longer than the grace period."""
        return self.since is not None and (self.now - self.since).total_seconds() >= self.grace

    def status(
        self, phase: Phase, reason: str, text: str, *, terminal: bool = False
    ) -> WorkloadStatus:
        detail = f"; {self.message}" if self.message and self.message not in text else ""
        stable = f"Run:ai {self.phase}: {text}{detail}"
        return WorkloadStatus(
            phase=phase,
            reason=reason,
            message=f"Run:ai {self.phase}{_elapsed(self.since, self.now)}: {text}{detail}",
            stable_message=stable,
            ready_replicas=self.running if phase in (Phase.READY, Phase.DEGRADED) else 0,
            desired_replicas=self.desired,
            updated_replicas=self.running,
            available_replicas=self.running,
            min_ready=self.needed,
            terminal=terminal,
        )

    def healable(self, phase: Phase, reason: str, text: str) -> WorkloadStatus:
        """A failure that may heal: terminal once it outlasts the grace period."""
        if self.overdue():
            return self.status(
                Phase.FAILED if phase is not Phase.DEGRADED else phase,
                reason,
                f"{text} (no change for {self.grace:.0f}s, the grace period)",
                terminal=True,
            )
        return self.status(phase, reason, text)


def _pending(judge: _Judge) -> WorkloadStatus:
    if str(judge.workload.get("phaseReason") or "") in QUOTA_PHASE_REASONS:
        return judge.healable(
            Phase.PENDING,
            Reason.QUOTA_EXCEEDED.value,
            "the project's quota has no room for the workload",
        )
    return judge.healable(
        Phase.PENDING,
        Reason.UNSCHEDULABLE.value,
        "the Run:ai scheduler has not placed the replicas",
    )


def _starting(judge: _Judge) -> WorkloadStatus:
    failure = named_reason(judge.workload)
    if failure is not None:
        return judge.healable(Phase.STARTING, failure, f"a replica reports {failure}")
    if judge.running == 0:
        return judge.status(Phase.STARTING, Reason.CONTAINER_CREATING.value, "creating replicas")
    return judge.status(
        Phase.STARTING,
        Reason.MODEL_LOADING.value,
        f"{judge.running} replica(s) loading the model",
    )


def _running(judge: _Judge) -> WorkloadStatus:
    if judge.running >= judge.needed:
        return judge.status(
            Phase.READY, Reason.AVAILABLE.value, f"{judge.running} replica(s) serving"
        )
    if judge.running == 0 and judge.min == 0:
        return judge.status(
            Phase.SCALED_TO_ZERO, Reason.SCALED_TO_ZERO.value, "scaled to zero while idle"
        )
    return judge.status(
        Phase.STARTING,
        Reason.NOT_READY.value,
        f"{judge.running}/{judge.needed} replica(s) serving",
    )


def _failed(judge: _Judge) -> WorkloadStatus:
    reason = named_reason(judge.workload) or "Failed"
    return judge.status(Phase.FAILED, reason, judge.message or "the workload failed", terminal=True)


def _updating(judge: _Judge) -> WorkloadStatus:
    return judge.status(
        Phase.STARTING, Reason.ROLLOUT_IN_PROGRESS.value, "rolling out a new revision"
    )


def _creating(judge: _Judge) -> WorkloadStatus:
    return judge.status(Phase.PENDING, Reason.POD_PENDING.value, "creating the workload")


def _degraded(judge: _Judge) -> WorkloadStatus:
    reason = named_reason(judge.workload) or "Degraded"
    return judge.healable(
        Phase.DEGRADED, reason, f"{judge.running}/{judge.needed} replica(s) serving"
    )


def _stopped(judge: _Judge) -> WorkloadStatus:
    return judge.status(
        Phase.FAILED, STOPPED_PHASES[judge.phase], "the workload is not running", terminal=True
    )


def _gone(judge: _Judge) -> WorkloadStatus:
    return judge.status(
        Phase.FAILED, Reason.TERMINATING.value, "the workload is being deleted", terminal=True
    )


_PHASE_RULES: dict[str, Callable[[_Judge], WorkloadStatus]] = {
    "Running": _running,
    "Initializing": _starting,
    "Resuming": _starting,
    "Updating": _updating,
    "Pending": _pending,
    "Creating": _creating,
    "Degraded": _degraded,
    "Failed": _failed,
    **{phase: _stopped for phase in STOPPED_PHASES},
    **{phase: _gone for phase in GONE_PHASES},
}


def assess_runai(
    workload: Mapping[str, Any] | None,
    *,
    now: datetime,
    grace_period_seconds: float = DEFAULT_GRACE_PERIOD_SECONDS,
    min_ready: int | None = None,
    written_at: datetime | None = None,
) -> WorkloadStatus:
    """Judge one Run:ai workload record (pure).

    Args:
        workload: The record of ``GET /api/v1/workloads/{workloadId}``; None when
            the workload does not exist.
        now: The current time (aware).
        grace_period_seconds: How long failures that may heal are waited on.
        min_ready: Replicas that must run (default: Run:ai's minimum, at least 1).
        written_at: When the caller last created or updated the workload, by the
            control plane's clock; an older phase still describes the previous spec.

    Returns:
        The status every waiter judges with the one verdict.
    """
    if workload is None:
        return WorkloadStatus(
            phase=Phase.NOT_FOUND,
            reason=Reason.NOT_FOUND.value,
            message="no Run:ai workload of that name in the project",
            stable_message="no Run:ai workload of that name in the project",
        )
    judge = _Judge(workload, now, grace_period_seconds, min_ready)
    phase = judge.phase
    stale = written_at is not None and (judge.since is None or judge.since < written_at)
    if stale and phase not in GONE_PHASES:
        return judge.status(
            Phase.STARTING,
            Reason.ROLLOUT_IN_PROGRESS.value,
            "the control plane has not reported on the new spec yet",
        )
    rule = _PHASE_RULES.get(phase)
    if rule is not None:
        return rule(judge)
    return judge.status(Phase.PENDING, "Unknown", "Run:ai does not know the workload's state")
