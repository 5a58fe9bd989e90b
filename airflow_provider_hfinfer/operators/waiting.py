"""How the deploy operators wait from Airflow: poll from the worker, or defer to the triggerer.

This module owns the two Airflow-side halves of a wait that the create and the
update operators share: :func:`poll` (the one synchronous loop,
:func:`~airflow_provider_hfinfer.deploy.wait.follow`, over the backend's one
look at the workload, logging one line per change) and :func:`defer_wait` (hand
the wait to the backend's trigger, e.g.
:class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger`, with what the
resumed half needs in the deferral's kwargs and, because ``dag.test()`` resumes a
task with the event alone, in XCom ``hfinfer_pending_result``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_hfinfer.spec.names import PENDING_RESULT_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.deploy.coldstart import ColdStartFollower
    from airflow_provider_hfinfer.operators.base import DeployOperatorBase
    from airflow_provider_hfinfer.status import WorkloadStatus


def poll(
    operator: DeployOperatorBase,
    name: str,
    timeout: float,
    *,
    until: Callable[[WorkloadStatus], bool],
    label: str | None = None,
    on_status: Callable[[WorkloadStatus], None] | None = None,
    cold_start: ColdStartFollower | None = None,
) -> tuple[WorkloadStatus, float]:
    """Poll the workload every ``poll_interval`` until ``until`` holds or ``timeout`` passes.

    Args:
        operator: The waiting task (its hook, namespace, poll interval and log).
        name: The workload.
        timeout: Seconds to follow it; 0 reads it once.
        until: When to stop before ``timeout``.
        label: How progress lines name the workload (default ``name``).
        on_status: Also called with every changed status (after the progress line).
        cold_start: Follows the cold start on the same reads (phase lines, stall
            warnings, the breakdown read once more when the wait ends).

    Returns:
        The last status and the seconds followed.
    """
    from airflow_provider_hfinfer.deploy.wait import follow
    from airflow_provider_hfinfer.status import progress_line

    def report(status: WorkloadStatus) -> None:
        operator.log.info("%s", progress_line(status, name=label or name))
        if on_status is not None:
            on_status(status)

    return follow(
        lambda: operator.backend_impl.observe(
            name,
            operator.namespace,
            grace_periods=operator.grace_periods,
            cold_start=cold_start,
            is_final=until,
        ),
        timeout=timeout,
        poll_interval=operator.poll_interval,
        until=until,
        on_status=report,
    )


def defer_wait(
    operator: DeployOperatorBase,
    context: Context,
    *,
    name: str,
    timeout: float,
    started_at: float,
    method: str,
    kwargs: Mapping[str, Any],
    pending: Mapping[str, Any],
    remaining: float | None = None,
) -> None:
    """Defer the task to the readiness trigger; Airflow resumes it in ``method``.

    Args:
        operator: The deferring task.
        context: Its context (the XCom copy of ``kwargs`` is pushed through it).
        name: The workload.
        timeout: The trigger's timeout, counted from ``started_at``.
        started_at: Epoch seconds the wait began.
        method: The operator method that resumes the task.
        kwargs: The deferral's kwargs for ``method`` (JSON primitives, never a secret).
        pending: The same, as the resumed half reads it back from XCom.
        remaining: Seconds of the wait still to go (default ``timeout``), for the
            deferral's own timeout.
    """
    context["ti"].xcom_push(key=PENDING_RESULT_KEY, value=dict(pending))
    trigger = operator.backend_impl.trigger(
        name,
        operator.namespace,
        timeout=timeout,
        started_at=started_at,
        stall_after=operator.stall_after,
        grace_periods=operator.grace_periods,
        # As the polling waits: a workload its autoscaler holds at zero is up.
        accept_scaled_to_zero=True,
    )
    operator.defer(
        trigger=trigger,
        method_name=method,
        kwargs=dict(kwargs),
        timeout=timedelta(seconds=(timeout if remaining is None else remaining) + 60),
    )
