"""What a pod's containers are doing: image pulls, crashes, OOM kills, loading, waiting.

This module owns the container-state detectors of the readiness model (one
:class:`~.findings.Finding` per pod from its container statuses and events),
split from :mod:`.pods`, which owns the pod-level detectors (scheduling, gates,
placement) and the order they are tried in. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ._fields import (
    K8sObject,
    earliest,
    get_bool,
    get_int,
    get_list,
    get_map,
    get_str,
    get_time,
)
from .findings import Finding, Severity
from .healing import Healing, classify_image_pull
from .model import Phase, Reason
from .scope import EventRecord, newest_event
from .text import log_excerpt, log_hint, plural, squash

if TYPE_CHECKING:
    from .pods import PodContext


def first_seen(events: list[EventRecord]) -> datetime | None:
    """When the earliest of ``events`` was first seen."""
    return earliest(*(event.first_seen for event in events))


def container_statuses(pod: K8sObject) -> list[K8sObject]:
    """Init and app container statuses of a pod."""
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
    return first_seen(pulls) or ctx.started_at()


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
        healing=classify_image_pull(cause or message),
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
        since=first_seen(failed) or ctx.started_at(),
        graceful=True,
        healing=Healing.MISSING_CONFIG,
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


ContainerDetector = Callable[["PodContext", K8sObject], Finding | None]

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
    for status in container_statuses(ctx.pod):
        for detector in CONTAINER_DETECTORS:
            finding = detector(ctx, status)
            if finding is not None:
                found.append(finding)
                break
    if not found:
        return None
    # Stable sort: among equally severe findings the earlier container wins.
    return sorted(found, key=lambda finding: -finding.severity)[0]
