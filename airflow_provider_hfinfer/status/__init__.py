"""Readiness of an inference workload as a pure function of cluster objects.

The status layer turns a Deployment, its ReplicaSets, pods and events (plus
the KEDA scaler and log tails, when the caller has them) into one typed
:class:`WorkloadStatus`. It does no I/O and imports neither kubernetes nor
Airflow, so the sensor, the trigger, the operator and any UI share it.

When a reason becomes ``terminal`` (the caller should stop waiting):

=========================================  ==========================================
Reason                                     Terminal
=========================================  ==========================================
InvalidImageName, ErrImageNeverPull        at once
ProgressDeadlineExceeded                   at once (the Deployment's own deadline)
Terminating (Deployment being deleted)     at once
CrashLoopBackOff, ContainerTerminated,     restartCount >= crash_restart_threshold (3)
RunContainerError
OOMKilled                                  restartCount >= oom_restart_threshold (2)
Unschedulable, QuotaExceeded,              after the grace period of the failure's
FailedCreate, ErrImagePull,                class (see :mod:`.healing`: 60 s to
ImagePullBackOff, CreateContainerError,    grace_period_seconds, 900) from the
CreateContainerConfigError                 earliest sign (condition transition, first
                                           event, pod start); never while that start
                                           is unknown
ModelLoading, ContainerCreating,           never (progress, not failure)
PodPending, SchedulingGated, NotReady,
RolloutInProgress, ScaledToZero,
ScaledDown, NotFound, Available
=========================================  ==========================================

A terminal failure reads as phase Failed when nothing serves and Degraded
when some replicas still do.
"""

from __future__ import annotations

from .assess import assess
from .findings import (
    DEFAULT_CRASH_RESTART_THRESHOLD,
    DEFAULT_GRACE_PERIOD_SECONDS,
    DEFAULT_OOM_RESTART_THRESHOLD,
)
from .model import Phase, PodStatus, Reason, WorkloadStatus, progress_line

__all__ = [
    "DEFAULT_CRASH_RESTART_THRESHOLD",
    "DEFAULT_GRACE_PERIOD_SECONDS",
    "DEFAULT_OOM_RESTART_THRESHOLD",
    "Phase",
    "PodStatus",
    "Reason",
    "WorkloadStatus",
    "assess",
    "progress_line",
]
