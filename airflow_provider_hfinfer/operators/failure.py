"""The ``on_failure`` policy of a deploy: what happens to a workload whose task failed.

This module owns :func:`settle`: ``mark_failed`` (every object marked Failed, so
its ``auto_delete_after`` applies; TTL 0 deletes at once), ``delete`` (removed
now) or ``keep`` (left running, e.g. to debug), applied to the one
:class:`~airflow_provider_hfinfer.deploy.state.AppliedWorkload` the task
applied. A workload another task deployed is never this task's to fail.
It also owns :func:`recorded_target`: the workload a task's state store names,
for a failure callback that runs where nothing was applied.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow_provider_hfinfer.deploy.apply import Log
from airflow_provider_hfinfer.deploy.finish import WorkloadClient, delete_objects, mark_finished
from airflow_provider_hfinfer.deploy.marks import FinishedPhase
from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.spec.names import STATE_KEY


def settle(
    policy: str,
    target: AppliedWorkload,
    client: WorkloadClient,
    reason: str,
    log: Log,
    *,
    now: datetime | None = None,
) -> None:
    """Apply ``policy`` to the workload ``target`` names.

    Args:
        policy: ``mark_failed``, ``delete`` or ``keep``.
        target: What the task applied.
        client: The cluster verbs (the task's hook).
        reason: Why the task failed (short; goes into ``hfinfer.io/finish-reason``).
        log: The task's log.
        now: The moment of failure (default: the current UTC time).
    """
    name, namespace = target.name, target.namespace
    if target.adopted:
        log.warning(
            "%s: workload %s/%s was deployed by another task before; left as it is",
            reason,
            namespace,
            name,
        )
        return
    if policy == "keep":
        log.warning(
            "on_failure='keep': workload %s/%s left as it is; delete it by hand", namespace, name
        )
        return
    if policy == "delete":
        deleted = delete_objects(client, client.list_workload_objects(name, namespace))
        log.warning(
            "on_failure='delete': deleted %s", ", ".join(deleted) or "nothing (already gone)"
        )
        return
    moment = now or datetime.now(timezone.utc)
    result = mark_finished(client, name, namespace, FinishedPhase.FAILED, moment, reason=reason)
    if result.deleted:
        log.warning(
            "workload %s/%s marked Failed and deleted (auto_delete_after 0)", namespace, name
        )
    else:
        log.warning(
            "workload %s/%s marked Failed at %s; auto-deletion at %s",
            namespace,
            name,
            result.finished_at,
            result.expires_at or "never (no auto_delete_after)",
        )


def recorded_target(store: Any, log: Log) -> AppliedWorkload | None:
    """The workload the task state store names (a failed task's only trace).

    The DAG processor runs failure callbacks of a worker that died on a freshly
    parsed task, which applied nothing in this process; ``store`` is the
    context's ``task_state_store`` (Airflow >= 3.3), or None.
    """
    try:
        state = store.get(STATE_KEY) if store is not None else None
    except Exception as err:  # noqa: BLE001 - a missing store backend must not mask the failure
        log.warning("cannot read the task state store: %s", err)
        return None
    if isinstance(state, dict) and state.get("name") and state.get("namespace"):
        return AppliedWorkload(str(state["name"]), str(state["namespace"]))
    return None
