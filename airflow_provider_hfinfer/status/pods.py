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
    get_bool,
    get_int,
    get_list,
    get_map,
    get_str,
    get_time,
)
from .findings import Finding, Policy, Severity
from .model import Phase, Reason
from .scope import EventRecord, Scope, name_of, newest_event
from .text import log_excerpt, log_hint, plural, scheduler_message, squash


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
ContainerDetector = Callable[[PodContext, K8sObject], Finding | None]


def _first_seen(events: list[EventRecord]) -> datetime | None:
    return earliest(*(event.first_seen for event in events))


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
    return Finding(
        reason=Reason.UNSCHEDULABLE.value,
        detail=(scheduler_message(message) or "no node fits the pod") + _autoscaler_note(ctx),
        severity=Severity.FAILURE,
        phase_hint=Phase.PENDING,
        since=earliest(get_time(condition, "lastTransitionTime"), _first_seen(scheduling))
        or get_time(ctx.pod, "metadata", "creationTimestamp"),
        graceful=True,
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


def _container_statuses(pod: K8sObject) -> list[K8sObject]:
    return get_list(pod, "status", "initContainerStatuses") + get_list(
        pod, "status", "containerStatuses"
    )


def _waiting(status: K8sObject) -> tuple[str, str]:
    waiting = get_map(status, "state", "waiting")
    return get_str(waiting, "reason"), get_str(waiting, "message")


def _last_exit(status: K8sObject) -> K8sObject:
    return get_map(status, "state", "terminated") or get_map(status, "lastState", "terminated")


def _exit_words(terminated: K8sObject) -> str:
    code = get_int(terminated, "exitCode")
    why = get_str(terminated, "reason")
    if code is None:
        return why or "unknown exit"
    return f"exit {code} ({why})" if why else f"exit {code}"


def _code_words(terminated: K8sObject) -> str:
    code = get_int(terminated, "exitCode")
    return "" if code is None else f" (exit {code})"


def _restarted_words(restarts: int) -> str:
    return f", restarted {plural(restarts, 'time')}" if restarts else ""


def _log_note(ctx: PodContext, terminated: K8sObject) -> tuple[str, str | None]:
    # The termination message holds the log tail when the container uses
    # terminationMessagePolicy FallbackToLogsOnError; prefer the real tail.
    tail = ctx.log_tail or get_str(terminated, "message") or None
    if not tail:
        return "", None
    hint = log_hint(tail)
    note = f"; log: {log_excerpt(tail)}"
    return (f"{note}; hint: {hint}" if hint else note), tail


def _image_failure_since(ctx: PodContext) -> datetime | None:
    pulls = [
        event
        for event in ctx.events("Failed", "BackOff", "ErrImagePull", "ImagePullBackOff")
        if "image" in event.message.lower()
    ]
    return _first_seen(pulls) or ctx.started_at()


def detect_invalid_image(ctx: PodContext, status: K8sObject) -> Finding | None:
    """InvalidImageName / ErrImageNeverPull: no retry can fix the image reference."""
    reason, message = _waiting(status)
    if reason not in (Reason.INVALID_IMAGE_NAME.value, Reason.ERR_IMAGE_NEVER_PULL.value):
        return None
    image = get_str(status, "image")
    return Finding(
        reason=reason,
        detail=squash(message or f"image {image!r} cannot be used"),
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=_image_failure_since(ctx),
        hard_terminal=True,
        subject=ctx.name,
    )


def detect_image_pull(ctx: PodContext, status: K8sObject) -> Finding | None:
    """ErrImagePull / ImagePullBackOff: may be a transient registry error, so graceful."""
    reason, message = _waiting(status)
    if reason not in (Reason.ERR_IMAGE_PULL.value, Reason.IMAGE_PULL_BACK_OFF.value):
        return None
    # The back-off message only says "Back-off pulling image"; the kubelet's
    # "Failed to pull image" event carries the registry's actual answer.
    failed = [e for e in ctx.events("Failed") if e.message.startswith("Failed to pull image")]
    latest = newest_event(failed)
    cause = latest.message if latest else ""
    return Finding(
        reason=reason,
        detail=squash(cause or message or f"cannot pull {get_str(status, 'image')}"),
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=_image_failure_since(ctx),
        graceful=True,
        clock_label="failing",
        subject=ctx.name,
        restarts=get_int(status, "restartCount") or 0,
    )


def detect_oom(ctx: PodContext, status: K8sObject) -> Finding | None:
    """OOMKilled now or on the last run, while the container is not ready."""
    if get_bool(status, "ready"):
        return None
    terminated = _last_exit(status)
    if get_str(terminated, "reason") != Reason.OOM_KILLED.value:
        return None
    restarts = get_int(status, "restartCount") or 0
    note, tail = _log_note(ctx, {})
    container = get_str(status, "name") or "container"
    return Finding(
        reason=Reason.OOM_KILLED.value,
        detail=(
            f"container {container} was OOMKilled{_code_words(terminated)}"
            f"{_restarted_words(restarts)}: raise the memory limit{note}"
        ),
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=get_time(terminated, "finishedAt"),
        hard_terminal=restarts >= ctx.policy.oom_restarts,
        subject=ctx.name,
        restarts=restarts,
        exit_code=get_int(terminated, "exitCode"),
        log_tail=tail,
    )


def detect_crash(ctx: PodContext, status: K8sObject) -> Finding | None:
    """CrashLoopBackOff, RunContainerError, or a container that just exited."""
    reason, _ = _waiting(status)
    current_exit = get_map(status, "state", "terminated")
    if reason in (Reason.CRASH_LOOP_BACK_OFF.value, Reason.RUN_CONTAINER_ERROR.value):
        shown = reason
    elif current_exit:
        shown = Reason.CONTAINER_TERMINATED.value
    else:
        return None
    terminated = _last_exit(status)
    restarts = get_int(status, "restartCount") or 0
    note, tail = _log_note(ctx, terminated)
    container = get_str(status, "name") or "container"
    return Finding(
        reason=shown,
        detail=(
            f"container {container} restarted {plural(restarts, 'time')}, "
            f"last {_exit_words(terminated)}{note}"
        ),
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=get_time(terminated, "finishedAt"),
        hard_terminal=restarts >= ctx.policy.crash_restarts,
        subject=ctx.name,
        restarts=restarts,
        exit_code=get_int(terminated, "exitCode"),
        log_tail=tail,
    )


def detect_config_error(ctx: PodContext, status: K8sObject) -> Finding | None:
    """CreateContainer(Config)Error: e.g. the HF_TOKEN secret or key is missing.

    Graceful, because the secret may be created moments after the Deployment.
    """
    reason, message = _waiting(status)
    if reason not in (
        Reason.CREATE_CONTAINER_CONFIG_ERROR.value,
        Reason.CREATE_CONTAINER_ERROR.value,
    ):
        return None
    failed = [e for e in ctx.events("Failed") if e.message.startswith("Error:")]
    return Finding(
        reason=reason,
        detail=squash(message or "the container cannot be created"),
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=_first_seen(failed) or ctx.started_at(),
        graceful=True,
        clock_label="failing",
        subject=ctx.name,
    )


def detect_creating(ctx: PodContext, status: K8sObject) -> Finding | None:
    """ContainerCreating / PodInitializing: usually pulling the multi-GB vLLM image."""
    reason, _ = _waiting(status)
    if reason not in (Reason.CONTAINER_CREATING.value, "PodInitializing"):
        return None
    latest = newest_event(ctx.events("Pulling", "Pulled"))
    pulling = latest is not None and latest.reason == "Pulling"
    detail = f"pulling image {get_str(status, 'image')}" if pulling else "creating containers"
    return Finding(
        reason=Reason.CONTAINER_CREATING.value,
        detail=detail,
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING,
        since=(latest.first_seen if pulling and latest else None) or ctx.started_at(),
        clock_label="creating",
        subject=ctx.name,
    )


def _restart_note(status: K8sObject) -> str:
    restarts = get_int(status, "restartCount") or 0
    if not restarts:
        return ""
    last = _last_exit(status)
    why = f" (last {_exit_words(last)})" if last else ""
    return f", after {plural(restarts, 'restart')}{why}"


def detect_loading(ctx: PodContext, status: K8sObject) -> Finding | None:
    """Running but the startup probe has not passed: vLLM is loading the model."""
    running = get_map(status, "state", "running")
    if not running or get_bool(status, "ready") or get_bool(status, "started"):
        return None
    container = get_str(status, "name") or "container"
    return Finding(
        reason=Reason.MODEL_LOADING.value,
        detail=f"loading the model, startup probe not passed yet{_restart_note(status)}",
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING,
        since=get_time(running, "startedAt"),
        clock_label=f"{container} running",
        subject=ctx.name,
        restarts=get_int(status, "restartCount") or 0,
    )


def detect_not_ready(ctx: PodContext, status: K8sObject) -> Finding | None:
    """Started but not (yet) passing the readiness probe."""
    running = get_map(status, "state", "running")
    if not running or get_bool(status, "ready"):
        return None
    return Finding(
        reason=Reason.NOT_READY.value,
        detail=f"started, readiness probe not passing{_restart_note(status)}",
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING,
        since=get_time(running, "startedAt"),
        clock_label=f"{get_str(status, 'name') or 'container'} running",
        subject=ctx.name,
    )


def detect_other_waiting(ctx: PodContext, status: K8sObject) -> Finding | None:
    """Any other waiting reason the kubelet reports, passed through as progress."""
    reason, message = _waiting(status)
    if not reason:
        return None
    return Finding(
        reason=reason,
        detail=squash(message or f"container {get_str(status, 'name')} waiting"),
        severity=Severity.PROGRESS,
        phase_hint=Phase.STARTING,
        since=ctx.started_at(),
        clock_label="waiting",
        subject=ctx.name,
    )


CONTAINER_DETECTORS: tuple[ContainerDetector, ...] = (
    detect_invalid_image,
    detect_oom,
    detect_crash,
    detect_config_error,
    detect_image_pull,
    detect_creating,
    detect_loading,
    detect_not_ready,
    detect_other_waiting,
)
"""Tried in order for each container; failures come before progress."""


def detect_container_state(ctx: PodContext) -> Finding | None:
    """The most severe container finding of the pod."""
    found: list[Finding] = []
    for status in _container_statuses(ctx.pod):
        for detector in CONTAINER_DETECTORS:
            finding = detector(ctx, status)
            if finding is not None:
                found.append(finding)
                break
    if not found:
        return None
    # Stable sort: among equally severe findings the earlier container wins.
    return sorted(found, key=lambda finding: -finding.severity)[0]


def detect_unplaced(ctx: PodContext) -> Finding | None:
    """A pod with no container status yet: waiting for the scheduler or the kubelet."""
    if _container_statuses(ctx.pod):
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
