"""Which cluster objects belong to the workload, and which revision is current.

Callers list ReplicaSets, pods and events by label or namespace, and such a
list can hold strays: a same-named workload's leftovers, a pod adopted by
another controller, events about objects long gone. This module owns the
rule that only the Deployment's own ReplicaSets (by ``ownerReferences``) and
their pods count, and that the current ReplicaSet is the one whose
``deployment.kubernetes.io/revision`` annotation matches the Deployment's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ._fields import (
    K8sObject,
    dig,
    earliest,
    get_int,
    get_list,
    get_map,
    get_str,
    get_str_map,
    get_time,
)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

_FINISHED_POD_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class EventRecord:
    """The parts of a core/v1 (or events.k8s.io/v1) Event that classifiers use.

    Attributes:
        kind: The kind of the object the event is about (``involvedObject``
            or ``regarding``), e.g. ``Pod``.
        name: That object's name.
        uid: That object's uid, empty when absent; it tells the events of a
            re-created workload from those of its same-named predecessor.
        reason: The event's reason, e.g. ``FailedScheduling``.
        message: The event's message (``note`` in events.k8s.io/v1).
        first_seen: When the condition was first reported (else when the
            event was created); ``None`` when undated.
        last_seen: When it was last reported, at least ``first_seen``;
            ``None`` when undated.
    """

    kind: str
    name: str
    uid: str
    reason: str
    message: str
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class Scope:
    """The workload's own objects, split by revision.

    Attributes:
        deployment: The Deployment as the API server returned it.
        current_rs: The ReplicaSet of the Deployment's current revision;
            ``None`` while none of its ReplicaSets carries that revision.
        old_rs: The Deployment's ReplicaSets of earlier revisions.
        current_pods: Pods of the current ReplicaSet (every owned pod when
            there is no identifiable current ReplicaSet).
        old_pods: Pods of earlier revisions, e.g. still serving while a
            rolling update proceeds.
        events: Events about the Deployment, its ReplicaSets and its pods;
            strays about other or long-gone objects are dropped.
    """

    deployment: K8sObject
    current_rs: K8sObject | None
    old_rs: tuple[K8sObject, ...]
    current_pods: tuple[K8sObject, ...]
    old_pods: tuple[K8sObject, ...]
    events: tuple[EventRecord, ...] = field(default=())

    def events_for(self, kind: str, name: str, *reasons: str) -> list[EventRecord]:
        """Return the events about one object, optionally of the given reasons only."""
        return [
            event
            for event in self.events
            if event.kind == kind
            and event.name == name
            and (not reasons or event.reason in reasons)
        ]


def name_of(obj: object) -> str:
    """Return ``metadata.name`` or ``""``."""
    return get_str(obj, "metadata", "name")


def revision_of(obj: object) -> int | None:
    """Return the revision annotation as a number, or ``None`` when absent or garbled."""
    raw = get_str_map(obj, "metadata", "annotations").get(REVISION_ANNOTATION, "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


def is_live_pod(pod: K8sObject) -> bool:
    """True for a pod that still counts: not finished, not being deleted."""
    if dig(pod, "metadata", "deletionTimestamp") is not None:
        return False
    return get_str(pod, "status", "phase") not in _FINISHED_POD_PHASES


def _owned_by(obj: K8sObject, kind: str, names: set[str], uids: set[str]) -> bool:
    for ref in get_list(obj, "metadata", "ownerReferences"):
        if get_str(ref, "kind") != kind:
            continue
        uid = get_str(ref, "uid")
        if uids and uid:
            if uid in uids:
                return True
        elif get_str(ref, "name") in names:
            return True
    return False


def _workload_replica_sets(
    deployment: K8sObject, replica_sets: Iterable[K8sObject]
) -> list[K8sObject]:
    deploy_name = name_of(deployment)
    deploy_uid = get_str(deployment, "metadata", "uid")
    uids = {deploy_uid} if deploy_uid else set()
    owned = []
    for rs in replica_sets:
        if not isinstance(rs, Mapping):
            continue
        if dig(rs, "metadata", "ownerReferences") is None:
            # A cut-down object without owner references: fall back to the
            # controller's naming rule, "<deployment>-<pod-template-hash>".
            if deploy_name and name_of(rs).startswith(f"{deploy_name}-"):
                owned.append(rs)
        elif _owned_by(rs, "Deployment", {deploy_name}, uids):
            owned.append(rs)
    return owned


def _pick_current(deployment: K8sObject, owned: list[K8sObject]) -> K8sObject | None:
    wanted = revision_of(deployment)
    if wanted is not None:
        matching = [rs for rs in owned if revision_of(rs) == wanted]
    else:
        # The controller has not annotated the Deployment yet; its newest
        # ReplicaSet always carries the highest revision.
        numbered = [rs for rs in owned if revision_of(rs) is not None]
        top = max((revision_of(rs) or 0 for rs in numbered), default=None)
        matching = [rs for rs in numbered if revision_of(rs) == top]
    if not matching:
        return None
    return max(matching, key=lambda rs: get_str(rs, "metadata", "creationTimestamp"))


def event_record(event: K8sObject) -> EventRecord:
    """Read the parts of an Event the classifiers use (either Event API shape)."""
    target = get_map(event, "involvedObject") or get_map(event, "regarding")
    first = earliest(
        get_time(event, "firstTimestamp"),
        get_time(event, "eventTime"),
        get_time(event, "deprecatedFirstTimestamp"),
    )
    last_candidates = [
        get_time(event, "lastTimestamp"),
        get_time(event, "series", "lastObservedTime"),
        get_time(event, "deprecatedLastTimestamp"),
        first,
    ]
    known = [moment for moment in last_candidates if moment is not None]
    return EventRecord(
        kind=get_str(target, "kind"),
        name=get_str(target, "name"),
        uid=get_str(target, "uid"),
        reason=get_str(event, "reason"),
        message=get_str(event, "message") or get_str(event, "note"),
        first_seen=first or get_time(event, "metadata", "creationTimestamp"),
        last_seen=max(known) if known else None,
    )


def newest_event(events: Sequence[EventRecord]) -> EventRecord | None:
    """Return the most recently seen event; undated events count as oldest."""
    newest: EventRecord | None = None
    for event in events:
        if newest is None or (
            event.last_seen is not None
            and (newest.last_seen is None or event.last_seen > newest.last_seen)
        ):
            newest = event
    return newest


def _identities(kind: str, objects: Iterable[K8sObject]) -> set[tuple[str, str, str]]:
    return {(kind, name_of(obj), get_str(obj, "metadata", "uid")) for obj in objects}


def _is_about(record: EventRecord, wanted: set[tuple[str, str, str]]) -> bool:
    # ReplicaSet names derive from the pod template hash, so a workload deleted
    # and re-created under the same name reuses them: the uid tells the old
    # incarnation's events (still kept for an hour) from the current ones.
    for kind, name, uid in wanted:
        if record.kind == kind and record.name == name:
            if not uid or not record.uid or uid == record.uid:
                return True
    return False


def build_scope(
    deployment: K8sObject,
    replica_sets: Sequence[K8sObject],
    pods: Sequence[K8sObject],
    events: Sequence[K8sObject],
) -> Scope:
    """Keep only the workload's own objects and split them by revision.

    Args:
        deployment: The Deployment as the API returned it.
        replica_sets: ReplicaSets listed for the workload; strays are dropped.
        pods: Pods listed for the workload; only pods owned by one of the
            workload's ReplicaSets count.
        events: Events in the namespace; only those about the Deployment, its
            ReplicaSets or its pods are kept.

    Returns:
        The workload's scope. Without an identifiable current ReplicaSet every
        owned pod is treated as current, so its problems still surface.
    """
    owned_rs = _workload_replica_sets(deployment, replica_sets)
    current = _pick_current(deployment, owned_rs)
    current_name = name_of(current) if current is not None else ""
    old = tuple(rs for rs in owned_rs if rs is not current)
    rs_names = {name_of(rs) for rs in owned_rs if name_of(rs)}
    rs_uids = {get_str(rs, "metadata", "uid") for rs in owned_rs} - {""}

    current_pods: list[K8sObject] = []
    old_pods: list[K8sObject] = []
    for pod in pods:
        if not isinstance(pod, Mapping) or not _owned_by(pod, "ReplicaSet", rs_names, rs_uids):
            continue
        refs = get_list(pod, "metadata", "ownerReferences")
        owners = {get_str(ref, "name") for ref in refs}
        if current is None or current_name in owners:
            current_pods.append(pod)
        else:
            old_pods.append(pod)

    wanted = _identities("Deployment", [deployment])
    wanted |= _identities("ReplicaSet", owned_rs)
    wanted |= _identities("Pod", [*current_pods, *old_pods])
    records = tuple(
        record
        for record in (event_record(event) for event in events if isinstance(event, Mapping))
        if _is_about(record, wanted)
    )
    return Scope(
        deployment=deployment,
        current_rs=current,
        old_rs=old,
        current_pods=tuple(current_pods),
        old_pods=tuple(old_pods),
        events=records,
    )


def desired_replicas(deployment: K8sObject) -> int:
    """Return ``spec.replicas``; the API server defaults an omitted value to 1."""
    replicas = get_int(deployment, "spec", "replicas")
    return 1 if replicas is None else max(0, replicas)
