"""A simulated kubelet that walks a Deployment's pods through a cold start on a schedule.

:class:`ScheduledKubelet` extends :class:`~.kubelet.FakeKubelet` with the outcome
``"scheduled"``: each pod is created, then (at the seconds its
:class:`PhaseSchedule` gives) scheduled to a node (``PodScheduled`` and a
``Scheduled`` event), pulls the image (``Pulling``, then ``Pulled`` with the
kubelet's ``Successfully pulled image ... in 2m10s``), starts its container
(``Created``/``Started`` events, vLLM's first log lines), downloads weights
(silently, as vLLM 0.6.4 does; ``on_download`` runs then, e.g. to fetch the files
from a fake Hub), begins loading them (the ``Loading safetensors checkpoint
shards`` line) and becomes ready. A step left ``None`` never happens: the pod is
stuck in the phase before it.

``speed`` plays the schedule faster than real time while every timestamp the
objects, events and log lines carry is the schedule's own, anchored so that
none lies in the future: a 316 s schedule at ``speed=60`` plays in about five
seconds and still reads as 2 s scheduling, 2m10s pulling, and so on.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .kubelet import NODE, FakeKubelet

JsonDict = dict[str, Any]
Download = Callable[[JsonDict], None]


@dataclass(frozen=True)
class PhaseSchedule:
    """Seconds after its creation at which a pod reaches each step (None: never)."""

    scheduled: float | None = 30.0
    pulling: float | None = 30.0
    pulled: float | None = 160.0
    started: float | None = 191.0
    loading: float | None = 311.0
    ready: float | None = 371.0
    pull_in: str | None = "2m10s"

    def steps(self) -> list[tuple[float, str]]:
        """The steps that happen, in time order."""
        named = [
            (self.scheduled, "scheduled"),
            (self.pulling, "pulling"),
            (self.pulled, "pulled"),
            (self.started, "started"),
            (self.loading, "loading"),
            (self.ready, "ready"),
        ]
        found: list[tuple[float, str]] = []
        for when, step in named:
            if when is None:
                break
            found.append((when, step))
        return found

    @property
    def end(self) -> float:
        """When the last step that happens happens."""
        steps = self.steps()
        return steps[-1][0] if steps else 0.0

    def expected(self) -> dict[str, float]:
        """The seconds per phase this schedule makes a pod spend (for a served start)."""
        if self.ready is None or None in (self.scheduled, self.pulled, self.started, self.loading):
            raise ValueError("only a schedule that reaches ready has a full breakdown")
        pulling = (self.pulled or 0) - (self.pulling or 0)
        return {
            "scheduling": self.scheduled or 0.0,
            "pulling_image": pulling,
            "starting": (self.started or 0) - (self.scheduled or 0) - pulling,
            "downloading_weights": (self.loading or 0) - (self.started or 0),
            "loading_model": (self.ready or 0) - (self.loading or 0),
        }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ScheduledKubelet(FakeKubelet):
    """A :class:`FakeKubelet` whose ``"scheduled"`` outcome plays :attr:`schedules`.

    Args:
        server: The fake API server.
        namespace: The namespace whose Deployments it acts on.
        schedules: One schedule per pod (pod ``i`` follows ``schedules[i % n]``).
        speed: How much faster than real time the schedule plays.
        on_download: Called with the pod when it starts downloading weights.
    """

    def __init__(
        self,
        server: Any,
        namespace: str,
        schedules: list[PhaseSchedule] | None = None,
        *,
        speed: float = 1.0,
        on_download: Download | None = None,
    ) -> None:
        super().__init__(server, namespace)
        self.schedules = schedules or [PhaseSchedule()]
        self.speed = speed
        self.on_download = on_download
        self.players: list[threading.Thread] = []

    def rollout(self, name: str, *, outcome: str = "ready", keep_old: bool = False) -> JsonDict:
        """Roll out as :class:`FakeKubelet` does; ``outcome="scheduled"`` plays the schedule."""
        if outcome != "scheduled":
            return super().rollout(name, outcome=outcome, keep_old=keep_old)
        with self._lock:
            deployment = self._get("deployments", name)
            if deployment is None:
                raise KeyError(f"Deployment {self.namespace}/{name} not found")
            rs, others = self._current_replica_set(deployment)
            for old in others:
                if old["spec"].get("replicas") or self.pods_of(old):
                    self._scale_down(old)
            deployment = self._annotate_revision(
                deployment, rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            )
            self.rollouts.append((name, int(deployment["metadata"]["generation"]), outcome))
        player = threading.Thread(
            target=self._play, args=(name, rs), name="scheduled-kubelet", daemon=True
        )
        self.players.append(player)
        player.start()
        return deployment

    def wait_played(self, timeout: float = 30.0) -> None:
        """Wait until every schedule started so far has played to its end."""
        for player in list(self.players):
            player.join(timeout)

    # ------------------------------------------------------------------ playing

    def _play(self, name: str, rs: JsonDict) -> None:
        want = int(rs["spec"].get("replicas", 0))
        longest = max(s.end for s in self.schedules[: max(1, want)])
        began = time.monotonic()
        # Anchor the schedule's clock so its last step is stamped no later than it plays.
        origin = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=longest)
        origin -= timedelta(seconds=1)
        plan: list[tuple[float, int, str]] = []
        pods: list[JsonDict] = []
        for index in range(want):
            schedule = self.schedules[index % len(self.schedules)]
            pods.append(self._created_pod(rs, origin))
            plan.extend((when, index, step) for when, step in schedule.steps())
        self._settle(name, rs)
        for when, index, step in sorted(plan):
            delay = began + when / self.speed - time.monotonic()
            if self._stopping.wait(max(0.0, delay)) or self.server.store.closed:
                return
            moment = origin + timedelta(seconds=when)
            self._step(pods[index], step, moment, self.schedules[index % len(self.schedules)])
            self._settle(name, rs)

    def _created_pod(self, rs: JsonDict, origin: datetime) -> JsonDict:
        template = rs["spec"]["template"]
        rs_name = rs["metadata"]["name"]
        spec = copy.deepcopy(template.get("spec") or {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("schedulerName", "default-scheduler")
        return self.server.put_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{rs_name}-{secrets.token_hex(3)[:5]}",
                    "generateName": f"{rs_name}-",
                    "namespace": self.namespace,
                    "creationTimestamp": _stamp(origin),
                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs_name,
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": spec,
                # No PodScheduled condition yet: the scheduler has not looked at the pod.
                "status": {"phase": "Pending", "qosClass": "Burstable"},
            }
        )

    def _settle(self, name: str, rs: JsonDict) -> None:
        deployment = self._get("deployments", name)
        if deployment is None:
            return
        pods = self.pods_of(rs)
        fresh = self._rs_status(rs, pods, "scheduled")
        self._deployment_status(deployment, fresh, pods, "scheduled")

    def _step(self, pod: JsonDict, step: str, moment: datetime, schedule: PhaseSchedule) -> None:
        name = pod["metadata"]["name"]
        image = ((pod["spec"].get("containers") or [{}])[0]).get("image", "")
        current = self.server.get_object("v1", "pods", self.namespace, name)
        if current is None:
            return
        if step == "scheduled":
            self.event(
                current,
                "Scheduled",
                f"Successfully assigned {self.namespace}/{name} to {NODE}",
                etype="Normal",
                moment=moment,
                component="default-scheduler",
            )
            self._pod_change(name, lambda obj: _scheduled(obj, moment))
        elif step == "pulling":
            self.event(
                current, "Pulling", f'Pulling image "{image}"', etype="Normal", moment=moment
            )
        elif step == "pulled":
            took = schedule.pull_in
            detail = f" in {took} ({took} including waiting)" if took else ""
            self.event(
                current,
                "Pulled",
                f'Successfully pulled image "{image}"{detail}',
                etype="Normal",
                moment=moment,
            )
        elif step == "started":
            self.event(current, "Created", "Created container vllm", etype="Normal", moment=moment)
            self.event(current, "Started", "Started container vllm", etype="Normal", moment=moment)
            self._pod_change(name, lambda obj: _running(obj, moment, image))
            self._log(name, moment, "INFO {} api_server.py:585] vLLM API server version 0.6.4")
            self._log(
                name,
                moment,
                "INFO {} weight_utils.py:243] Using model weights format ['*.safetensors']",
            )
            if self.on_download is not None:
                self.on_download(current)
        elif step == "loading":
            self._log(
                name,
                moment,
                "Loading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]",
            )
        elif step == "ready":
            # vLLM prints the bar's last redraw (undated, with its elapsed time) and then
            # a dated line; a reader without kubelet timestamps dates the bar from both.
            spent = int((schedule.ready or 0) - (schedule.loading or schedule.ready or 0))
            bar = f"[{spent // 60:02d}:{spent % 60:02d}<00:00, 1.00s/it]"
            self._log(
                name, moment, f"Loading safetensors checkpoint shards: 100% Completed | 4/4 {bar}"
            )
            self._log(
                name, moment, "INFO {} model_runner.py:1072] Loading model weights took 14.99 GB"
            )
            self._pod_change(name, lambda obj: _ready(obj, moment))

    def _pod_change(self, name: str, change: Callable[[JsonDict], None]) -> None:
        self.server.update("v1", "pods", self.namespace, name, change)

    def _log(self, pod: str, moment: datetime, text: str) -> None:
        line = text.replace("{}", moment.strftime("%m-%d %H:%M:%S"))
        self.server.logs.append(self.namespace, pod, line, at=moment)


def _condition(ctype: str, status: str, moment: datetime, reason: str = "") -> JsonDict:
    out: JsonDict = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": _stamp(moment),
    }
    if reason:
        out["reason"] = reason
    return out


def _scheduled(obj: JsonDict, moment: datetime) -> None:
    obj["spec"]["nodeName"] = NODE
    containers = obj["spec"].get("containers") or [{"name": "vllm", "image": ""}]
    obj["status"] = {
        "phase": "Pending",
        "qosClass": "Burstable",
        "hostIP": "10.0.4.17",
        "startTime": _stamp(moment),
        "conditions": [
            _condition("PodScheduled", "True", moment),
            _condition("Initialized", "True", moment),
            _condition("Ready", "False", moment, "ContainersNotReady"),
            _condition("ContainersReady", "False", moment, "ContainersNotReady"),
        ],
        "containerStatuses": [
            {
                "name": c.get("name", "vllm"),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
            }
            for c in containers
        ],
    }


def _running(obj: JsonDict, moment: datetime, image: str) -> None:
    obj["status"]["phase"] = "Running"
    obj["status"]["podIP"] = "10.244.3.21"
    for status in obj["status"].get("containerStatuses") or []:
        status.update(
            state={"running": {"startedAt": _stamp(moment)}},
            imageID=f"docker.io/{image.split(':')[0]}@sha256:" + "4f" * 32,
            containerID="containerd://" + secrets.token_hex(32),
        )


def _ready(obj: JsonDict, moment: datetime) -> None:
    for condition in obj["status"]["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady"):
            condition.update(status="True", lastTransitionTime=_stamp(moment))
            condition.pop("reason", None)
    for status in obj["status"].get("containerStatuses") or []:
        status.update(ready=True, started=True)


__all__ = ["PhaseSchedule", "ScheduledKubelet"]
