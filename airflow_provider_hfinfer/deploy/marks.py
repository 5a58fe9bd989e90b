"""Finished marks and auto-deletion (TTL) decisions: a pure function of listed objects.

This module owns the lifecycle vocabulary every task shares (the create,
update, complete and cleanup operators, the Workloads page):

* **Finished marks.** A workload that completed or failed carries
  ``hfinfer.io/phase`` (``Completed`` or ``Failed``), ``hfinfer.io/finished-at``
  (RFC 3339, UTC) and, for failures, ``hfinfer.io/finish-reason`` on **every**
  object of the workload (Secret, Istio policies, Service, Deployment, scaler).
  Marking every object, not only the Deployment, means a cleanup interrupted
  half-way (Deployment deleted, Service not yet) still finds the leftovers
  marked on its next run. The TTL comes from ``hfinfer.io/auto-delete-after``
  (rendered from the spec's ``auto_delete_after``); it starts at
  ``finished-at``. Without that annotation a finished workload is kept.
* **Expiry.** :func:`find_expired` is a pure function of listed objects and
  ``now``: it groups objects by namespace and ``hfinfer.io/workload`` label and
  returns the workloads whose mark has expired. An unmarked workload is never
  expired; objects without the provider's labels are never considered.

The cluster side (marking, reopening, deleting) is :mod:`.finish`. If Airflow is
down, nothing is lost: the marks and TTL live on the cluster objects themselves,
not in Airflow. Deletion is merely late; the next cleanup run lists every
managed object again and deletes whatever expired meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from airflow_provider_hfinfer.kube.resources import WORKLOAD_KINDS
from airflow_provider_hfinfer.spec.names import (
    FINISH_REASON_ANNOTATION,
    FINISHED_AT_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PHASE_ANNOTATION,
    TTL_ANNOTATION,
    WORKLOAD_LABEL,
    annotations_of,
    labels_of,
)

_MAX_REASON = 200
_KIND_ORDER = {resource.kind: index for index, resource in enumerate(WORKLOAD_KINDS)}


class FinishedPhase(str, Enum):
    """How a workload ended."""

    COMPLETED = "Completed"
    FAILED = "Failed"


def format_rfc3339(moment: datetime) -> str:
    """``2026-11-27T05:33:56Z``: UTC, whole seconds (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp; None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def ttl_seconds(obj: Mapping[str, Any]) -> int | None:
    """The object's ``hfinfer.io/auto-delete-after`` in seconds; None when absent or invalid."""
    raw = annotations_of(obj).get(TTL_ANNOTATION)
    try:
        value = int(str(raw))
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class FinishMark:
    """The finished mark read from one object.

    Attributes:
        phase: Completed or Failed.
        finished_at: When the workload finished (UTC).
        ttl_seconds: Seconds to keep it after that; None keeps it forever.
        reason: Why it failed, when it did.
    """

    phase: FinishedPhase
    finished_at: datetime
    ttl_seconds: int | None
    reason: str | None = None

    @property
    def expires_at(self) -> datetime | None:
        """When it may be deleted; None when never."""
        if self.ttl_seconds is None:
            return None
        return self.finished_at + timedelta(seconds=self.ttl_seconds)


def read_mark(obj: Mapping[str, Any]) -> FinishMark | None:
    """The object's finished mark; None when unmarked or the mark is unreadable."""
    annotations = annotations_of(obj)
    try:
        phase = FinishedPhase(str(annotations.get(PHASE_ANNOTATION)))
    except ValueError:
        return None
    finished_at = parse_rfc3339(str(annotations.get(FINISHED_AT_ANNOTATION, "")))
    if finished_at is None:
        return None
    reason = annotations.get(FINISH_REASON_ANNOTATION)
    return FinishMark(phase, finished_at, ttl_seconds(obj), str(reason) if reason else None)


def mark_annotations(
    phase: FinishedPhase | str, now: datetime, reason: str | None = None
) -> dict[str, str | None]:
    """The annotations that mark a workload finished (a stale reason is removed)."""
    value = FinishedPhase(phase)
    short = " ".join((reason or "").split())[:_MAX_REASON] or None
    return {
        PHASE_ANNOTATION: value.value,
        FINISHED_AT_ANNOTATION: format_rfc3339(now),
        FINISH_REASON_ANNOTATION: short if value is FinishedPhase.FAILED else None,
    }


CLEAR_MARK: Mapping[str, None] = {
    PHASE_ANNOTATION: None,
    FINISHED_AT_ANNOTATION: None,
    FINISH_REASON_ANNOTATION: None,
}
"""Merge patch that removes a finished mark (a workload deployed again runs anew)."""


def delete_order(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects in reverse apply order: scaler first, Secret last."""
    return sorted(objects, key=lambda obj: _KIND_ORDER.get(str(obj.get("kind")), -1), reverse=True)


def workload_key(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(namespace, workload name)`` of an object this provider manages, else None."""
    labels = labels_of(obj)
    name = labels.get(WORKLOAD_LABEL)
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or not isinstance(name, str) or not name:
        return None
    namespace = obj.get("metadata", {}).get("namespace")
    return (str(namespace or ""), name)


def expiry_of(objects: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When a workload's objects may be deleted; None when never (or not marked).

    The Deployment speaks for the workload while it exists. Once it is gone
    (an earlier deletion stopped half-way), the leftovers expire only when each
    of them carries an expired mark of its own.
    """
    deployments = [obj for obj in objects if obj.get("kind") == "Deployment"]
    speakers = deployments or list(objects)
    if not speakers:
        return None
    moments: list[datetime] = []
    for obj in speakers:
        mark = read_mark(obj)
        expires = mark.expires_at if mark else None
        if expires is None:
            return None
        moments.append(expires)
    return max(moments)


@dataclass(frozen=True)
class ExpiredWorkload:
    """A workload whose auto-deletion time has passed.

    Attributes:
        namespace: Its namespace.
        name: Its name.
        expired_at: When its TTL ran out.
        phase: How it finished, as marked on the objects.
        objects: Its listed objects, in delete order.
    """

    namespace: str
    name: str
    expired_at: datetime
    phase: str
    objects: tuple[Mapping[str, Any], ...] = field(repr=False)

    @property
    def ref(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


def group_workloads(
    objects: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Managed objects by ``(namespace, workload name)``; everything else is dropped."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for obj in objects:
        key = workload_key(obj)
        if key is not None:
            groups.setdefault(key, []).append(obj)
    return groups


def find_expired(objects: Iterable[Mapping[str, Any]], now: datetime) -> list[ExpiredWorkload]:
    """The workloads among ``objects`` whose finished mark expired at or before ``now``.

    Args:
        objects: Listed objects of any kinds and namespaces (each needs ``kind``).
        now: The moment of the decision (naive values are taken as UTC).

    Returns:
        Expired workloads, sorted by namespace and name. Objects without the
        provider's labels and workloads without a finished mark never appear.
    """
    moment = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    expired: list[ExpiredWorkload] = []
    for (namespace, name), members in sorted(group_workloads(objects).items()):
        expires = expiry_of(members)
        if expires is None or expires > moment:
            continue
        marks = [read_mark(obj) for obj in members]
        phase = next((mark.phase.value for mark in marks if mark), "")
        ordered = tuple(delete_order(members))
        expired.append(ExpiredWorkload(namespace, name, expires, phase, ordered))
    return expired


@dataclass(frozen=True)
class FinishResult:
    """What :func:`mark_finished` did.

    Attributes:
        name: The workload.
        namespace: Its namespace.
        phase: Completed or Failed.
        finished_at: The mark's timestamp (RFC 3339).
        marked: ``Kind/name`` of the objects marked.
        deleted: ``Kind/name`` of the objects deleted (TTL 0).
        expires_at: When the cleanup may delete it (RFC 3339); None when never
            or already deleted.
    """

    name: str
    namespace: str
    phase: str
    finished_at: str
    marked: tuple[str, ...]
    deleted: tuple[str, ...]
    expires_at: str | None

    def to_xcom(self) -> dict[str, Any]:
        """JSON primitives for XCom."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "phase": self.phase,
            "finished_at": self.finished_at,
            "marked": list(self.marked),
            "deleted": list(self.deleted),
            "expires_at": self.expires_at,
        }
