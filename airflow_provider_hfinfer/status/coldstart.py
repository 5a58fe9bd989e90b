"""Cold start of a workload: which phase it is in, and where its minutes went.

This module owns the workload half of the cold-start model: :func:`cold_start`
takes the same objects as :func:`~.assess.assess` (Deployment, ReplicaSets,
pods, events, log tails) and answers with a :class:`ColdStart`: the phase the
workload waits in (that of the pod it waits on: the least advanced one until
enough serve, then the one whose readiness made it serve), the seconds each
phase took, every current pod's own breakdown, and the phases that show no
progress for too long, with their likely cause. It also renders the one line a
waiter logs per phase change and the ``cold_start`` breakdown the operator and
sensor return, and the outcome of a prewarm Job (:func:`job_outcome`). Pure: no
I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from ._fields import (
    K8sObject,
    as_utc,
    earliest,
    find_condition,
    format_duration,
    get_str,
    get_time,
)
from .podstart import (
    DEFAULT_STALL_AFTER_SECONDS,
    DONE_PHASES,
    PodStart,
    Stall,
    StartPhase,
    pod_start,
)
from .scope import build_scope, desired_replicas, is_live_pod, name_of

__all__ = [
    "DEFAULT_STALL_AFTER_SECONDS",
    "ColdStart",
    "PodStart",
    "Stall",
    "StartPhase",
    "cold_start",
    "failure_note",
    "job_outcome",
    "log_tail_pods",
    "with_note",
]


class ColdStart(BaseModel):
    """Where a workload's start stands and where its time went.

    Attributes:
        phase: The phase of the pod the workload waits on (``Serving`` once
            enough replicas serve).
        label: That phase for people, e.g. ``pulling image vllm/vllm-openai:v0.6.4``.
        started_at: When the start began: the first current pod's creation
            (the ReplicaSet's while no pod exists yet).
        elapsed_seconds: From ``started_at`` to serving, or to now.
        phases: Seconds per phase of that pod (snake_case keys), the current
            phase up to now.
        pod: The pod whose phases these are (empty while no pod exists).
        pods: Every current pod's own start, least advanced first.
        stalls: Phases that have shown no progress longer than the limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: StartPhase
    label: str
    started_at: datetime | None = None
    elapsed_seconds: float = 0.0
    phases: dict[str, float]
    pod: str = ""
    pods: tuple[PodStart, ...] = ()
    stalls: tuple[Stall, ...] = ()

    @property
    def serving(self) -> bool:
        """Enough replicas serve."""
        return self.phase is StartPhase.SERVING

    def key(self) -> tuple[str, ...]:
        """What changes when a phase changes: the workload's phase and label, each pod's phase."""
        return (
            self.phase.value,
            self.label,
            *(f"{pod.name}={pod.phase.value}" for pod in self.pods),
        )

    def line(self, name: str) -> str:
        """``llama: pulling image vllm/vllm-openai:v0.6.4 (2m10s so far)``, with pod counts."""
        spent = format_duration(timedelta(seconds=self.elapsed_seconds))
        timing = f"after {spent}" if self.serving else f"{spent} so far"
        text = f"{name}: {self.label} ({timing})"
        if self.serving:
            text += " - " + ", ".join(
                f"{key.replace('_', ' ')} {format_duration(timedelta(seconds=value))}"
                for key, value in self.phases.items()
            )
        if len(self.pods) > 1:
            counts: dict[str, int] = {}
            for pod in self.pods:
                counts[pod.label] = counts.get(pod.label, 0) + 1
            text += "; pods: " + ", ".join(f"{n} {label}" for label, n in counts.items())
        done = [pod for pod in self.pods if pod.bytes_done is not None]
        if done and done[0].bytes_total:
            text += f"; {_gb(done[0].bytes_done or 0)} of {_gb(done[0].bytes_total)} downloaded"
        return text

    def failure_note(self) -> str:
        """``failed while pulling image x, after 15m02s``: for a failure message."""
        return failure_note(self.breakdown())

    def breakdown(self) -> dict[str, Any]:
        """The ``cold_start`` XCom entry: seconds per phase, in all and per pod."""
        return {
            "phase": self.phase.value,
            "label": self.label,
            "total_seconds": round(self.elapsed_seconds, 3),
            "phases": dict(self.phases),
            "pods": {pod.name: dict(pod.durations) for pod in self.pods},
            "stalled": [stall.describe() for stall in self.stalls],
        }


def failure_note(breakdown: Mapping[str, Any] | None) -> str:
    """``failed while pulling image x, after 15m02s``, from a ``cold_start`` breakdown."""
    if not breakdown or not breakdown.get("label"):
        return ""
    spent = format_duration(timedelta(seconds=float(breakdown.get("total_seconds") or 0)))
    return f"failed while {breakdown['label']}, after {spent}"


def with_note(message: str, breakdown: Mapping[str, Any] | None) -> str:
    """A failure message with the phase it failed in and after how long, when known."""
    note = failure_note(breakdown)
    return f"{message} ({note})" if note else message


def _gb(count: int) -> str:
    return f"{count / 1e9:.1f} GB"


def _order(pods: Sequence[PodStart]) -> list[PodStart]:
    return sorted(pods, key=lambda pod: (pod.phase.rank, pod.created or datetime.max, pod.name))


def _critical(pods: Sequence[PodStart], needed: int) -> PodStart | None:
    done = sorted(
        (pod for pod in pods if pod.phase in DONE_PHASES and pod.done_at is not None),
        key=lambda pod: pod.done_at or datetime.max,
    )
    if len(done) >= needed and done:
        return done[needed - 1]
    waiting = [pod for pod in pods if pod.phase not in DONE_PHASES]
    ordered = _order(waiting or list(pods))
    return ordered[0] if ordered else None


def _events_by_pod(scope_events: Sequence[Any]) -> list[Any]:
    return [event for event in scope_events if event.kind == "Pod"]


def cold_start(
    deployment: K8sObject | None,
    replica_sets: Sequence[K8sObject] = (),
    pods: Sequence[K8sObject] = (),
    events: Sequence[K8sObject] = (),
    scaler: K8sObject | None = None,
    *,
    now: datetime,
    log_tails: Mapping[str, str] | None = None,
    min_ready: int | None = None,
    stall_after_seconds: float = DEFAULT_STALL_AFTER_SECONDS,
) -> ColdStart | None:
    """Tell a workload's cold start from its objects (the arguments of ``assess``).

    Args:
        deployment: The Deployment, or None when it does not exist (no answer).
        replica_sets: Its ReplicaSets.
        pods: Its pods; only the current revision's live pods count.
        events: Events of the namespace; those about its pods time the phases.
        scaler: Ignored (accepted so a snapshot can be passed as keywords).
        now: The moment of assessment.
        log_tails: Log tails per pod name, when read; they split the time
            after the container starts into downloading and loading.
        min_ready: Ready replicas required (default ``spec.replicas``, at least 1).
        stall_after_seconds: Seconds without progress before a phase is
            reported as stalled.

    Returns:
        The cold start, or None without a Deployment or while it is scaled to zero
        with no pod starting.
    """
    del scaler
    if not isinstance(deployment, Mapping):
        return None
    moment = as_utc(now)
    scope = build_scope(deployment, replica_sets, pods, events)
    tails = log_tails or {}
    pod_events = _events_by_pod(scope.events)
    starts = [
        pod_start(
            pod,
            pod_events,
            tails.get(name_of(pod)),
            now=moment,
            stall_after_seconds=stall_after_seconds,
        )
        for pod in scope.current_pods
        if is_live_pod(pod)
    ]
    desired = desired_replicas(deployment)
    if desired == 0 and not starts:
        return None
    needed = max(1, desired if min_ready is None else min_ready)
    critical = _critical(starts, min(needed, max(1, len(starts))))
    rs_created = get_time(scope.current_rs, "metadata", "creationTimestamp")
    began = earliest(*(pod.created for pod in starts)) or rs_created
    if critical is None:
        waited = (moment - began).total_seconds() if began else 0.0
        return ColdStart(
            phase=StartPhase.SCHEDULING,
            label="waiting for pods to be created",
            started_at=began,
            elapsed_seconds=max(0.0, waited),
            phases={StartPhase.SCHEDULING.key: max(0.0, round(waited, 3))},
        )
    phases = dict(critical.durations)
    if began is not None and critical.created is not None and critical.created > began:
        lag = (critical.created - began).total_seconds()
        phases[StartPhase.SCHEDULING.key] = round(phases.get("scheduling", 0.0) + lag, 3)
    serving = len([pod for pod in starts if pod.phase in DONE_PHASES]) >= needed
    end = critical.done_at if serving and critical.done_at else moment
    return ColdStart(
        phase=StartPhase.SERVING if serving else critical.phase,
        label="serving" if serving else critical.label,
        started_at=began,
        elapsed_seconds=round(max(0.0, (end - began).total_seconds()), 3) if began else 0.0,
        phases=phases,
        pod=critical.name,
        pods=tuple(_order(starts)),
        stalls=tuple(pod.stall for pod in starts if pod.stall is not None),
    )


def log_tail_pods(start: ColdStart | None) -> list[str]:
    """Pods whose log tail would split their time: running, not yet serving."""
    if start is None:
        return []
    wanted = (
        StartPhase.DOWNLOADING_WEIGHTS,
        StartPhase.DOWNLOADING_OR_LOADING,
        StartPhase.LOADING_MODEL,
    )
    return [pod.name for pod in start.pods if pod.phase in wanted]


def job_outcome(job: K8sObject | None) -> str | None:
    """``Complete`` or ``Failed`` once a Job's condition of that type is True, else None."""
    for kind in ("Complete", "Failed"):
        condition = find_condition(job, kind)
        if condition is not None and get_str(condition, "status") == "True":
            return kind
    return None
