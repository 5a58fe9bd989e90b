"""What the readiness rules read about a workload, computed once per assessment.

This module owns :class:`AssessContext` (counts, generations, findings and pods
of one workload at one moment) and the orders in which failures and progress
reasons explain a workload (most specific cause first; least advanced pod
first). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ._fields import (
    K8sObject,
)
from .findings import (
    Finding,
    Policy,
)
from .model import PodStatus, Reason
from .scope import Scope
from .verdict import caught_up

# Most specific cause first: a crash explains a stalled rollout, a quota
# explains pods that never appear, so the deadline itself comes last.
FAILURE_ORDER: tuple[str, ...] = (
    Reason.OOM_KILLED.value,
    Reason.CRASH_LOOP_BACK_OFF.value,
    Reason.RUN_CONTAINER_ERROR.value,
    Reason.CONTAINER_TERMINATED.value,
    Reason.INVALID_IMAGE_NAME.value,
    Reason.ERR_IMAGE_NEVER_PULL.value,
    Reason.CREATE_CONTAINER_CONFIG_ERROR.value,
    Reason.CREATE_CONTAINER_ERROR.value,
    Reason.IMAGE_PULL_BACK_OFF.value,
    Reason.ERR_IMAGE_PULL.value,
    Reason.QUOTA_EXCEEDED.value,
    Reason.FAILED_CREATE.value,
    Reason.UNSCHEDULABLE.value,
    Reason.PROGRESS_DEADLINE_EXCEEDED.value,
)

# Least advanced first: the pod furthest from serving is what the wait is on.
PROGRESS_ORDER: tuple[str, ...] = (
    Reason.POD_PENDING.value,
    Reason.SCHEDULING_GATED.value,
    Reason.CONTAINER_CREATING.value,
    Reason.MODEL_LOADING.value,
    Reason.NOT_READY.value,
)

# How a group of pods in one state reads: "2 pending: 0/6 nodes are available".
GROUP_LABELS: Mapping[str, str] = {
    Reason.UNSCHEDULABLE.value: "pending",
    Reason.POD_PENDING.value: "pending",
    Reason.SCHEDULING_GATED.value: "gated",
    Reason.CONTAINER_CREATING.value: "creating",
    Reason.MODEL_LOADING.value: "starting",
    Reason.NOT_READY.value: "not ready",
    Reason.CRASH_LOOP_BACK_OFF.value: "crash-looping",
    Reason.CONTAINER_TERMINATED.value: "exited",
    Reason.OOM_KILLED.value: "OOMKilled",
    Reason.ERR_IMAGE_PULL.value: "cannot pull image",
    Reason.IMAGE_PULL_BACK_OFF.value: "cannot pull image",
    Reason.INVALID_IMAGE_NAME.value: "invalid image",
    Reason.CREATE_CONTAINER_CONFIG_ERROR.value: "misconfigured",
    Reason.CREATE_CONTAINER_ERROR.value: "cannot create container",
}


@dataclass(frozen=True)
class AssessContext:
    """Everything the verdict rules read, computed once.

    Attributes:
        scope: The workload's objects, sorted into revisions.
        policy: The waiting thresholds.
        now: The moment of the assessment.
        min_ready: Ready replicas required.
        desired: Replicas the Deployment wants.
        generation: The Deployment's ``metadata.generation``.
        observed: The generation its controller has observed.
        updated: Replicas of the current revision.
        available: Available replicas (any revision).
        total: Replicas of every revision.
        current_ready: Ready pods of the current revision.
        old_live: Live pods of earlier revisions.
        old_ready: Ready pods of earlier revisions.
        pod_findings: One finding per pod that has one.
        workload_findings: Findings about the Deployment and ReplicaSets.
        pods: Per-pod status for the result.
        scaler: The KEDA scaler, when read.
    """

    scope: Scope
    policy: Policy
    now: datetime
    min_ready: int
    desired: int
    generation: int | None
    observed: int | None
    updated: int
    available: int
    total: int
    current_ready: int
    old_live: int
    old_ready: int
    pod_findings: tuple[Finding, ...]
    workload_findings: tuple[Finding, ...]
    pods: tuple[PodStatus, ...]
    scaler: K8sObject | None

    @property
    def generation_observed(self) -> bool:
        """The Deployment controller has acted on the latest spec."""
        return caught_up(self.generation, self.observed)

    @property
    def rollout_done(self) -> bool:
        """Every replica runs the current revision and no old one is left."""
        return (
            self.generation_observed
            and self.updated >= self.desired
            and self.total <= self.updated
            and self.old_live == 0
        )

    @property
    def ready_count(self) -> int:
        """Ready replicas of the current revision."""
        # availableReplicas also counts old-revision pods, so it only speaks
        # for the current revision once the rollout has finished.
        if self.rollout_done:
            return max(self.current_ready, self.available)
        return self.current_ready

    @property
    def serving(self) -> bool:
        """Some replica (of any revision) serves."""
        return self.available > 0 or self.current_ready > 0 or self.old_ready > 0

    def terminal(self, finding: Finding) -> bool:
        """Whether ``finding`` is terminal now under the policy."""
        return finding.is_terminal(self.now, self.policy)


@dataclass(frozen=True)
class Segment:
    """A piece of the message, with and without its elapsed-time note.

    Attributes:
        stable: The text without anything time-dependent (for fingerprints).
        full: The text with the elapsed-time note.
    """

    stable: str
    full: str


# ------------------------------------------------------------------ building
