"""The Workloads page's table: listed cluster objects in, one row per workload out.

This module owns how the page sees a workload: which listed objects belong to
it (by the provider's labels; Events by the object they are about), its phase
and reason (the readiness verdict of :func:`~airflow_provider_hfinfer.status.
assess`, the one the sensor reads, overridden by a finished mark), replicas,
GPUs, autoscaling rule, endpoint, the task that deployed it, its age and the
auto-deletion time left. Pure: no I/O, no clock (``now`` is an argument), no
Airflow or client import; :mod:`.listing` feeds it what one list call per kind
and namespace returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from airflow_provider_hfinfer.deploy.marks import (
    expiry_of,
    format_rfc3339,
    parse_rfc3339,
    read_mark,
    workload_key,
)
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.render.records import recorded_spec
from airflow_provider_hfinfer.render.service import endpoint_url
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import (
    MODEL_ANNOTATION,
    REVISION_ANNOTATION,
    annotations_of,
    object_ref,
    owner_of,
)
from airflow_provider_hfinfer.status import Phase, WorkloadStatus, assess

JsonDict = dict[str, Any]

PHASE_WORDS = {
    Phase.READY: "Serving",
    Phase.STARTING: "Starting",
    Phase.PENDING: "Pending",
    Phase.SCALED_TO_ZERO: "Scaled to zero",
    Phase.DEGRADED: "Degraded",
    Phase.FAILED: "Failed",
    Phase.NOT_FOUND: "Not found",
}
"""The page's word for each readiness phase (a finished mark reads Completed or Failed)."""

PODS_AND_EVENTS = ("Pod", "ReplicaSet", "Event")
"""Kinds read for the verdict only; they are not objects of the workload itself."""


@dataclass(frozen=True)
class Owner:
    """The Airflow task that deployed a workload (``hfinfer.io/owner``).

    Attributes:
        dag_id: Its DAG.
        task_id: Its task.
        run_id: Its DAG run.
    """

    dag_id: str
    task_id: str
    run_id: str


def parse_owner(raw: str | None) -> Owner | None:
    """``dag/task/run`` back into its parts; None when absent or not of that shape."""
    if not raw:
        return None
    parts = raw.split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return Owner(*parts)


@dataclass(frozen=True)
class WorkloadRow:
    """One row of the Workloads table: JSON primitives only (see :meth:`to_json`).

    Attributes:
        connection: The Airflow Kubernetes connection it was listed through.
        namespace: Its namespace (the project).
        name: The workload name.
        model: The Hugging Face model id.
        revision: The model revision, when recorded.
        phase: Serving, Starting, Pending, Scaled to zero, Degraded, Failed, Completed
            or Not found (the Deployment is gone, other objects are left).
        reason: The readiness reason (``Unschedulable``, ``CrashLoopBackOff``...) or,
            for a failed mark, why it failed.
        message: The readiness model's one line for people.
        terminal: Waiting will not heal it.
        ready_replicas: Ready replicas of the current revision.
        desired_replicas: The Deployment's ``spec.replicas``.
        gpus_per_replica: GPUs each replica requests.
        gpus_total: GPUs the desired replicas hold.
        autoscaling: The scaling rule in words.
        endpoint: The OpenAI-compatible base URL inside the cluster.
        owner: The task that deployed it, when recorded.
        created_at: When its Deployment (or first object) was created (RFC 3339).
        age_seconds: Seconds since then.
        finished_phase: Completed or Failed when marked finished.
        expires_at: When the TTL cleanup may delete it (RFC 3339).
        expires_in_seconds: Seconds until then (negative: overdue).
        objects: ``Kind/name`` of its objects.
    """

    connection: str
    namespace: str
    name: str
    model: str
    revision: str
    phase: str
    reason: str
    message: str
    terminal: bool
    ready_replicas: int
    desired_replicas: int
    gpus_per_replica: int
    gpus_total: int
    autoscaling: str
    endpoint: str
    owner: Owner | None
    created_at: str | None
    age_seconds: int | None
    finished_phase: str | None
    expires_at: str | None
    expires_in_seconds: int | None
    objects: tuple[str, ...]

    def to_json(self) -> JsonDict:
        """The row as JSON primitives."""
        data = asdict(self)
        data["objects"] = list(self.objects)
        return data


@dataclass
class WorkloadObjects:
    """What was listed for one workload, split by role.

    Attributes:
        namespace: Its namespace.
        name: Its name.
        own: Its own objects (Deployment, Service, scaler, policies, Secret).
        replica_sets: ReplicaSets carrying its labels.
        pods: Pods carrying its labels.
        events: Events about its Deployment, ReplicaSets and pods.
    """

    namespace: str
    name: str
    own: list[Mapping[str, Any]]
    replica_sets: list[JsonDict]
    pods: list[JsonDict]
    events: list[JsonDict]

    def of_kind(self, kind: str) -> JsonDict | None:
        """The first own object of ``kind``."""
        return next((dict(obj) for obj in self.own if obj.get("kind") == kind), None)

    @property
    def deployment(self) -> JsonDict | None:
        """Its Deployment, when it exists."""
        return self.of_kind("Deployment")

    @property
    def scaler(self) -> JsonDict | None:
        """Its KEDA ScaledObject or HTTPScaledObject, when it has one."""
        return self.of_kind("ScaledObject") or self.of_kind("HTTPScaledObject")


def _event_target(event: Mapping[str, Any]) -> tuple[str, str]:
    target = event.get("involvedObject") or event.get("regarding") or {}
    name = str(target.get("name", "")) if isinstance(target, Mapping) else ""
    namespace = event.get("metadata", {}).get("namespace") or (
        target.get("namespace") if isinstance(target, Mapping) else ""
    )
    return str(namespace or ""), name


def group_objects(objects: Iterable[Mapping[str, Any]]) -> list[WorkloadObjects]:
    """Split listed objects of any kinds and namespaces into workloads.

    Objects without the provider's labels are dropped; an Event joins every
    workload whose name is its object's name or a ``<name>-`` prefix of it (the
    rule of :func:`~airflow_provider_hfinfer.kube.snapshot.about_workload`),
    found by prefix look-up, so the cost grows with the events, not with
    events times workloads.

    Returns:
        Workloads with at least one own object, sorted by namespace and name.
    """
    groups: dict[tuple[str, str], WorkloadObjects] = {}
    events: list[Mapping[str, Any]] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "Event":
            events.append(obj)
            continue
        key = workload_key(obj)
        if key is None:
            continue
        group = groups.setdefault(key, WorkloadObjects(key[0], key[1], [], [], [], []))
        if kind == "ReplicaSet":
            group.replica_sets.append(dict(obj))
        elif kind == "Pod":
            group.pods.append(dict(obj))
        else:
            group.own.append(obj)
    for event in events:
        namespace, involved = _event_target(event)
        cuts = [len(involved)] + [i for i, ch in enumerate(involved) if ch == "-"]
        for cut in cuts:
            found = groups.get((namespace, involved[:cut]))
            if found is not None:
                found.events.append(dict(event))
    return [group for key, group in sorted(groups.items()) if group.own]


def gpus_per_replica(deployment: Mapping[str, Any] | None, resource_name: str) -> int:
    """GPUs one replica requests: the sum over the pod template's containers."""
    if not deployment:
        return 0
    spec = deployment.get("spec", {}).get("template", {}).get("spec", {})
    total = 0
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        amount = (resources.get("limits") or {}).get(resource_name) or (
            resources.get("requests") or {}
        ).get(resource_name)
        try:
            total += int(str(amount)) if amount is not None else 0
        except ValueError:
            continue
    return total


def autoscaling_words(spec: InferenceWorkload | None, scaler: Mapping[str, Any] | None) -> str:
    """The scaling rule in a few words, from the recorded spec or else the scaler."""
    if spec is not None:
        low, high = spec.replicas.min, spec.replicas.max
        if spec.scale_to_zero is not None:
            return f"0..{high}, to zero after {spec.scale_to_zero.idle_seconds}s idle"
        rule = spec.autoscaling
        if rule is None or low == high:
            return f"fixed {low}"
        unit = {"latency": " ms", "throughput": " req/s per replica"}.get(
            rule.metric, " per replica"
        )
        return f"{low}..{high}, {rule.metric} > {rule.threshold:g}{unit}"
    if scaler:
        body = scaler.get("spec") or {}
        if scaler.get("kind") == "HTTPScaledObject":
            replicas = body.get("replicas") or {}
            return f"{replicas.get('min', 0)}..{replicas.get('max', '?')}, scale to zero (HTTP)"
        return f"{body.get('minReplicaCount', '?')}..{body.get('maxReplicaCount', '?')} (KEDA)"
    return "fixed"


def _service_endpoint(service: Mapping[str, Any] | None, options: RenderOptions) -> str:
    if not service:
        return ""
    meta = service.get("metadata", {})
    ports = service.get("spec", {}).get("ports") or [{}]
    port = ports[0].get("port", 80)
    suffix = "" if port == 80 else f":{port}"
    return (
        f"http://{meta.get('name')}.{meta.get('namespace')}.svc.{options.cluster_domain}{suffix}/v1"
    )


def _seconds(later: datetime, earlier: datetime) -> int:
    return int((later - earlier).total_seconds())


def _phase(status: WorkloadStatus, members: WorkloadObjects) -> tuple[str, str, str | None]:
    """``(phase, reason, finished phase)``: a finished mark wins over the verdict."""
    speaker = members.deployment or (dict(members.own[0]) if members.own else {})
    mark = read_mark(speaker)
    if mark is None:
        return PHASE_WORDS.get(status.phase, status.phase.value), status.reason, None
    reason = mark.reason or status.reason
    return mark.phase.value, reason, mark.phase.value


def assess_members(
    members: WorkloadObjects, now: datetime, log_tails: Mapping[str, str] | None = None
) -> WorkloadStatus:
    """The readiness verdict on one workload's listed objects (the sensor's ``assess``)."""
    return assess(
        members.deployment,
        members.replica_sets,
        members.pods,
        members.events,
        members.scaler,
        now=now,
        log_tails=log_tails,
    )


def build_row(
    members: WorkloadObjects,
    connection: str,
    now: datetime,
    options: RenderOptions,
    status: WorkloadStatus | None = None,
) -> WorkloadRow:
    """One table row for one workload's listed objects.

    Args:
        members: The workload's objects, as :func:`group_objects` split them.
        connection: The Airflow connection they were listed through.
        now: The moment of the listing (for ages, countdowns and the verdict).
        options: The connection's cluster settings (GPU resource name, DNS domain).
        status: Its verdict, when the caller already has it (else assessed here).
    """
    deployment = members.deployment
    status = status or assess_members(members, now)
    phase, reason, finished = _phase(status, members)
    speaker: Mapping[str, Any] = deployment or members.own[0]
    notes = annotations_of(speaker)
    spec = recorded_spec(deployment)
    per_replica = gpus_per_replica(deployment, options.gpu_resource_name)
    endpoint = (
        endpoint_url(spec, members.namespace, options)
        if spec is not None
        else _service_endpoint(members.of_kind("Service"), options)
    )
    created = parse_rfc3339(str(speaker.get("metadata", {}).get("creationTimestamp") or ""))
    expires = expiry_of(members.own)
    return WorkloadRow(
        connection=connection,
        namespace=members.namespace,
        name=members.name,
        model=str(notes.get(MODEL_ANNOTATION) or (spec.model.id if spec else "")),
        revision=str(notes.get(REVISION_ANNOTATION) or (spec.model.revision if spec else "")),
        phase=phase,
        reason=reason,
        message=status.message,
        terminal=status.terminal,
        ready_replicas=status.ready_replicas,
        desired_replicas=status.desired_replicas,
        gpus_per_replica=per_replica,
        gpus_total=per_replica * status.desired_replicas,
        autoscaling=autoscaling_words(spec, members.scaler),
        endpoint=endpoint,
        owner=parse_owner(owner_of(speaker)),
        created_at=format_rfc3339(created) if created else None,
        age_seconds=_seconds(now, created) if created else None,
        finished_phase=finished,
        expires_at=format_rfc3339(expires) if expires else None,
        expires_in_seconds=_seconds(expires, now) if expires else None,
        objects=tuple(object_ref(obj) for obj in members.own),
    )


def build_rows(
    objects: Sequence[Mapping[str, Any]],
    connection: str,
    now: datetime,
    options: RenderOptions | None = None,
) -> list[WorkloadRow]:
    """Every workload among ``objects`` as a table row, sorted by namespace and name.

    Args:
        objects: What the list calls returned, of any kinds and namespaces, each
            with ``kind`` set (Deployments, ReplicaSets, pods, Events, Services,
            scalers; other kinds of the workload are listed in its objects).
        connection: The Airflow connection they were listed through.
        now: The moment of the listing.
        options: The connection's cluster settings (default: the defaults).
    """
    settings = options or RenderOptions()
    return [build_row(group, connection, now, settings) for group in group_objects(objects)]
