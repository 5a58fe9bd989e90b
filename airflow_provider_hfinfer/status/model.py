"""The typed result of a readiness assessment and its one-line rendering.

This module owns :class:`WorkloadStatus` (what the sensor, the trigger, the
operator and any UI read), its per-pod breakdown :class:`PodStatus`, the
:class:`Phase` and :class:`Reason` vocabularies, the change-detection
:meth:`WorkloadStatus.fingerprint` and :func:`progress_line`. It holds no
classification logic; :mod:`.assess` fills these models in.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Phase(str, Enum):
    """Where a workload stands, from the point of view of someone waiting on it."""

    NOT_FOUND = "NotFound"
    """No Deployment of that name (not created yet, or deleted)."""
    PENDING = "Pending"
    """Pods cannot be created or placed yet (quota, scheduling, controller lag)."""
    STARTING = "Starting"
    """Pods are placed and starting: pulling the image, loading the model, rolling out."""
    READY = "Ready"
    """Enough replicas of the current revision serve, and no old revision is left."""
    DEGRADED = "Degraded"
    """Some replicas serve, but fewer than required because others fail."""
    FAILED = "Failed"
    """Nothing serves and the failure will not heal by waiting."""
    SCALED_TO_ZERO = "ScaledToZero"
    """The autoscaler holds the workload at zero replicas; the caller decides if that is ready."""


class Reason(str, Enum):
    """The short CamelCase reasons :func:`assess` reports.

    ``WorkloadStatus.reason`` is a plain string, so a kubelet reason this list
    does not know (a new waiting reason, say) passes through unchanged.
    """

    NOT_FOUND = "NotFound"
    TERMINATING = "Terminating"
    AVAILABLE = "Available"
    SCALED_TO_ZERO = "ScaledToZero"
    SCALED_DOWN = "ScaledDown"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    POD_PENDING = "PodPending"
    SCHEDULING_GATED = "SchedulingGated"
    CONTAINER_CREATING = "ContainerCreating"
    MODEL_LOADING = "ModelLoading"
    NOT_READY = "NotReady"
    UNSCHEDULABLE = "Unschedulable"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    INVALID_IMAGE_NAME = "InvalidImageName"
    ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    RUN_CONTAINER_ERROR = "RunContainerError"
    CONTAINER_TERMINATED = "ContainerTerminated"
    OOM_KILLED = "OOMKilled"
    QUOTA_EXCEEDED = "QuotaExceeded"
    FAILED_CREATE = "FailedCreate"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


class PodStatus(BaseModel):
    """What one pod of the workload is doing, as far as readiness is concerned.

    Attributes:
        name: The pod's name.
        current: Belongs to the Deployment's current ReplicaSet; ``False`` for
            a pod of an earlier revision still around during a rollout.
        pod_phase: The pod's own ``status.phase`` (``Pending``, ``Running``...);
            empty when the API did not report one.
        node: The node the pod was scheduled to; empty while unscheduled.
        ready: True when no detector found anything keeping the pod from
            serving.
        reason: ``Ready``, or what keeps the pod from serving, e.g.
            ``ModelLoading`` or ``CrashLoopBackOff``.
        message: What is wrong with the pod, for people; empty when ready.
        restarts: Container restarts, summed over init and app containers.
        exit_code: The exit code of the failing container's last run, after a
            crash or an OOM kill.
        since: Earliest sign of the current condition, when known.
        terminal: True when the pod's problem will not heal by waiting.
        log_tail: The failing container's last log lines, when they were read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    current: bool = Field(description="Belongs to the Deployment's current ReplicaSet.")
    pod_phase: str = Field(default="", description="The pod's own status.phase.")
    node: str = ""
    ready: bool = False
    reason: str = Field(description="Ready, or what keeps the pod from serving.")
    message: str = ""
    restarts: int = 0
    exit_code: int | None = None
    since: datetime | None = Field(
        default=None, description="Earliest sign of the current condition."
    )
    terminal: bool = False
    log_tail: str | None = None


class WorkloadStatus(BaseModel):
    """The readiness verdict on one inference workload at one moment.

    ``terminal`` is True only when waiting will not help; ``phase`` FAILED
    always is terminal, DEGRADED may be (some replicas serve, the rest never
    will), every other phase never is.

    Attributes:
        phase: Where the workload stands, for someone waiting on it.
        reason: Short CamelCase cause of the phase, usually a :class:`Reason`
            value; a kubelet reason that list does not know passes through.
        message: One line for people, with elapsed times, e.g. ``0/2 ready;
            2 loading the model (vllm running for 4m12s)``.
        ready_replicas: Ready replicas of the current revision (once the
            rollout has finished, the Deployment's available replicas if
            that is higher).
        desired_replicas: The Deployment's ``spec.replicas``.
        updated_replicas: Replicas already on the current revision
            (``status.updatedReplicas``).
        available_replicas: The Deployment's ``status.availableReplicas``;
            during a rollout this counts old-revision pods too.
        min_ready: Ready replicas required for READY: the caller's minimum,
            by default ``spec.replicas``, at least 1.
        observed_generation: The Deployment generation its controller has
            acted on; ``None`` until it reports one.
        generation: The Deployment's ``metadata.generation``, raised by every
            spec change; the rollout is not done while ``observed_generation``
            lags behind it.
        terminal: True when waiting will not help (see above).
        pods: Per-pod breakdown of the live pods, current revision first.
        stable_message: ``message`` without elapsed times: the basis of
            :meth:`fingerprint`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    phase: Phase
    reason: str
    message: str
    ready_replicas: int = 0
    desired_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    min_ready: int = 0
    observed_generation: int | None = None
    generation: int | None = None
    terminal: bool = False
    pods: tuple[PodStatus, ...] = ()
    stable_message: str = Field(
        default="",
        description="The message without elapsed times: the basis of fingerprint().",
    )

    @property
    def is_ready(self) -> bool:
        """True when the workload serves with at least ``min_ready`` replicas."""
        return self.phase is Phase.READY

    @property
    def is_failed(self) -> bool:
        """True when the caller should stop waiting: the failure will not heal."""
        return self.terminal

    def fingerprint(self) -> str:
        """Return a short digest that changes only when something worth logging did.

        Elapsed times and grace-period countdowns are left out, so polling a
        workload that is still loading its model yields the same fingerprint
        until a count, a reason, a restart or a message actually changes.
        """
        basis = {
            "phase": self.phase.value,
            "reason": self.reason,
            "terminal": self.terminal,
            "counts": [
                self.ready_replicas,
                self.desired_replicas,
                self.updated_replicas,
                self.available_replicas,
                self.observed_generation,
                self.generation,
            ],
            "message": self.stable_message or self.message,
            "pods": [
                [pod.name, pod.reason, pod.ready, pod.restarts, pod.terminal] for pod in self.pods
            ],
        }
        encoded = json.dumps(basis, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def progress_line(status: WorkloadStatus, *, name: str | None = None) -> str:
    """Render the one line a person following a deployment wants to read.

    Args:
        status: The assessment to render.
        name: The workload name to lead with, if the caller has it.

    Returns:
        For example ``"llama: Starting (ModelLoading) 0/2 ready, 2/2 updated,
        gen 3/3 - 0/2 ready; 2 loading the model (vllm running for 4m12s)"``.
    """
    lead = f"{name}: " if name else ""
    verdict = f"{status.phase.value} ({status.reason})"
    if status.terminal:
        verdict += " [terminal]"
    counts = (
        f"{status.ready_replicas}/{status.desired_replicas} ready, "
        f"{status.updated_replicas}/{status.desired_replicas} updated"
    )
    if status.generation is not None:
        observed = "?" if status.observed_generation is None else status.observed_generation
        counts += f", gen {observed}/{status.generation}"
    return f"{lead}{verdict} {counts} - {status.message}"
