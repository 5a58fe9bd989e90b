"""The ``on_failure`` policy of a deploy: what happens to a workload whose task failed.

This module owns :func:`settle`: ``mark_failed`` (every object marked Failed, so
its ``auto_delete_after`` applies; TTL 0 deletes at once), ``delete`` (removed
now) or ``keep`` (left running, e.g. to debug), applied to the one
:class:`~airflow_provider_hfinfer.deploy.state.AppliedWorkload` the task
applied. A workload another task deployed is never this task's to fail.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_hfinfer.deploy.apply import Log
from airflow_provider_hfinfer.deploy.finish import WorkloadClient, delete_objects, mark_finished
from airflow_provider_hfinfer.deploy.marks import FinishedPhase
from airflow_provider_hfinfer.deploy.state import AppliedWorkload


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
