"""Why one pod of the workload is not serving.

This module owns the per-pod detectors: a table of small functions, each
recognising one state from the pod's conditions and container statuses (with
the pod's events for timing), tried in order; the first that answers wins.
Container-level detectors run over init containers first, then app
containers, because an init container that fails keeps the others waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ._fields import (
    K8sObject,
    earliest,
    find_condition,
    get_str,
    get_time,
)
from .containers import container_statuses, detect_container_state, first_seen
from .findings import Finding, Policy, Severity
from .healing import classify_unschedulable
from .model import Phase, Reason
from .scope import EventRecord, Scope, name_of, newest_event
from .text import scheduler_message, squash


@dataclass(frozen=True)
class PodContext:
    """One pod plus what its detectors may consult.

    Attributes:
        pod: The pod as the API server returned it (decoded JSON).
        scope: The workload's own objects and events, for event timing and
            scheduling notes.
        policy: The thresholds that decide when a failure is terminal.
        log_tail: The pod's recent log lines when the caller read them, quoted
            for a crashed container; ``None`` falls back to the container's
            termination message.
    """

    pod: K8sObject
    scope: Scope
    policy: Policy
    log_tail: str | None

    @property
    def name(self) -> str:
        """The pod's name."""
        return name_of(self.pod)

    def events(self, *reasons: str) -> list[EventRecord]:
        """Return this pod's events of the given reasons."""
        return self.scope.events_for("Pod", self.name, *reasons)

    def started_at(self) -> datetime | None:
        """When the kubelet accepted the pod, or failing that when it was created."""
        return get_time(self.pod, "status", "startTime") or get_time(
            self.pod, "metadata", "creationTimestamp"
        )


PodDetector = Callable[[PodContext], Finding | None]


# ---------------------------------------------------------------- scheduling


def _autoscaler_note(ctx: PodContext) -> str:
    latest = newest_event(ctx.events("TriggeredScaleUp", "NotTriggerScaleUp"))
    if latest is None:
        return ""
    if latest.reason == "TriggeredScaleUp":
        return f"; cluster autoscaler is adding a node ({squash(latest.message, 160)})"
    return f"; cluster autoscaler will not add a node ({squash(latest.message, 160)})"


def detect_unschedulable(ctx: PodContext) -> Finding | None:
    """PodScheduled False/Unschedulable: no node fits (GPUs, taints, affinity)."""
    condition = find_condition(ctx.pod, "PodScheduled")
    if condition is None or get_str(condition, "status") != "False":
        return None
    if get_str(condition, "reason") != "Unschedulable":
        return None
    scheduling = ctx.events("FailedScheduling")
    latest = newest_event(scheduling)
    message = get_str(condition, "message") or (latest.message if latest else "")
    autoscaler = newest_event(ctx.events("TriggeredScaleUp", "NotTriggerScaleUp"))
    return Finding(
        reason=Reason.UNSCHEDULABLE.value,
        detail=(scheduler_message(message) or "no node fits the pod") + _autoscaler_note(ctx),
        severity=Severity.FAILURE,
        phase_hint=Phase.PENDING,
        since=earliest(get_time(condition, "lastTransitionTime"), first_seen(scheduling))
        or get_time(ctx.pod, "metadata", "creationTimestamp"),
        graceful=True,
        healing=classify_unschedulable(message, autoscaler.reason if autoscaler else None),
        clock_label="unschedulable",
        subject=ctx.name,
    )


def detect_scheduling_gated(ctx: PodContext) -> Finding | None:
    """PodScheduled False/SchedulingGated: a queue (e.g. Kueue) holds the pod back."""
    condition = find_condition(ctx.pod, "PodScheduled")
    if condition is None or get_str(condition, "reason") != "SchedulingGated":
        return None
    return Finding(
        reason=Reason.SCHEDULING_GATED.value,
        detail="held by a scheduling gate (admission queue)",
        severity=Severity.PROGRESS,
        phase_hint=Phase.PENDING,
        since=get_time(condition, "lastTransitionTime"),
        clock_label="gated",
        subject=ctx.name,
    )


# ---------------------------------------------------------------- containers


def detect_unplaced(ctx: PodContext) -> Finding | None:
    """A pod with no container status yet: waiting for the scheduler or the kubelet."""
    if container_statuses(ctx.pod):
        return None
    scheduled = find_condition(ctx.pod, "PodScheduled")
    placed = scheduled is not None and get_str(scheduled, "status") == "True"
    return Finding(
        reason=(Reason.CONTAINER_CREATING if placed else Reason.POD_PENDING).value,
        detail="creating containers" if placed else "waiting for the scheduler",
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING if placed else Phase.PENDING,
        since=get_time(ctx.pod, "metadata", "creationTimestamp"),
        clock_label="pending",
        subject=ctx.name,
    )


POD_DETECTORS: tuple[PodDetector, ...] = (
    detect_unschedulable,
    detect_scheduling_gated,
    detect_container_state,
    detect_unplaced,
)
"""Tried in order; the first answer describes the pod."""


def pod_is_ready(pod: K8sObject) -> bool:
    """True when the pod's Ready condition is True."""
    condition = find_condition(pod, "Ready")
    return condition is not None and get_str(condition, "status") == "True"


def diagnose_pod(ctx: PodContext) -> Finding | None:
    """Return why the pod does not serve, or ``None`` when it is ready."""
    if pod_is_ready(ctx.pod):
        return None
    for detector in POD_DETECTORS:
        finding = detector(ctx)
        if finding is not None:
            return finding
    return Finding(
        reason=Reason.NOT_READY.value,
        detail=f"pod {get_str(ctx.pod, 'status', 'phase') or 'state unknown'}, not ready",
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING,
        subject=ctx.name,
    )
