"""A fake Deployment controller and kubelet acting on a :class:`FakeKubeServer`.

The fake API server stores what clients write but nothing acts on it: a
Deployment never gets ReplicaSets, pods or a status. :class:`FakeKubelet`
plays the controllers' part in-process (writing straight to the store, so its
own traffic never shows in the request log): it rolls a Deployment's current
pod template out into a ReplicaSet and pods, moves the pods into an outcome
(ready, loading, unschedulable, image pull failure, crash loop, OOM, quota,
progress deadline) and keeps the Deployment's status consistent with them, in
the shapes the real API server returns. ``start(policy)`` does that
automatically for every new generation of every Deployment in a namespace.

Example::

    kubelet = FakeKubelet(fake_kube, "ml")
    kubelet.rollout("llama", outcome="crash")
    kubelet.start(lambda d: "crash" if "broken" in str(d) else "ready", delay=0.2)
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ApiError
from .quota import refusal
from .selectors import Selector
from .server import FakeKubeServer

JsonDict = dict[str, Any]
Policy = Callable[[JsonDict], str | None]
LOG = logging.getLogger(__name__)

OUTCOMES = (
    "ready",
    "loading",
    "unschedulable",
    "image_pull",
    "crash",
    "oom",
    "quota",
    "progress_deadline",
    "unfittable",
    "registry_down",
)
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
NODE = "gpu-node-a100-1"
UNSCHEDULABLE_MESSAGE = (
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
    "available: 4 No preemption victims found for incoming pod."
)
QUOTA_MESSAGE = (
    "exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=2, "
    "used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8"
)
CRASH_LOG = (
    "INFO 11-27 10:00:01 api_server.py:585] vLLM API server version 0.6.4\n"
    "INFO 11-27 10:00:09 model_runner.py:1072] Loading model weights took 14.99 GB\n"
    "ValueError: The model's max seq len (131072) is larger than the maximum number of "
    "tokens that can be stored in KV cache (52048). Try increasing `gpu_memory_utilization` "
    "or decreasing `max_model_len` when initializing the engine.\n"
)
UNFITTABLE_MESSAGE = (
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
    "available: 4 Preemption is not helpful for scheduling."
)
REGISTRY_DOWN_ERROR = (
    'rpc error: code = Unknown desc = failed to pull and unpack image "{image}": failed to '
    "copy: httpReadSeeker: failed open: unexpected status code 503 Service Unavailable"
)
IMAGE_PULL_ERROR = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
)
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


_CLOCK_SHIFT = [0.0]
"""Seconds the kubelet's timestamps lie in the past (see ``FakeKubelet.rollout(ago=)``)."""


def _moment() -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=_CLOCK_SHIFT[0])


def _now() -> str:
    return _moment().strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return _moment().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def template_hash(template: JsonDict) -> str:
    """A stable 10-character pod-template-hash in the controller's safe alphabet."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    value = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(10):
        value, index = divmod(value, len(_HASH_ALPHABET))
        chars.append(_HASH_ALPHABET[index])
    return "".join(chars)


def _suffix() -> str:
    return "".join(secrets.choice(_HASH_ALPHABET) for _ in range(5))


def _owner_ref(obj: JsonDict) -> JsonDict:
    return {
        "apiVersion": "apps/v1",
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _revision(obj: JsonDict) -> int:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "")
    return int(raw) if str(raw).isdigit() else 0


def _omit_zero(**fields: int) -> JsonDict:
    return {key: value for key, value in fields.items() if value}


def _condition(
    ctype: str, status: str, reason: str, message: str, *, deployment: bool = True
) -> JsonDict:
    now = _now()
    out: JsonDict = {"type": ctype, "status": status}
    if deployment:
        out["lastUpdateTime"] = now
    else:
        out["lastProbeTime"] = None
    out["lastTransitionTime"] = now
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


# ---------------------------------------------------------------- containers


def _base_container(name: str, image: str) -> JsonDict:
    return {"name": name, "image": image, "imageID": "", "restartCount": 0, "ready": False}


def _container_status(outcome: str, name: str, image: str) -> JsonDict:
    status = _base_container(name, image)
    container_id = "containerd://" + secrets.token_hex(32)
    image_id = f"docker.io/{image.split(':')[0]}@sha256:" + "4f" * 32
    if outcome in ("ready", "loading", "progress_deadline"):
        ready = outcome == "ready"
        status.update(
            state={"running": {"startedAt": _now()}},
            lastState={},
            ready=ready,
            started=ready,
            imageID=image_id,
            containerID=container_id,
        )
    elif outcome in ("image_pull", "registry_down"):
        status.update(
            state={
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{image}"',
                }
            },
            lastState={},
            started=False,
        )
    elif outcome in ("crash", "oom"):
        oom = outcome == "oom"
        terminated: JsonDict = {
            "exitCode": 137 if oom else 1,
            "reason": "OOMKilled" if oom else "Error",
            "startedAt": _now(),
            "finishedAt": _now(),
            "containerID": container_id,
        }
        status.update(
            state={
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 5m0s restarting failed container={name}",
                }
            },
            lastState={"terminated": terminated},
            restartCount=2 if oom else 3,
            started=False,
            imageID=image_id,
            containerID=container_id,
        )
    return status


def _pod_conditions(ready: bool, containers: list[JsonDict]) -> list[JsonDict]:
    unready = " ".join(c["name"] for c in containers if not c.get("ready"))
    message = f"containers with unready status: [{unready}]"

    def readiness(ctype: str) -> JsonDict:
        if ready:
            return _condition(ctype, "True", "", "", deployment=False)
        return _condition(ctype, "False", "ContainersNotReady", message, deployment=False)

    return [
        _condition("PodReadyToStartContainers", "True", "", "", deployment=False),
        _condition("Initialized", "True", "", "", deployment=False),
        readiness("Ready"),
        readiness("ContainersReady"),
        _condition("PodScheduled", "True", "", "", deployment=False),
    ]


def pod_status(outcome: str, template_spec: JsonDict) -> JsonDict:
    """The ``status`` of a pod in ``outcome`` (see :data:`OUTCOMES`)."""
    if outcome in ("unschedulable", "unfittable"):
        message = UNSCHEDULABLE_MESSAGE if outcome == "unschedulable" else UNFITTABLE_MESSAGE
        sched = _condition("PodScheduled", "False", "Unschedulable", message, deployment=False)
        return {"phase": "Pending", "conditions": [sched], "qosClass": "Burstable"}
    containers = [
        _container_status(outcome, c.get("name", "vllm"), c.get("image", ""))
        for c in template_spec.get("containers") or [{"name": "vllm", "image": ""}]
    ]
    ready = outcome == "ready"
    running = any("running" in c["state"] for c in containers) or outcome in ("crash", "oom")
    return {
        "phase": "Running" if running else "Pending",
        "conditions": _pod_conditions(ready, containers),
        "hostIP": "10.0.4.17",
        "hostIPs": [{"ip": "10.0.4.17"}],
        "podIP": "10.244.3.21",
        "podIPs": [{"ip": "10.244.3.21"}],
        "startTime": _now(),
        "containerStatuses": containers,
        "qosClass": "Burstable",
    }


# -------------------------------------------------------------------- kubelet


class FakeKubelet:
    """The Deployment controller, scheduler and kubelet of a fake cluster, on demand.

    :param server: The fake API server whose store the kubelet writes to.
    :param namespace: The namespace whose Deployments it acts on.
    :param node: The node name pods are "scheduled" to.
    """

    def __init__(self, server: FakeKubeServer, namespace: str, *, node: str = NODE) -> None:
        self.server = server
        self.namespace = namespace
        self.node = node
        self.rollouts: list[tuple[str, int, str]] = []
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._keep_old = False

    # ----------------------------------------------------------- store access

    def _get(self, plural: str, name: str) -> JsonDict | None:
        version = "v1" if plural in ("pods", "events") else "apps/v1"
        return self.server.get_object(version, plural, self.namespace, name)

    def _list(self, version: str, plural: str, owner: JsonDict | None = None) -> list[JsonDict]:
        # Controllers list by their owner's selector, then adopt by owner reference.
        return self.server.list_objects(version, plural, self.namespace, _selector_of(owner))

    def _put(self, obj: JsonDict) -> JsonDict:
        return self.server.put_object(obj)

    def owned_replica_sets(self, deployment: JsonDict) -> list[JsonDict]:
        """ReplicaSets whose controller reference is ``deployment``."""
        uid = deployment["metadata"]["uid"]
        return [
            rs
            for rs in self._list("apps/v1", "replicasets", deployment)
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences") or [])
        ]

    def pods_of(self, rs: JsonDict) -> list[JsonDict]:
        """Pods whose controller reference is ``rs``."""
        uid = rs["metadata"]["uid"]
        return [
            pod
            for pod in self._list("v1", "pods", rs)
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or [])
        ]

    def _delete_pods(self, rs: JsonDict) -> None:
        for pod in self.pods_of(rs):
            try:
                self.server.delete_object("v1", "pods", self.namespace, pod["metadata"]["name"])
            except ApiError as err:
                if err.code != 404:
                    raise

    # ------------------------------------------------------------ replicasets

    def _current_replica_set(self, deployment: JsonDict) -> tuple[JsonDict, list[JsonDict]]:
        """Create or update the ReplicaSet of the current template; returns it and the others."""
        template = copy.deepcopy(deployment["spec"].get("template") or {})
        pod_hash = template_hash(template)
        name = f"{deployment['metadata']['name']}-{pod_hash}"
        owned = self.owned_replica_sets(deployment)
        others = [rs for rs in owned if rs["metadata"]["name"] != name]
        existing = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
        top = max((_revision(rs) for rs in owned), default=0)
        if existing is not None and _revision(existing) == top:
            revision = top
        else:
            revision = top + 1
        replicas = int(deployment["spec"].get("replicas", 1))
        labels = {**(template.get("metadata") or {}).get("labels", {}), HASH_LABEL: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs: JsonDict = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                    REVISION: str(revision),
                },
                "ownerReferences": [_owner_ref(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        if existing is not None:
            rs["metadata"]["uid"] = existing["metadata"]["uid"]
            rs["metadata"]["creationTimestamp"] = existing["metadata"]["creationTimestamp"]
            rs["status"] = existing.get("status", {"replicas": 0})
        else:
            rs["status"] = {"replicas": 0}
        return self._put(rs), others

    def _quota_refusal(self, rs: JsonDict) -> str | None:
        """Why quota admission would refuse the ReplicaSet's next pod, as a real API server."""
        missing = int(rs["spec"].get("replicas", 0)) - len(self.pods_of(rs))
        if missing <= 0:
            return None
        quotas = self._list("v1", "resourcequotas")
        if not quotas:
            return None
        live = [
            pod.get("spec") or {}
            for pod in self._list("v1", "pods")
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not pod["metadata"].get("deletionTimestamp")
        ]
        spec = (rs["spec"].get("template") or {}).get("spec") or {}
        limit_ranges = self._list("v1", "limitranges")
        for _ in range(missing):
            refused = refusal(spec, quotas, limit_ranges, live)
            if refused is not None:
                return refused
            live.append(spec)
        return None

    def _scale_down(self, rs: JsonDict) -> None:
        name = rs["metadata"]["name"]
        self._delete_pods(rs)

        def change(obj: JsonDict) -> None:
            obj["spec"]["replicas"] = 0
            obj["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/desired-replicas"
            ] = "0"
            obj["status"] = {"replicas": 0, "observedGeneration": obj["metadata"]["generation"]}

        self.server.update("apps/v1", "replicasets", self.namespace, name, change)

    # ------------------------------------------------------------------- pods

    def _ensure_pods(self, rs: JsonDict, outcome: str) -> list[JsonDict]:
        want = int(rs["spec"].get("replicas", 0))
        pods = self.pods_of(rs)
        for extra in pods[want:]:
            self.server.delete_object("v1", "pods", self.namespace, extra["metadata"]["name"])
        pods = pods[:want]
        while len(pods) < want:
            pods.append(self._new_pod(rs))
        return [self._move_pod(pod, rs, outcome) for pod in pods]

    def _new_pod(self, rs: JsonDict) -> JsonDict:
        template = rs["spec"]["template"]
        rs_name = rs["metadata"]["name"]
        spec = copy.deepcopy(template.get("spec") or {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{rs_name}-{_suffix()}",
                "generateName": f"{rs_name}-",
                "namespace": self.namespace,
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "ownerReferences": [_owner_ref(rs)],
            },
            "spec": spec,
            "status": {"phase": "Pending", "qosClass": "Burstable"},
        }
        return self._put(pod)

    def _move_pod(self, pod: JsonDict, rs: JsonDict, outcome: str) -> JsonDict:
        name = pod["metadata"]["name"]
        spec = rs["spec"]["template"].get("spec") or {}
        status = pod_status(outcome, spec)

        def change(obj: JsonDict) -> None:
            if outcome in ("unschedulable", "unfittable"):
                obj["spec"].pop("nodeName", None)
            else:
                obj["spec"]["nodeName"] = self.node
            obj["status"] = status

        moved = self.server.update("v1", "pods", self.namespace, name, change)
        self._pod_events(moved, outcome, spec)
        return moved

    def _pod_events(self, pod: JsonDict, outcome: str, spec: JsonDict) -> None:
        name = pod["metadata"]["name"]
        image = ((spec.get("containers") or [{}])[0]).get("image", "")
        if outcome in ("unschedulable", "unfittable"):
            unfittable = outcome == "unfittable"
            self._scheduler_event(pod, UNFITTABLE_MESSAGE if unfittable else UNSCHEDULABLE_MESSAGE)
        elif outcome in ("image_pull", "registry_down"):
            error = IMAGE_PULL_ERROR if outcome == "image_pull" else REGISTRY_DOWN_ERROR
            self.event(
                pod, "Failed", f'Failed to pull image "{image}": ' + error.format(image=image)
            )
            self.event(pod, "Failed", "Error: ImagePullBackOff")
        elif outcome in ("crash", "oom"):
            self.server.set_pod_log(self.namespace, name, CRASH_LOG)
            self.event(pod, "BackOff", "Back-off restarting failed container vllm in pod " + name)

    # ----------------------------------------------------------------- events

    def event(
        self,
        involved: JsonDict,
        reason: str,
        message: str,
        *,
        etype: str = "Warning",
        component: str = "kubelet",
        moment: datetime | None = None,
    ) -> JsonDict:
        """Record a core/v1 Event about ``involved`` as the kubelet or a controller does.

        ``moment`` stamps it at that time instead of now (a played schedule's clock).
        """
        meta = involved["metadata"]
        kind = involved.get("kind", "Pod")
        now = moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else _now()
        return self._put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{secrets.token_hex(8)}",
                    "namespace": self.namespace,
                },
                "involvedObject": {
                    "kind": kind,
                    "namespace": self.namespace,
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "apiVersion": "v1" if kind == "Pod" else "apps/v1",
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "source": {"component": component},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": etype,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": "",
            }
        )

    def _scheduler_event(self, pod: JsonDict, message: str) -> JsonDict:
        meta = pod["metadata"]
        return self._put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{secrets.token_hex(8)}",
                    "namespace": self.namespace,
                },
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": self.namespace,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": "v1",
                    "resourceVersion": meta["resourceVersion"],
                },
                "reason": "FailedScheduling",
                "message": message,
                "source": {},
                "firstTimestamp": None,
                "lastTimestamp": None,
                "type": "Warning",
                "eventTime": _micro_now(),
                "action": "Scheduling",
                "reportingComponent": "default-scheduler",
                "reportingInstance": "default-scheduler-fake",
            }
        )

    # ----------------------------------------------------------------- status

    def _rs_status(
        self, rs: JsonDict, pods: list[JsonDict], outcome: str, refused: str = QUOTA_MESSAGE
    ) -> JsonDict:
        ready = sum(1 for pod in pods if _pod_ready(pod))
        status: JsonDict = {
            "replicas": len(pods),
            **_omit_zero(fullyLabeledReplicas=len(pods), readyReplicas=ready),
            **_omit_zero(availableReplicas=ready),
            "observedGeneration": rs["metadata"]["generation"],
        }
        if outcome == "quota":
            pod_name = f"{rs['metadata']['name']}-{_suffix()}"
            message = f'pods "{pod_name}" is forbidden: {refused}'
            status["conditions"] = [_condition("ReplicaFailure", "True", "FailedCreate", message)]
            status["conditions"][0].pop("lastUpdateTime")
            self.event(
                rs, "FailedCreate", f"Error creating: {message}", component="replicaset-controller"
            )
        return self.server.set_status(
            "apps/v1", "replicasets", self.namespace, rs["metadata"]["name"], status
        )

    def _progressing(self, rs_name: str, outcome: str, done: bool) -> JsonDict:
        if outcome == "progress_deadline":
            return _condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        if done:
            return _condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        return _condition(
            "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
        )

    def _deployment_status(
        self,
        deployment: JsonDict,
        rs: JsonDict,
        pods: list[JsonDict],
        outcome: str,
        old_pods: list[JsonDict] | None = None,
    ) -> JsonDict:
        want = int(deployment["spec"].get("replicas", 1))
        old_pods = old_pods or []
        ready_new = sum(1 for pod in pods if _pod_ready(pod))
        ready = ready_new + sum(1 for pod in old_pods if _pod_ready(pod))
        available = ready >= want
        conditions = [
            _condition(
                "Available",
                "True" if available else "False",
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            self._progressing(rs["metadata"]["name"], outcome, ready_new >= want and not old_pods),
        ]
        if outcome == "quota":
            failure = (rs.get("status") or {}).get("conditions") or []
            conditions.extend(copy.deepcopy(c) for c in failure if c["type"] == "ReplicaFailure")
        status: JsonDict = _omit_zero(
            observedGeneration=deployment["metadata"]["generation"],
            replicas=len(pods) + len(old_pods),
            updatedReplicas=len(pods),
            readyReplicas=ready,
            availableReplicas=ready,
            unavailableReplicas=max(0, want - ready),
        )
        status["conditions"] = conditions
        return self.server.set_status(
            "apps/v1", "deployments", self.namespace, deployment["metadata"]["name"], status
        )

    def _annotate_revision(self, deployment: JsonDict, revision: str) -> JsonDict:
        def change(obj: JsonDict) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision

        return self.server.update(
            "apps/v1", "deployments", self.namespace, deployment["metadata"]["name"], change
        )

    # ------------------------------------------------------------- public API

    def rollout(
        self, name: str, *, outcome: str = "ready", keep_old: bool = False, ago: float = 0.0
    ) -> JsonDict:
        """Roll the Deployment's current template out and move its pods into ``outcome``.

        Args:
            name: The Deployment.
            outcome: One of :data:`OUTCOMES`.
            keep_old: Leave older ReplicaSets and their pods as they are, as a
                RollingUpdate (maxUnavailable 0) does while the new revision is not
                ready: the old revision keeps serving. Roll out again without it to
                finish (old ReplicaSets are then scaled to 0).
            ago: Stamp the conditions and events this writes ``ago`` seconds in
                the past, as if the outcome had lasted that long already (to
                reach a grace period without waiting for it).

        Returns:
            The Deployment with its new status.

        Raises:
            KeyError: When the Deployment does not exist.
            ValueError: For an unknown outcome.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
        with self._lock:
            _CLOCK_SHIFT[0] = float(ago)
            try:
                return self._rollout(name, outcome, keep_old)
            finally:
                _CLOCK_SHIFT[0] = 0.0

    def _rollout(self, name: str, outcome: str, keep_old: bool) -> JsonDict:
        with self._lock:
            deployment = self._get("deployments", name)
            if deployment is None:
                raise KeyError(f"Deployment {self.namespace}/{name} not found")
            rs, others = self._current_replica_set(deployment)
            old_pods: list[JsonDict] = []
            for old in others:
                if keep_old:
                    old_pods.extend(self.pods_of(old))
                elif old["spec"].get("replicas") or self.pods_of(old):
                    self._scale_down(old)
            deployment = self._annotate_revision(
                deployment, rs["metadata"]["annotations"][REVISION]
            )
            refused = self._quota_refusal(rs) if outcome != "quota" else None
            if refused is not None:
                outcome = "quota"
            pods = [] if outcome == "quota" else self._ensure_pods(rs, outcome)
            rs = self._rs_status(rs, pods, outcome, refused or QUOTA_MESSAGE)
            self.rollouts.append((name, int(deployment["metadata"]["generation"]), outcome))
            return self._deployment_status(deployment, rs, pods, outcome, old_pods)

    def scale_to_zero(self, name: str) -> JsonDict:
        """Scale the Deployment to 0 as an autoscaler would, and settle its status."""
        with self._lock:

            def change(obj: JsonDict) -> None:
                obj["spec"]["replicas"] = 0

            deployment = self.server.update("apps/v1", "deployments", self.namespace, name, change)
            return self.rollout(deployment["metadata"]["name"], outcome="ready")

    def snapshot(self, name: str) -> JsonDict:
        """The keyword arguments for ``assess()``, read straight from the store."""
        deployment = self._get("deployments", name)
        scaler = self.server.get_object(
            "keda.sh/v1alpha1", "scaledobjects", self.namespace, name
        ) or self.server.get_object(
            "http.keda.sh/v1alpha1", "httpscaledobjects", self.namespace, name
        )
        return {
            "deployment": deployment,
            "replica_sets": self._list("apps/v1", "replicasets"),
            "pods": self._list("v1", "pods"),
            "events": self._list("v1", "events"),
            "scaler": scaler,
        }

    # -------------------------------------------------------------- automatic

    def start(
        self, policy: Policy | str = "ready", *, delay: float = 0.0, keep_old: bool = False
    ) -> FakeKubelet:
        """Roll out every new Deployment generation in the namespace in the background.

        Args:
            policy: An outcome for every rollout, or ``policy(deployment) -> outcome``
                (None leaves that generation alone).
            delay: Seconds between seeing a generation and rolling it out.
            keep_old: For outcomes other than ``ready``, keep the previous revision
                serving (see :meth:`rollout`).

        Returns:
            self, to be stopped with :meth:`stop`.
        """
        if self._thread is not None:
            raise RuntimeError("the fake kubelet is already running")
        decide: Policy = (lambda _d: policy) if isinstance(policy, str) else policy
        self._stopping.clear()
        self._keep_old = keep_old
        self._thread = threading.Thread(
            target=self._run, args=(decide, delay), name="fake-kubelet", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background controller (waits for it)."""
        thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeKubelet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, decide: Policy, delay: float) -> None:
        store = self.server.store
        res = self.server.registry.by_group_version("apps/v1", "deployments")
        if res is None:
            return
        handled: dict[str, tuple[str, int]] = {}
        due: dict[str, float] = {}
        after = 0
        relist = True
        while not self._stopping.is_set() and not store.closed:
            try:
                if relist:
                    _, after = store.watch_start(res, self.namespace, Selector(), None)
                    relist = False
                    self._notice_all(handled, due, delay)
                found, after = store.watch_next(res, self.namespace, Selector(), after, 0.05)
            except ApiError as err:
                if err.code != 410:
                    raise
                relist = True
                continue
            if found:
                self._notice_all(handled, due, delay)
            self._roll_due(decide, handled, due)

    def _notice_all(
        self, handled: dict[str, tuple[str, int]], due: dict[str, float], delay: float
    ) -> None:
        for deployment in self._list("apps/v1", "deployments"):
            meta = deployment["metadata"]
            name, seen = meta["name"], (meta["uid"], int(meta.get("generation", 1)))
            if meta.get("deletionTimestamp") or handled.get(name) == seen:
                continue
            due.setdefault(name, time.monotonic() + delay)

    def _roll_due(
        self, decide: Policy, handled: dict[str, tuple[str, int]], due: dict[str, float]
    ) -> None:
        now = time.monotonic()
        for name, when in list(due.items()):
            if when > now:
                continue
            del due[name]
            deployment = self._get("deployments", name)
            if deployment is None:
                continue
            meta = deployment["metadata"]
            handled[name] = (meta["uid"], int(meta.get("generation", 1)))
            outcome = decide(deployment)
            if outcome is None:
                continue
            try:
                self.rollout(name, outcome=outcome, keep_old=self._keep_old and outcome != "ready")
            except (KeyError, ApiError) as exc:
                LOG.debug("fake kubelet: rollout of %s skipped: %s", name, exc)


def _selector_of(owner: JsonDict | None) -> str | None:
    """The owner's ``spec.selector`` as a label selector string (None: select everything)."""
    selector = ((owner or {}).get("spec") or {}).get("selector") or {}
    if selector.get("matchExpressions") or not selector.get("matchLabels"):
        return None
    return ",".join(f"{key}={value}" for key, value in sorted(selector["matchLabels"].items()))


def sample_deployment(
    name: str,
    namespace: str,
    *,
    image: str = "vllm/vllm-openai:v0.6.4",
    replicas: int = 1,
    served_model_name: str | None = None,
) -> JsonDict:
    """A Deployment labelled as the provider renders one (``hfinfer.io/workload``)."""
    labels = {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "airflow-provider-hfinfer",
        "hfinfer.io/workload": name,
    }
    args = ["--served-model-name", served_model_name or name, "--port", "8000"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"hfinfer.io/workload": name}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "vllm", "image": image, "args": args}]},
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "progressDeadlineSeconds": 1800,
        },
    }


def _pod_ready(pod: JsonDict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


__all__ = ["OUTCOMES", "FakeKubelet", "pod_status", "sample_deployment", "template_hash"]
