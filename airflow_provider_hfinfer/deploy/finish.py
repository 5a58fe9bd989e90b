"""Marking, reopening and deleting a workload's objects on the cluster.

This module owns the thin cluster side of a workload's end of life:
:func:`mark_finished` (mark every object; delete at once for TTL 0),
:func:`reopen` (a workload deployed again is running, not finished) and
:func:`delete_objects` (reverse apply order). It talks to a cluster only
through a hook-like object with ``list_workload_objects``, ``annotate`` and
``delete`` (:class:`WorkloadClient`) and imports neither Airflow nor kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from airflow_provider_hfinfer.deploy.marks import (
    CLEAR_MARK,
    FinishedPhase,
    FinishResult,
    delete_order,
    format_rfc3339,
    mark_annotations,
    ttl_seconds,
)
from airflow_provider_hfinfer.exceptions import KubeAPIError
from airflow_provider_hfinfer.spec.names import (
    FINISHED_AT_ANNOTATION,
    PHASE_ANNOTATION,
    annotations_of,
    object_ref,
)


class WorkloadClient(Protocol):
    """The three cluster verbs the lifecycle helpers need (``HFInferenceHook`` has them)."""

    def list_workload_objects(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of the workload, in apply order."""

    def annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Merge-patch annotations onto an object (None removes a key)."""

    def delete(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        """Delete one object; False when it was already gone."""


def _annotate(
    client: WorkloadClient, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
) -> bool:
    """Patch annotations; False when the object vanished in the meantime."""
    try:
        client.annotate(obj, annotations)
    except KubeAPIError as err:
        if err.status == 404:
            return False
        raise
    return True


def delete_objects(client: WorkloadClient, objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Delete objects in reverse apply order; return ``Kind/name`` of those deleted.

    The Deployment is deleted with background propagation, so its ReplicaSets
    and pods (and the GPUs they hold) go with it.
    """
    return [object_ref(obj) for obj in delete_order(objects) if client.delete(obj)]


def mark_finished(
    hook: WorkloadClient,
    name: str,
    namespace: str,
    phase: FinishedPhase | str,
    now: datetime,
    *,
    reason: str | None = None,
) -> FinishResult:
    """Mark every object of a workload finished; delete it at once when its TTL is 0.

    Marks go on first even for TTL 0, so a deletion that stops half-way leaves
    marked objects the cleanup finds. Safe to call again (the mark moves to
    ``now``). A workload without objects yields an empty result.

    Args:
        hook: The cluster verbs (an ``HFInferenceHook``).
        name: The workload name.
        namespace: Its namespace.
        phase: ``Completed`` or ``Failed``.
        now: The moment it finished.
        reason: Why it failed (short; never a secret).

    Returns:
        What was marked and deleted, and when the TTL runs out.
    """
    annotations = mark_annotations(phase, now, reason)
    objects = hook.list_workload_objects(name, namespace)
    marked = tuple(object_ref(obj) for obj in objects if _annotate(hook, obj, annotations))
    ttl = min((t for t in map(ttl_seconds, objects) if t is not None), default=None)
    deleted: tuple[str, ...] = ()
    expires: str | None = None
    if objects and ttl == 0:
        deleted = tuple(delete_objects(hook, objects))
    elif objects and ttl is not None:
        expires = format_rfc3339(now + timedelta(seconds=ttl))
    return FinishResult(
        name=name,
        namespace=namespace,
        phase=FinishedPhase(phase).value,
        finished_at=str(annotations[FINISHED_AT_ANNOTATION]),
        marked=marked,
        deleted=deleted,
        expires_at=expires,
    )


def reopen(hook: WorkloadClient, objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Remove finished marks from objects that carry one; return ``Kind/name`` of those.

    A workload deployed again (task retry, new rollout) is running, not
    finished: its old mark must not let the cleanup delete it.
    """
    cleared = []
    for obj in objects:
        annotations = annotations_of(obj)
        if PHASE_ANNOTATION in annotations or FINISHED_AT_ANNOTATION in annotations:
            if _annotate(hook, obj, CLEAR_MARK):
                cleared.append(object_ref(obj))
    return cleared
