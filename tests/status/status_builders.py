"""Builders of Kubernetes objects shaped exactly as the API server returns them.

The shapes follow apps/v1 Deployment and ReplicaSet, core/v1 Pod and Event as
served in JSON: camelCase keys, RFC 3339 timestamps, zero-valued ``omitempty``
integers left out (a Deployment with no ready replica has no ``readyReplicas``
key at all), ``lastProbeTime: null`` on pod conditions, and scheduler events
written through events.k8s.io (``eventTime`` set, ``firstTimestamp`` null).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

NAMESPACE = "ml-team"
IMAGE = "vllm/vllm-openai:v0.6.4"
IMAGE_ID = "docker.io/vllm/vllm-openai@sha256:" + "4f" * 32
T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone.utc)

Obj = dict[str, Any]


def at(seconds: float) -> datetime:
    """The moment ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    """RFC 3339 metav1.Time (whole seconds, Z) ``seconds`` after T0."""
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_ts(seconds: float) -> str:
    """RFC 3339 metav1.MicroTime, as events.k8s.io writes eventTime."""
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _uid(kind: str, name: str) -> str:
    digest = f"{zlib.crc32(f'{kind}/{name}'.encode()):012x}"
    return f"0f3c2a1b-{kind[:4].lower().ljust(4, '0')}-4d2e-9f00-{digest}"


def _omit_zero(**fields: int | None) -> Obj:
    return {key: value for key, value in fields.items() if value}


def condition(
    ctype: str,
    status: str,
    reason: str | None = None,
    message: str | None = None,
    since: float = 0,
    *,
    updated: float | None = None,
) -> Obj:
    """A Deployment/ReplicaSet condition (lastUpdateTime + lastTransitionTime)."""
    out: Obj = {
        "type": ctype,
        "status": status,
        "lastUpdateTime": ts(since if updated is None else updated),
        "lastTransitionTime": ts(since),
    }
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def available(ok: bool = True, since: float = 0) -> Obj:
    if ok:
        return condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            since,
        )
    return condition(
        "Available",
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
        since,
    )


def progressing(rs_name: str, reason: str = "NewReplicaSetAvailable", since: float = 0) -> Obj:
    messages = {
        "NewReplicaSetAvailable": f'ReplicaSet "{rs_name}" has successfully progressed.',
        "ReplicaSetUpdated": f'ReplicaSet "{rs_name}" is progressing.',
        "NewReplicaSetCreated": f'Created new replica set "{rs_name}"',
        "ProgressDeadlineExceeded": f'ReplicaSet "{rs_name}" has timed out progressing.',
    }
    status = "False" if reason == "ProgressDeadlineExceeded" else "True"
    return condition("Progressing", status, reason, messages.get(reason), since)


def replica_failure(message: str, since: float = 0) -> Obj:
    return condition("ReplicaFailure", "True", "FailedCreate", message, since)


def deployment(
    name: str = "llama",
    *,
    replicas: int | None = 1,
    generation: int = 1,
    observed: int | None = 1,
    revision: str | None = "1",
    total: int | None = None,
    updated: int | None = None,
    ready: int | None = None,
    available_count: int | None = None,
    conditions: list[Obj] | None = None,
    deleting: bool = False,
) -> Obj:
    """An apps/v1 Deployment; status counts default to "fully rolled out and ready"."""
    want = replicas if replicas is not None else 1
    total = want if total is None else total
    updated = want if updated is None else updated
    ready = want if ready is None else ready
    available_count = ready if available_count is None else available_count
    labels = {
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/managed-by": "airflow-provider-hfinfer",
    }
    metadata: Obj = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": _uid("Deployment", name),
        "resourceVersion": "48211",
        "generation": generation,
        "creationTimestamp": ts(-600),
        "labels": labels,
    }
    if revision is not None:
        metadata["annotations"] = {"deployment.kubernetes.io/revision": revision}
    if deleting:
        metadata["deletionTimestamp"] = ts(-5)
        metadata["deletionGracePeriodSeconds"] = 0
        metadata["finalizers"] = ["foregroundDeletion"]
    spec: Obj = {
        "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "vllm", "image": IMAGE}]},
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 1800,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    status: Obj = _omit_zero(
        observedGeneration=observed,
        replicas=total,
        updatedReplicas=updated,
        readyReplicas=ready,
        availableReplicas=available_count,
        unavailableReplicas=max(0, total - available_count),
    )
    if conditions is None:
        rs_name = rs_name_for(name, revision or "1")
        if ready >= want:
            conditions = [available(True), progressing(rs_name)]
        else:
            conditions = [available(False), progressing(rs_name, "ReplicaSetUpdated")]
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def rs_name_for(deploy_name: str, revision: str) -> str:
    """The controller's "<deployment>-<pod-template-hash>" name, one hash per revision."""
    return f"{deploy_name}-{(int(revision) * 7919) % 10**10:010d}"[:63]


def replica_set(
    deploy: Obj,
    revision: str = "1",
    *,
    replicas: int = 1,
    created: int | None = None,
    ready: int | None = None,
    conditions: list[Obj] | None = None,
    owner: str | None = None,
    name: str | None = None,
) -> Obj:
    """An apps/v1 ReplicaSet owned by ``deploy`` (or by ``owner``, a stray)."""
    deploy_name = deploy["metadata"]["name"]
    owner_name = owner or deploy_name
    rs_name = name or rs_name_for(owner_name, revision)
    pod_hash = rs_name.rsplit("-", 1)[-1]
    created = replicas if created is None else created
    ready = created if ready is None else ready
    status: Obj = {
        "replicas": created,
        **_omit_zero(
            fullyLabeledReplicas=created,
            readyReplicas=ready,
            availableReplicas=ready,
        ),
        "observedGeneration": 1,
    }
    if conditions:
        status["conditions"] = conditions
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": NAMESPACE,
            "uid": _uid("ReplicaSet", rs_name),
            "resourceVersion": "48190",
            "generation": 1,
            "creationTimestamp": ts(-600 + int(revision)),
            "labels": {"app.kubernetes.io/instance": owner_name, "pod-template-hash": pod_hash},
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(replicas),
                "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                "deployment.kubernetes.io/revision": revision,
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner_name,
                    "uid": _uid("Deployment", owner_name),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/instance": owner_name,
                    "pod-template-hash": pod_hash,
                }
            },
        },
        "status": status,
    }


# ------------------------------------------------------------ container states


def terminated(
    exit_code: int, reason: str, *, started: float = 0, finished: float = 60, message: str = ""
) -> Obj:
    out: Obj = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": ts(started),
        "finishedAt": ts(finished),
        "containerID": "containerd://" + "ab" * 32,
    }
    if message:
        out["message"] = message
    return out


def running_container(
    *,
    started_at: float = 0,
    started: bool = True,
    ready: bool = True,
    restarts: int = 0,
    last: Obj | None = None,
    name: str = "vllm",
) -> Obj:
    return {
        "name": name,
        "state": {"running": {"startedAt": ts(started_at)}},
        "lastState": {"terminated": last} if last else {},
        "ready": ready,
        "restartCount": restarts,
        "image": IMAGE,
        "imageID": IMAGE_ID,
        "containerID": "containerd://" + "cd" * 32,
        "started": started,
    }


def waiting_container(
    reason: str,
    message: str | None = None,
    *,
    restarts: int = 0,
    last: Obj | None = None,
    image: str = IMAGE,
    name: str = "vllm",
) -> Obj:
    waiting: Obj = {"reason": reason}
    if message:
        waiting["message"] = message
    out: Obj = {
        "name": name,
        "state": {"waiting": waiting},
        "lastState": {"terminated": last} if last else {},
        "ready": False,
        "restartCount": restarts,
        "image": image,
        "imageID": IMAGE_ID if last else "",
        "started": False,
    }
    if last:
        out["containerID"] = "containerd://" + "ef" * 32
    return out


def terminated_container(state: Obj, *, restarts: int = 0, name: str = "vllm") -> Obj:
    return {
        "name": name,
        "state": {"terminated": state},
        "lastState": {},
        "ready": False,
        "restartCount": restarts,
        "image": IMAGE,
        "imageID": IMAGE_ID,
        "containerID": state["containerID"],
        "started": False,
    }


# ------------------------------------------------------------------------ pods


def _pod_condition(
    ctype: str, status: str, since: float, reason: str | None = None, message: str | None = None
) -> Obj:
    out: Obj = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": ts(since),
    }
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def pod(
    rs: Obj,
    suffix: str = "x2k9p",
    *,
    containers: list[Obj] | None = None,
    created: float = 0,
    unschedulable: str | None = None,
    gated: bool = False,
    phase: str | None = None,
    deleting: bool = False,
) -> Obj:
    """A core/v1 Pod of ``rs``; ready when every container status is ready."""
    rs_meta = rs["metadata"]
    name = f"{rs_meta['name']}-{suffix}"
    metadata: Obj = {
        "name": name,
        "generateName": f"{rs_meta['name']}-",
        "namespace": NAMESPACE,
        "uid": _uid("Pod", name),
        "resourceVersion": "48300",
        "creationTimestamp": ts(created),
        "labels": dict(rs_meta["labels"]),
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs_meta["name"],
                "uid": rs_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if deleting:
        metadata["deletionTimestamp"] = ts(created + 30)
        metadata["deletionGracePeriodSeconds"] = 30
    spec: Obj = {
        "containers": [{"name": "vllm", "image": IMAGE}],
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
    }
    if unschedulable is not None or gated:
        if gated:
            spec["schedulingGates"] = [{"name": "kueue.x-k8s.io/admission"}]
            sched = _pod_condition(
                "PodScheduled",
                "False",
                created,
                "SchedulingGated",
                "Scheduling is blocked due to non-empty scheduling gates",
            )
        else:
            sched = _pod_condition("PodScheduled", "False", created, "Unschedulable", unschedulable)
        status: Obj = {"phase": "Pending", "conditions": [sched], "qosClass": "Burstable"}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": status,
        }
    spec["nodeName"] = "gpu-node-a100-1"
    statuses = containers if containers is not None else [running_container()]
    all_ready = bool(statuses) and all(c.get("ready") for c in statuses)
    any_running = any("running" in c["state"] for c in statuses)
    unready = [c["name"] for c in statuses if not c.get("ready")]
    not_ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    conditions = [
        _pod_condition("PodReadyToStartContainers", "True", created + 2),
        _pod_condition("Initialized", "True", created + 1),
        _pod_condition("Ready", "True", created + 3)
        if all_ready
        else _pod_condition("Ready", "False", created + 1, "ContainersNotReady", not_ready_msg),
        _pod_condition("ContainersReady", "True", created + 3)
        if all_ready
        else _pod_condition(
            "ContainersReady", "False", created + 1, "ContainersNotReady", not_ready_msg
        ),
        _pod_condition("PodScheduled", "True", created),
    ]
    status = {
        "phase": phase or ("Running" if any_running else "Pending"),
        "conditions": conditions,
        "hostIP": "10.0.4.17",
        "hostIPs": [{"ip": "10.0.4.17"}],
        "podIP": "10.244.3.21",
        "podIPs": [{"ip": "10.244.3.21"}],
        "startTime": ts(created + 1),
        "containerStatuses": statuses,
        "qosClass": "Burstable",
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


# ---------------------------------------------------------------------- events


def event(
    kind: str,
    name: str,
    reason: str,
    message: str,
    *,
    first: float = 0,
    last: float | None = None,
    count: int = 1,
    etype: str = "Warning",
    component: str = "kubelet",
) -> Obj:
    """A core/v1 Event as the kubelet or a controller records it (timestamps set)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{name}.{zlib.crc32(f'{reason}{first}'.encode()):016x}",
            "namespace": NAMESPACE,
            "uid": _uid("Event", f"{name}{reason}{first}"),
            "resourceVersion": "48400",
            "creationTimestamp": ts(first),
        },
        "involvedObject": {
            "kind": kind,
            "namespace": NAMESPACE,
            "name": name,
            "uid": _uid(kind, name),
            "apiVersion": "v1" if kind == "Pod" else "apps/v1",
            "resourceVersion": "48190",
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": ts(first),
        "lastTimestamp": ts(first if last is None else last),
        "count": count,
        "type": etype,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }


def scheduler_event(pod_obj: Obj, message: str, *, first: float = 0) -> Obj:
    """FailedScheduling as the scheduler writes it via events.k8s.io: eventTime only."""
    name = pod_obj["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{name}.17f0c2a9d3e5b6c1",
            "namespace": NAMESPACE,
            "uid": _uid("Event", f"{name}sched"),
            "resourceVersion": "48401",
            "creationTimestamp": ts(first),
        },
        "involvedObject": {
            "kind": "Pod",
            "namespace": NAMESPACE,
            "name": name,
            "uid": pod_obj["metadata"]["uid"],
            "apiVersion": "v1",
            "resourceVersion": "48300",
        },
        "reason": "FailedScheduling",
        "message": message,
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Warning",
        "eventTime": micro_ts(first),
        "action": "Scheduling",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-control-plane",
    }


# ---------------------------------------------------------------------- scalers


def http_scaled_object(name: str = "llama", *, ready: bool = True) -> Obj:
    return {
        "apiVersion": "http.keda.sh/v1alpha1",
        "kind": "HTTPScaledObject",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": {
            "hosts": [f"{name}.{NAMESPACE}.svc"],
            "scaleTargetRef": {
                "name": name,
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "service": name,
                "port": 8000,
            },
            "replicas": {"min": 0, "max": 4},
            "scaledownPeriod": 600,
            "scalingMetric": {"concurrency": {"targetValue": 8}},
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "HTTPScaledObjectIsReady"
                    if ready
                    else "ErrorCreatingAppScaledObject",
                    "message": "Finished object creation" if ready else "scaled object failed",
                    "lastTransitionTime": ts(-500),
                }
            ]
        },
    }


def scaled_object(name: str = "llama") -> Obj:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 1,
            "maxReplicaCount": 4,
            "triggers": [{"type": "prometheus", "metadata": {"threshold": "8"}}],
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ScaledObjectReady",
                    "message": "ScaledObject is defined correctly and is ready for scaling",
                },
                {
                    "type": "Active",
                    "status": "False",
                    "reason": "ScalerNotActive",
                    "message": "Scaling is not performed because triggers are not active",
                },
            ]
        },
    }
