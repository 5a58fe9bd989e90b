"""The readiness verdict: cluster objects in, one :class:`WorkloadStatus` out.

This module owns :func:`assess` and the order in which the verdict rules are
tried (deleted, scaled to zero, ready, failing, progressing, rolling out) as
well as the wording of the resulting message. It is pure: no I/O, no clock
(``now`` is an argument), no kubernetes or Airflow import, so the sensor, the
trigger, the operator and any UI reach the same verdict from the same objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from ._fields import (
    K8sObject,
    as_utc,
    dig,
    find_condition,
    get_int,
    get_list,
    get_str,
)
from .context import AssessContext
from .findings import (
    DEFAULT_CRASH_RESTART_THRESHOLD,
    DEFAULT_GRACE_PERIOD_SECONDS,
    DEFAULT_OOM_RESTART_THRESHOLD,
    Finding,
    Policy,
    Severity,
)
from .healing import parse_overrides
from .model import Phase, PodStatus, Reason, WorkloadStatus
from .pods import PodContext, diagnose_pod, pod_is_ready
from .scope import Scope, build_scope, desired_replicas, is_live_pod, name_of
from .wording import compose, ordered
from .workload import WORKLOAD_DETECTORS


def _pod_status(
    pod: K8sObject, current: bool, finding: Finding | None, now: datetime, policy: Policy
) -> PodStatus:
    return PodStatus(
        name=name_of(pod),
        current=current,
        pod_phase=get_str(pod, "status", "phase"),
        node=get_str(pod, "spec", "nodeName"),
        ready=finding is None,
        reason="Ready" if finding is None else finding.reason,
        message="" if finding is None else finding.detail,
        restarts=_restarts(pod),
        exit_code=None if finding is None else finding.exit_code,
        since=None if finding is None else finding.since,
        terminal=False if finding is None else finding.is_terminal(now, policy),
        log_tail=None if finding is None else finding.log_tail,
    )


def _restarts(pod: K8sObject) -> int:
    return sum(
        max(0, get_int(status, "restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for status in get_list(pod, "status", key)
    )


def _diagnose_all(
    scope: Scope, policy: Policy, now: datetime, log_tails: Mapping[str, str]
) -> tuple[tuple[Finding, ...], tuple[PodStatus, ...]]:
    findings: list[Finding] = []
    breakdown: list[PodStatus] = []
    for current, pods in ((True, scope.current_pods), (False, scope.old_pods)):
        for pod in pods:
            if not is_live_pod(pod):
                continue
            tail = log_tails.get(name_of(pod))
            finding = diagnose_pod(PodContext(pod, scope, policy, tail))
            if current and finding is not None:
                findings.append(finding)
            breakdown.append(_pod_status(pod, current, finding, now, policy))
    return tuple(findings), tuple(breakdown)


def _count(pods: Sequence[K8sObject], *, ready: bool) -> int:
    live = [pod for pod in pods if is_live_pod(pod)]
    return sum(1 for pod in live if pod_is_ready(pod)) if ready else len(live)


def _status_int(deployment: K8sObject, key: str) -> int:
    return max(0, get_int(deployment, "status", key) or 0)


# ------------------------------------------------------------------- wording


def _status(
    ctx: AssessContext,
    phase: Phase,
    reason: str,
    message: tuple[str, str],
    *,
    terminal: bool = False,
) -> WorkloadStatus:
    full, stable = message
    return WorkloadStatus(
        phase=phase,
        reason=reason,
        message=full,
        stable_message=stable,
        ready_replicas=ctx.ready_count,
        desired_replicas=ctx.desired,
        updated_replicas=ctx.updated,
        available_replicas=ctx.available,
        min_ready=ctx.min_ready,
        observed_generation=ctx.observed,
        generation=ctx.generation,
        terminal=terminal,
        pods=ctx.pods,
    )


# --------------------------------------------------------------------- rules


def _rule_terminating(ctx: AssessContext) -> WorkloadStatus | None:
    if dig(ctx.scope.deployment, "metadata", "deletionTimestamp") is None:
        return None
    text = "the Deployment is being deleted"
    return _status(ctx, Phase.FAILED, Reason.TERMINATING.value, (text, text), terminal=True)


def _scaler_words(scaler: K8sObject) -> str:
    kind = get_str(scaler, "kind") or "scaler"
    wake = (
        "the first request wakes it"
        if kind == "HTTPScaledObject"
        else "it scales up when its trigger fires"
    )
    text = f"scaled to zero by {kind} {name_of(scaler)}; {wake}".replace("  ", " ")
    ready = find_condition(scaler, "Ready")
    if ready is not None and get_str(ready, "status") == "False":
        text += f"; scaler not ready: {get_str(ready, 'message') or get_str(ready, 'reason')}"
    return text


def _rule_zero(ctx: AssessContext) -> WorkloadStatus | None:
    if ctx.desired != 0:
        return None
    if ctx.scaler is not None:
        text = _scaler_words(ctx.scaler)
        return _status(ctx, Phase.SCALED_TO_ZERO, Reason.SCALED_TO_ZERO.value, (text, text))
    text = "spec.replicas is 0 and no autoscaler manages the workload: scale it up"
    return _status(ctx, Phase.PENDING, Reason.SCALED_DOWN.value, (text, text))


def _rule_ready(ctx: AssessContext) -> WorkloadStatus | None:
    if not (ctx.rollout_done and ctx.ready_count >= ctx.min_ready):
        return None
    return _status(ctx, Phase.READY, Reason.AVAILABLE.value, compose(ctx))


def _rule_failing(ctx: AssessContext) -> WorkloadStatus | None:
    failures = [
        finding
        for finding in (*ctx.workload_findings, *ctx.pod_findings)
        if finding.severity is Severity.FAILURE
    ]
    if not failures:
        return None
    worst = ordered(ctx, failures)[0]
    terminal = ctx.terminal(worst)
    if ctx.serving:
        phase = Phase.DEGRADED
    else:
        phase = Phase.FAILED if terminal else worst.phase_hint
    return _status(ctx, phase, worst.reason, compose(ctx), terminal=terminal)


def _rule_progressing(ctx: AssessContext) -> WorkloadStatus | None:
    if not ctx.pod_findings:
        return None
    first = ordered(ctx, ctx.pod_findings)[0]
    return _status(ctx, first.phase_hint, first.reason, compose(ctx))


def _rule_rolling_out(ctx: AssessContext) -> WorkloadStatus:
    message = compose(ctx)
    if ctx.rollout_done:
        text = "waiting for replicas to become available"
        message = (f"{message[0]}; {text}", f"{message[1]}; {text}")
    phase = Phase.STARTING if ctx.scope.current_pods or ctx.serving else Phase.PENDING
    return _status(ctx, phase, Reason.ROLLOUT_IN_PROGRESS.value, message)


_RULES: tuple[Callable[[AssessContext], WorkloadStatus | None], ...] = (
    _rule_terminating,
    _rule_zero,
    _rule_ready,
    _rule_failing,
    _rule_progressing,
)
"""Tried in order; :func:`_rule_rolling_out` answers when none does."""


# ---------------------------------------------------------------------- entry


def _not_found() -> WorkloadStatus:
    text = "Deployment not found"
    return WorkloadStatus(
        phase=Phase.NOT_FOUND, reason=Reason.NOT_FOUND.value, message=text, stable_message=text
    )


def _context(
    deployment: K8sObject,
    scope: Scope,
    policy: Policy,
    now: datetime,
    min_ready: int | None,
    log_tails: Mapping[str, str],
    scaler: K8sObject | None,
) -> AssessContext:
    desired = desired_replicas(deployment)
    pod_findings, breakdown = _diagnose_all(scope, policy, now, log_tails)
    workload_findings = tuple(
        finding for finding in (detect(scope) for detect in WORKLOAD_DETECTORS) if finding
    )
    return AssessContext(
        scope=scope,
        policy=policy,
        now=now,
        min_ready=max(1, desired if min_ready is None else min_ready),
        desired=desired,
        generation=get_int(deployment, "metadata", "generation"),
        observed=get_int(deployment, "status", "observedGeneration"),
        updated=_status_int(deployment, "updatedReplicas"),
        available=_status_int(deployment, "availableReplicas"),
        total=_status_int(deployment, "replicas"),
        current_ready=_count(scope.current_pods, ready=True),
        old_live=_count(scope.old_pods, ready=False),
        old_ready=_count(scope.old_pods, ready=True),
        pod_findings=pod_findings,
        workload_findings=workload_findings,
        pods=breakdown,
        scaler=scaler if isinstance(scaler, Mapping) else None,
    )


def assess(
    deployment: K8sObject | None,
    replica_sets: Sequence[K8sObject] = (),
    pods: Sequence[K8sObject] = (),
    events: Sequence[K8sObject] = (),
    scaler: K8sObject | None = None,
    *,
    now: datetime,
    grace_period_seconds: float = DEFAULT_GRACE_PERIOD_SECONDS,
    log_tails: Mapping[str, str] | None = None,
    min_ready: int | None = None,
    crash_restart_threshold: int = DEFAULT_CRASH_RESTART_THRESHOLD,
    oom_restart_threshold: int = DEFAULT_OOM_RESTART_THRESHOLD,
    grace_periods: Mapping[str, float] | None = None,
) -> WorkloadStatus:
    """Judge whether an inference workload serves, is on its way, or has failed.

    Args:
        deployment: The Deployment as the API server returned it (camelCase
            JSON decoded to dicts), or ``None`` when it was not found.
        replica_sets: ReplicaSets listed for the workload; ones the Deployment
            does not own are ignored.
        pods: Pods listed for the workload; only pods of its ReplicaSets count.
        events: core/v1 Events of the namespace (events.k8s.io/v1 shapes are
            read too); only those about the workload's objects are used.
        scaler: The KEDA ``ScaledObject`` or ``HTTPScaledObject`` driving the
            Deployment, if any; with ``spec.replicas`` 0 it yields SCALED_TO_ZERO.
        now: The moment of assessment; naive values are taken as UTC.
        grace_period_seconds: How long failures that heal on their own (a node
            being added, capacity or quota freeing up, a registry hiccup) are
            waited on, from their earliest sign, before ``terminal``; failures
            only a user can fix wait their shorter class default (see
            :mod:`.healing`), at most this long.
        log_tails: Recent log lines per pod name, quoted for crashed containers.
        min_ready: Ready replicas required; default ``spec.replicas``, at least 1.
        crash_restart_threshold: Restarts after which a crash loop is terminal.
        oom_restart_threshold: Restarts after which repeated OOMKills are terminal.
        grace_periods: Seconds per :class:`~.healing.Healing` class name,
            overriding that class's default, e.g. ``{"capacity": 1800}``.

    Returns:
        The verdict. It never raises on missing or malformed fields: what
        cannot be read counts as absent.

    Raises:
        ValueError: For a ``grace_periods`` key that names no class, or a
            negative value (the caller's arguments, not the cluster's objects).
    """
    if not isinstance(deployment, Mapping):
        return _not_found()
    moment = as_utc(now)
    policy = Policy(
        grace=timedelta(seconds=max(0.0, float(grace_period_seconds))),
        crash_restarts=crash_restart_threshold,
        oom_restarts=oom_restart_threshold,
        overrides=parse_overrides(grace_periods),
    )
    scope = build_scope(deployment, replica_sets, pods, events)
    ctx = _context(deployment, scope, policy, moment, min_ready, log_tails or {}, scaler)
    for rule in _RULES:
        verdict = rule(ctx)
        if verdict is not None:
            return verdict
    return _rule_rolling_out(ctx)
