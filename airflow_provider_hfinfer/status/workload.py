"""Why the workload as a whole is stuck, beyond any single pod.

This module owns the Deployment- and ReplicaSet-level detectors: pods that
cannot even be created (``ReplicaFailure``/``FailedCreate``, most often a
ResourceQuota on GPUs) and a rollout the controller has declared stalled
(``Progressing`` False with ``ProgressDeadlineExceeded``).
"""

from __future__ import annotations

from collections.abc import Callable

from ._fields import K8sObject, earliest, find_condition, get_int, get_str, get_time
from .findings import Finding, Severity
from .healing import Healing, classify_failed_create
from .model import Phase, Reason
from .scope import EventRecord, Scope, name_of, newest_event
from .text import squash

WorkloadDetector = Callable[[Scope], Finding | None]


def _generation_observed(deployment: K8sObject) -> bool:
    generation = get_int(deployment, "metadata", "generation")
    observed = get_int(deployment, "status", "observedGeneration")
    return generation is None or (observed is not None and observed >= generation)


def detect_progress_deadline(scope: Scope) -> Finding | None:
    """Progressing False/ProgressDeadlineExceeded on the observed generation.

    Terminal at once: the controller has already waited the Deployment's own
    ``progressDeadlineSeconds``. A condition left from an older generation is
    ignored, because the controller resets it when it picks up the new spec.
    """
    condition = find_condition(scope.deployment, "Progressing")
    if condition is None or get_str(condition, "status") != "False":
        return None
    if get_str(condition, "reason") != Reason.PROGRESS_DEADLINE_EXCEEDED.value:
        return None
    if not _generation_observed(scope.deployment):
        return None
    message = get_str(condition, "message") or "the rollout stopped making progress"
    return Finding(
        reason=Reason.PROGRESS_DEADLINE_EXCEEDED.value,
        detail=f"rollout exceeded its progress deadline: {squash(message).rstrip('.')}",
        severity=Severity.FAILURE,
        phase_hint=Phase.STARTING,
        since=get_time(condition, "lastTransitionTime"),
        hard_terminal=True,
        subject=name_of(scope.deployment),
    )


def _replica_failure(obj: K8sObject | None) -> K8sObject | None:
    if obj is None:
        return None
    condition = find_condition(obj, "ReplicaFailure")
    if condition is None or get_str(condition, "status") != "True":
        return None
    return condition


def _live_failed_create(scope: Scope, rs: K8sObject) -> list[EventRecord]:
    """FailedCreate events for ``rs`` that still describe its present.

    Events outlive the problem by an hour; they count only while the
    ReplicaSet is short of pods and no pod was created after the last failure.
    """
    rs_name = name_of(rs)
    failed = scope.events_for("ReplicaSet", rs_name, "FailedCreate")
    if not failed:
        return []
    wanted = get_int(rs, "spec", "replicas")
    have = get_int(rs, "status", "replicas")
    if wanted is not None and have is not None and have >= wanted:
        return []
    created = scope.events_for("ReplicaSet", rs_name, "SuccessfulCreate")
    last_created = max((e.last_seen for e in created if e.last_seen), default=None)
    last_failed = max((e.last_seen for e in failed if e.last_seen), default=None)
    if last_created and last_failed and last_created > last_failed:
        return []
    return failed


def detect_failed_create(scope: Scope) -> Finding | None:
    """The ReplicaSet cannot create pods: quota, admission webhook, policy.

    Graceful: quota frees up as other workloads finish, and webhooks come
    back; the clock starts at the earliest sign (condition or first event).
    """
    rs = scope.current_rs
    deploy_condition = _replica_failure(scope.deployment)
    rs_condition = _replica_failure(rs)
    events = _live_failed_create(scope, rs) if rs is not None else []
    if deploy_condition is None and rs_condition is None and not events:
        return None
    latest = newest_event(events)
    message = (
        get_str(rs_condition, "message")
        or get_str(deploy_condition, "message")
        or (latest.message if latest else "")
    ).removeprefix("Error creating: ")
    healing = classify_failed_create(message)
    quota = healing in (Healing.QUOTA_FULL, Healing.QUOTA_UNDECLARED)
    reason = Reason.QUOTA_EXCEEDED if quota else Reason.FAILED_CREATE
    owner = f"ReplicaSet {name_of(rs)}" if rs is not None else "the ReplicaSet"
    return Finding(
        reason=reason.value,
        detail=f"{owner} cannot create pods: {squash(message).rstrip('.') or 'no reason given'}",
        severity=Severity.FAILURE,
        phase_hint=Phase.PENDING,
        since=earliest(
            get_time(deploy_condition, "lastTransitionTime"),
            get_time(rs_condition, "lastTransitionTime"),
            *(event.first_seen for event in events),
        ),
        graceful=True,
        healing=healing,
        clock_label="failing",
        subject=name_of(rs) if rs is not None else name_of(scope.deployment),
    )


WORKLOAD_DETECTORS: tuple[WorkloadDetector, ...] = (
    detect_failed_create,
    detect_progress_deadline,
)
"""Each may add one finding; all are collected, not just the first."""
