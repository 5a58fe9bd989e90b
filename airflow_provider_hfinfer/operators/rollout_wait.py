"""How the update operator follows a rollout, and a rollback, until they settle.

This module owns the waiting half of a rollout: polling the one readiness verdict
under the rollout rule (serving, or failed once the controller acted on the new
spec), pointing a stuck surge pod to ``update_strategy: Recreate``, following
until the controller acted and then deferring the rest to the triggerer, and
following a rolled-back revision for ``rollback_timeout``. Functions of the
operator they serve (its hook, log, namespace and settings), composed by
:mod:`.update`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_provider_hfinfer.deploy.rollout import (
    RECREATE_HINT,
    ROLLBACK_WAIT_CAP,
    RollbackOutcome,
    RolloutState,
    surge_unschedulable,
)
from airflow_provider_hfinfer.exceptions import KubeAPIError, WorkloadError
from airflow_provider_hfinfer.status.verdict import (
    WaitRule,
    generation_observed,
    serving,
    settled,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.operators.update import HFInferenceUpdateOperator
    from airflow_provider_hfinfer.spec import InferenceWorkload
    from airflow_provider_hfinfer.status import WorkloadStatus

ROLLOUT = WaitRule(accept_scaled_to_zero=True, require_observed=True)
"""A rollout serves when ready (or held at zero); it fails only once the controller acted."""


def acted_on(status: WorkloadStatus) -> bool:
    """The controller has acted on the applied spec (or waiting is over anyway)."""
    return settled(status, ROLLOUT) or generation_observed(status)


def await_rollout(
    op: HFInferenceUpdateOperator, workload: InferenceWorkload, context: Context | None = None
) -> None:
    """Follow the rollout until it serves; raise with the failing reason otherwise.

    With ``context`` (deferrable) the wait moves to the triggerer once the
    controller has acted on the new spec; ``execute_rollout_complete`` resumes.
    """
    if context is None:
        status, _waited = follow(op, workload.name, op.timeout, hint=workload)
    else:
        status, _waited = follow_or_defer(
            op,
            context,
            workload.name,
            op.timeout,
            "execute_rollout_complete",
            RolloutState(had_workload=bool(op.applied and op.applied.existed)),
            hint=workload,
        )
    if serving(status, ROLLOUT):
        return
    name = workload.name
    if status.is_failed and generation_observed(status):
        raise WorkloadError(status.message, name=name, namespace=op.namespace, reason=status.reason)
    known = status.reason != "RolloutInProgress" and generation_observed(status)
    raise WorkloadError(
        f"not ready after {op.timeout:.0f}s: {status.message}",
        name=name,
        namespace=op.namespace,
        reason=status.reason if known else "Timeout",
    )


def follow_or_defer(
    op: HFInferenceUpdateOperator,
    context: Context,
    name: str,
    timeout: float,
    method: str,
    state: RolloutState,
    *,
    hint: InferenceWorkload | None = None,
    label: str | None = None,
) -> tuple[WorkloadStatus, float]:
    """Follow until the controller acted on the applied spec, then defer the rest.

    Until the controller has observed the Deployment's new generation, the pods
    the readiness model judges are the replaced revision's (right after a
    rollback: the failed one's), and a trigger started then could report their
    failure as the new revision's. This wait is normally well under a second.

    Returns:
        The verdict and the seconds followed, when the workload settled (or
        ``timeout`` passed) before the controller's step; otherwise defers to
        ``method`` with ``state`` and does not return.
    """
    from airflow_provider_hfinfer.operators.waiting import defer_wait

    started = time.time()
    status, waited = follow(op, name, timeout, hint=hint, label=label, until=acted_on)
    if settled(status, ROLLOUT) or waited >= timeout:
        return status, waited
    op.log.info(
        "the controller has acted on the spec of %s: the triggerer follows it for at "
        "most %.0fs more",
        label or name,
        timeout - waited,
    )
    pending = state.model_dump()
    defer_wait(
        op,
        context,
        name=name,
        timeout=timeout,
        started_at=started,
        method=method,
        kwargs={"rollout": pending},
        pending=pending,
        remaining=timeout - waited,
    )
    return status, waited  # not reached: defer() raises


def follow(
    op: HFInferenceUpdateOperator,
    name: str,
    timeout: float,
    *,
    hint: InferenceWorkload | None = None,
    label: str | None = None,
    until: Callable[[WorkloadStatus], bool] | None = None,
) -> tuple[WorkloadStatus, float]:
    """Poll the readiness verdict until it settles (or ``until``), or ``timeout`` passes."""
    from airflow_provider_hfinfer.operators.waiting import poll

    hinted: list[bool] = []

    def warn_surge(status: WorkloadStatus) -> None:
        if hint is not None and not hinted and surge_unschedulable(status, hint):
            op.log.warning("rollout of %s is stuck: %s", name, RECREATE_HINT)
            hinted.append(True)

    return poll(
        op,
        name,
        timeout,
        until=until or (lambda status: settled(status, ROLLOUT)),
        label=label,
        on_status=warn_surge,
    )


def rollback_wait(op: HFInferenceUpdateOperator) -> float:
    """Seconds to follow a rolled-back revision (``rollback_timeout``, else capped ``timeout``)."""
    if op.rollback_timeout is not None:
        return float(op.rollback_timeout)
    return min(float(op.timeout), ROLLBACK_WAIT_CAP)


def follow_rollback(
    op: HFInferenceUpdateOperator,
    previous: InferenceWorkload,
    failed: str,
    deferral: tuple[Context, RolloutState] | None = None,
) -> RollbackOutcome:
    """Follow the restored revision for ``rollback_timeout``; log where it ended.

    With ``deferral`` the wait moves to the triggerer once the controller has
    acted on the restored spec (``execute_rollback_complete`` resumes).
    """
    started = time.monotonic()
    label = f"{previous.name} (rolled back)"
    try:
        if deferral is None:
            status, waited = follow(op, previous.name, rollback_wait(op), label=label)
        else:
            status, waited = follow_or_defer(
                op,
                deferral[0],
                previous.name,
                rollback_wait(op),
                "execute_rollback_complete",
                deferral[1],
                label=label,
            )
    except KubeAPIError as err:
        outcome = RollbackOutcome(True, None, time.monotonic() - started, str(err))
    else:
        outcome = RollbackOutcome(True, status, waited)
    log_rollback(op, previous, failed, outcome)
    return outcome


def log_rollback(
    op: HFInferenceUpdateOperator,
    previous: InferenceWorkload,
    failed: str,
    outcome: RollbackOutcome,
) -> None:
    """Log where the rolled-back revision ended (warning when it serves, error if not)."""
    log = op.log.warning if outcome.serving else op.log.error
    log("workload %s: %s", previous.name, outcome.sentence(previous, failed))
