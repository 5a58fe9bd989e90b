"""Workload lifecycle: finished marks, auto-deletion (TTL) decisions, rollout bookkeeping.

This module owns the lifecycle vocabulary every task shares (the create,
update, complete and cleanup operators, and any sensor or trigger):

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
* **Rollout bookkeeping.** The spec a task applied is kept, redacted (secrets
  masked), in ``hfinfer.io/applied-spec`` on the Deployment, so the next
  rollout can roll back to it; a rollout also records the spec it replaces in
  ``hfinfer.io/previous-spec``, so a deferred task resuming in another process
  still finds its way back.

The thin part (:func:`mark_finished`, :func:`reopen`, :func:`delete_objects`)
talks to a cluster only through a hook-like object with ``list_workload_objects``,
``annotate`` and ``delete`` (see :class:`WorkloadClient`); the module imports
neither Airflow nor kubernetes.

If Airflow is down, nothing is lost: the marks and TTL live on the cluster
objects themselves, not in Airflow. Deletion is merely late; the next cleanup
run lists every managed object again and deletes whatever expired meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Protocol

from airflow_provider_hfinfer.exceptions import KubeAPIError
from airflow_provider_hfinfer.kube.resources import WORKLOAD_KINDS
from airflow_provider_hfinfer.render.metadata import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SPEC_HASH_ANNOTATION,
    TTL_ANNOTATION,
    WORKLOAD_LABEL,
)
from airflow_provider_hfinfer.spec import PROVIDER_PREFIX, InferenceWorkload

PHASE_ANNOTATION = f"{PROVIDER_PREFIX}/phase"
FINISHED_AT_ANNOTATION = f"{PROVIDER_PREFIX}/finished-at"
FINISH_REASON_ANNOTATION = f"{PROVIDER_PREFIX}/finish-reason"
APPLIED_SPEC_ANNOTATION = f"{PROVIDER_PREFIX}/applied-spec"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""Label selector of every object this provider manages (what the cleanup lists)."""

_MAX_REASON = 200
_KIND_ORDER = {resource.kind: index for index, resource in enumerate(WORKLOAD_KINDS)}


class FinishedPhase(str, Enum):
    """How a workload ended."""

    COMPLETED = "Completed"
    FAILED = "Failed"


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


# ------------------------------------------------------------------- pure part


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


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    found = meta.get("annotations") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    found = meta.get("labels") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _ttl_seconds(obj: Mapping[str, Any]) -> int | None:
    raw = _annotations(obj).get(TTL_ANNOTATION)
    try:
        value = int(str(raw))
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class FinishMark:
    """The finished mark read from one object.

    :param phase: Completed or Failed.
    :param finished_at: When the workload finished (UTC).
    :param ttl_seconds: Seconds to keep it after that; None keeps it forever.
    :param reason: Why it failed, when it did.
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
    annotations = _annotations(obj)
    try:
        phase = FinishedPhase(str(annotations.get(PHASE_ANNOTATION)))
    except ValueError:
        return None
    finished_at = parse_rfc3339(str(annotations.get(FINISHED_AT_ANNOTATION, "")))
    if finished_at is None:
        return None
    reason = annotations.get(FINISH_REASON_ANNOTATION)
    return FinishMark(phase, finished_at, _ttl_seconds(obj), str(reason) if reason else None)


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
    labels = _labels(obj)
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

    :param namespace: Its namespace.
    :param name: Its name.
    :param expired_at: When its TTL ran out.
    :param phase: How it finished, as marked on the objects.
    :param objects: Its listed objects, in delete order.
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


def applied_spec_json(workload: InferenceWorkload) -> str:
    """The spec as compact JSON with every secret masked (safe for an annotation)."""
    return json.dumps(workload.redacted(), sort_keys=True, separators=(",", ":"))


def _stamp_spec(manifests: Sequence[dict[str, Any]], key: str, workload: InferenceWorkload) -> None:
    """Record a redacted spec under annotation ``key`` on the Deployment manifest."""
    for manifest in manifests:
        if manifest.get("kind") == "Deployment":
            manifest["metadata"].setdefault("annotations", {})[key] = applied_spec_json(workload)


def stamp_applied_spec(manifests: Sequence[dict[str, Any]], workload: InferenceWorkload) -> None:
    """Record the redacted spec on the Deployment manifest (the next rollback's target)."""
    _stamp_spec(manifests, APPLIED_SPEC_ANNOTATION, workload)


def recorded_spec(deployment: Mapping[str, Any] | None) -> InferenceWorkload | None:
    """The spec a live Deployment was applied from; None when not recorded or unreadable.

    Secrets come back masked: never render a Secret from the result.
    """
    if not deployment:
        return None
    return spec_from_record(_annotations(deployment).get(APPLIED_SPEC_ANNOTATION))


# ------------------------------------------------------------------- thin part


@dataclass(frozen=True)
class FinishResult:
    """What :func:`mark_finished` did.

    :param name: The workload.
    :param namespace: Its namespace.
    :param phase: Completed or Failed.
    :param finished_at: The mark's timestamp (RFC 3339).
    :param marked: ``Kind/name`` of the objects marked.
    :param deleted: ``Kind/name`` of the objects deleted (TTL 0).
    :param expires_at: When the cleanup may delete it (RFC 3339); None when never
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


def _ref(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


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
    return [_ref(obj) for obj in delete_order(objects) if client.delete(obj)]


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
    marked = tuple(_ref(obj) for obj in objects if _annotate(hook, obj, annotations))
    ttl = min((t for t in map(_ttl_seconds, objects) if t is not None), default=None)
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
        annotations = _annotations(obj)
        if PHASE_ANNOTATION in annotations or FINISHED_AT_ANNOTATION in annotations:
            if _annotate(hook, obj, CLEAR_MARK):
                cleared.append(_ref(obj))
    return cleared


def unchanged(
    live: Mapping[str, Mapping[str, Any]], manifests: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether every manifest already exists with the same ``hfinfer.io/spec-hash``.

    Args:
        live: Live objects by ``Kind/name`` (what an ownership check read).
        manifests: The rendered manifests of the new spec.

    Returns:
        True when applying would change nothing this provider renders.
    """
    if not manifests:
        return False
    for manifest in manifests:
        current = live.get(_ref(manifest))
        wanted = _annotations(manifest).get(SPEC_HASH_ANNOTATION)
        if (
            current is None
            or not wanted
            or _annotations(current).get(SPEC_HASH_ANNOTATION) != wanted
        ):
            return False
        # The spec hash leaves token values out (it is stored in an annotation), so a
        # rotated token shows only in the Secret's data: compare that too.
        if manifest.get("kind") == "Secret" and not _same_secret_data(current, manifest):
            return False
    return True


def _same_secret_data(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the live Secret holds every key of the rendered one with the same value."""
    have, want = live.get("data"), wanted.get("data")
    if not isinstance(want, Mapping):
        return True
    if not isinstance(have, Mapping):
        return not want
    return all(have.get(key) == value for key, value in want.items())


# ------------------------------------------------------ rollout in flight (pure)

PREVIOUS_SPEC_ANNOTATION = f"{PROVIDER_PREFIX}/previous-spec"
"""The redacted spec a Deployment ran before its last rollout: a deferred rollout's way back."""


def spec_from_record(raw: object) -> InferenceWorkload | None:
    """Parse a spec recorded by :func:`applied_spec_json`; None when absent or unreadable.

    Secrets come back masked: never render a Secret from the result.
    """
    if not isinstance(raw, str):
        return None
    try:
        return InferenceWorkload.model_validate(json.loads(raw))
    except ValueError:
        # pydantic.ValidationError and json.JSONDecodeError: no record, not a crash.
        return None


def stamp_previous_spec(
    manifests: Sequence[dict[str, Any]], previous: InferenceWorkload | None
) -> None:
    """Record, redacted, the spec a rollout replaces on the Deployment manifest.

    Written in the same apply as the new spec, so a task that resumes after a
    deferral (perhaps on another worker) finds its rollback target on the cluster.
    None records nothing; the apply then drops a record the same field manager
    wrote before (server-side apply removes fields a manager no longer sends).
    """
    if previous is not None:
        _stamp_spec(manifests, PREVIOUS_SPEC_ANNOTATION, previous)


def recorded_previous_spec(deployment: Mapping[str, Any] | None) -> InferenceWorkload | None:
    """The spec a live Deployment ran before its last rollout; None when not recorded.

    Secrets come back masked: never render a Secret from the result.
    """
    if not deployment:
        return None
    return spec_from_record(_annotations(deployment).get(PREVIOUS_SPEC_ANNOTATION))
