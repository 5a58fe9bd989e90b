"""Readiness verdicts from cluster objects shaped as the API server returns them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hfinfer.status import (
    Phase,
    Reason,
    WorkloadStatus,
    assess,
    progress_line,
)

from .status_builders import (
    Obj,
    at,
    available,
    condition,
    deployment,
    event,
    http_scaled_object,
    pod,
    progressing,
    replica_failure,
    replica_set,
    running_container,
    scaled_object,
    scheduler_event,
    terminated,
    terminated_container,
    waiting_container,
)

SCHED_MSG = (
    "0/6 nodes are available: 4 Insufficient nvidia.com/gpu, 2 node(s) had untolerated "
    "taint {nvidia.com/gpu: present}. preemption: 0/6 nodes are available: 2 Preemption "
    "is not helpful for scheduling, 4 No preemption victims found for incoming pod."
)
QUOTA_MSG = (
    'pods "llama-0000007919-" is forbidden: exceeded quota: project-quota, requested: '
    "requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=12, limited: "
    "requests.nvidia.com/gpu=12"
)
PULL_FAILED = (
    'Failed to pull image "vllm/vllm-openai:v0.6.4": rpc error: code = Unknown desc = '
    'failed to pull and unpack image "docker.io/vllm/vllm-openai:v0.6.4": failed to copy: '
    "httpReadSeeker: failed open: unexpected status code 503 Service Unavailable"
)
MISSING_KEY = "couldn't find key HF_TOKEN in Secret ml-team/hf-token"
UNSUPPORTED_LOG = (
    "INFO 11-27 10:00:05 api_server.py:585] vLLM API server version 0.6.4\n"
    "INFO 11-27 10:00:09 config.py:350] This model supports multiple tasks\n"
    "Traceback (most recent call last):\n"
    "ValueError: Model architectures ['FancyNewForCausalLM'] are not supported for now. "
    "Supported architectures: ['LlamaForCausalLM', 'MistralForCausalLM']\n"
)


@dataclass(frozen=True)
class Inputs:
    deployment: Obj | None
    replica_sets: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)
    scaler: Obj | None = None
    log_tails: dict[str, str] = field(default_factory=dict)

    def assess(self, now: float, **options: Any) -> WorkloadStatus:
        return assess(
            self.deployment,
            self.replica_sets,
            self.pods,
            self.events,
            self.scaler,
            now=at(now),
            log_tails=self.log_tails,
            **options,
        )


# ------------------------------------------------------------------ scenarios


def ready(replicas: int = 2) -> Inputs:
    dep = deployment(replicas=replicas)
    rs = replica_set(dep, replicas=replicas)
    return Inputs(dep, [rs], [pod(rs, f"p{i}") for i in range(replicas)])


def unschedulable(*, replicas: int = 1, ready_count: int = 0, with_event: bool = True) -> Inputs:
    dep = deployment(replicas=replicas, ready=ready_count)
    rs = replica_set(dep, replicas=replicas, ready=ready_count)
    serving = [pod(rs, f"ok{i}") for i in range(ready_count)]
    stuck = [pod(rs, f"gpu{i}", unschedulable=SCHED_MSG) for i in range(replicas - ready_count)]
    events = [scheduler_event(p, SCHED_MSG, first=-120) for p in stuck] if with_event else []
    return Inputs(dep, [rs], serving + stuck, events)


def unschedulable_autoscaling() -> Inputs:
    base = unschedulable(with_event=False)
    stuck = base.pods[0]["metadata"]["name"]
    scale_up = event(
        "Pod",
        stuck,
        "TriggeredScaleUp",
        "pod triggered scale-up: [{gpu-a100-pool 1->2 (max: 4)}]",
        first=20,
        etype="Normal",
        component="cluster-autoscaler",
    )
    return Inputs(base.deployment, base.replica_sets, base.pods, [scale_up])


def one_pod(
    container: Obj, events: Callable[[str], list[Obj]] | None = None, log: str | None = None
) -> Inputs:
    dep = deployment(replicas=1, ready=0)
    rs = replica_set(dep, replicas=1, ready=0)
    p = pod(rs, containers=[container])
    name = p["metadata"]["name"]
    return Inputs(
        dep, [rs], [p], events(name) if events else [], log_tails={name: log} if log else {}
    )


def image_pull(reason: str = "ImagePullBackOff") -> Inputs:
    def events(name: str) -> list[Obj]:
        return [
            event(
                "Pod",
                name,
                "Pulling",
                'Pulling image "vllm/vllm-openai:v0.6.4"',
                first=2,
                etype="Normal",
            ),
            event("Pod", name, "Failed", PULL_FAILED, first=5, last=65, count=3),
            event("Pod", name, "Failed", "Error: ErrImagePull", first=5, last=65, count=3),
            event(
                "Pod",
                name,
                "BackOff",
                'Back-off pulling image "vllm/vllm-openai:v0.6.4"',
                first=6,
                last=90,
                count=5,
                etype="Normal",
            ),
            event("Pod", name, "Failed", "Error: ImagePullBackOff", first=6, last=90, count=5),
        ]

    return one_pod(
        waiting_container(reason, 'Back-off pulling image "vllm/vllm-openai:v0.6.4"'), events
    )


def invalid_image() -> Inputs:
    return one_pod(
        waiting_container(
            "InvalidImageName",
            'Failed to apply default image tag "vllm/vllm-openai:V0.6.4!": couldn\'t parse '
            'image name "vllm/vllm-openai:V0.6.4!": invalid reference format',
            image="vllm/vllm-openai:V0.6.4!",
        )
    )


def crash_loop(restarts: int) -> Inputs:
    container = waiting_container(
        "CrashLoopBackOff",
        "back-off 5m0s restarting failed container=vllm pod=llama-0000007919-x2k9p",
        restarts=restarts,
        last=terminated(1, "Error", started=200, finished=215),
    )
    return one_pod(container, log=UNSUPPORTED_LOG)


def oom(restarts: int) -> Inputs:
    container = waiting_container(
        "CrashLoopBackOff",
        "back-off 40s restarting failed container=vllm pod=llama-0000007919-x2k9p",
        restarts=restarts,
        last=terminated(137, "OOMKilled", started=100, finished=160),
    )
    return one_pod(container)


def oom_first_kill() -> Inputs:
    return one_pod(terminated_container(terminated(137, "OOMKilled", finished=90)))


def config_error() -> Inputs:
    def events(name: str) -> list[Obj]:
        return [event("Pod", name, "Failed", f"Error: {MISSING_KEY}", first=3, last=60, count=6)]

    return one_pod(waiting_container("CreateContainerConfigError", MISSING_KEY), events)


def loading(restarts: int = 0) -> Inputs:
    return one_pod(running_container(started_at=0, started=False, ready=False, restarts=restarts))


def creating() -> Inputs:
    def events(name: str) -> list[Obj]:
        return [
            event(
                "Pod",
                name,
                "Pulling",
                'Pulling image "vllm/vllm-openai:v0.6.4"',
                first=2,
                etype="Normal",
            )
        ]

    return one_pod(waiting_container("ContainerCreating"), events)


def pending_unplaced() -> Inputs:
    base = loading()
    base.pods[0]["status"] = {"phase": "Pending", "qosClass": "Burstable"}
    return base


def gated() -> Inputs:
    dep = deployment(replicas=1, ready=0)
    rs = replica_set(dep, replicas=1, ready=0)
    return Inputs(dep, [rs], [pod(rs, gated=True)])


def quota(*, with_conditions: bool = True, event_first: float = 1) -> Inputs:
    rs_conditions = [replica_failure(QUOTA_MSG, since=1)] if with_conditions else []
    dep = deployment(
        replicas=1,
        total=0,
        updated=0,
        ready=0,
        conditions=[
            available(False),
            progressing("llama-0000007919", "ReplicaSetUpdated"),
            *rs_conditions,
        ],
    )
    rs = replica_set(dep, replicas=1, created=0, conditions=rs_conditions)
    failed = event(
        "ReplicaSet",
        rs["metadata"]["name"],
        "FailedCreate",
        f"Error creating: {QUOTA_MSG}",
        first=event_first,
        last=300,
        count=9,
        component="replicaset-controller",
    )
    return Inputs(dep, [rs], [], [failed])


def quota_healed() -> Inputs:
    """The quota freed up: pods were created after the last FailedCreate event."""
    base = loading()
    rs_name = base.replica_sets[0]["metadata"]["name"]
    events = [
        event(
            "ReplicaSet",
            rs_name,
            "FailedCreate",
            f"Error creating: {QUOTA_MSG}",
            first=-300,
            last=-60,
            count=9,
            component="replicaset-controller",
        ),
        event(
            "ReplicaSet",
            rs_name,
            "SuccessfulCreate",
            "Created pod: llama-0000007919-x2k9p",
            first=0,
            etype="Normal",
            component="replicaset-controller",
        ),
    ]
    return Inputs(base.deployment, base.replica_sets, base.pods, events)


def webhook_refused() -> Inputs:
    msg = (
        'Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": '
        'Post "https://kyverno-svc.kyverno.svc:443/validate": dial tcp 10.96.0.12:443: '
        "connect: connection refused"
    )
    dep = deployment(
        replicas=1,
        total=0,
        updated=0,
        ready=0,
        conditions=[available(False), replica_failure(msg, since=1)],
    )
    rs = replica_set(dep, replicas=1, created=0, conditions=[replica_failure(msg, since=1)])
    return Inputs(dep, [rs])


def deadline_exceeded(*, generation: int = 1, observed: int = 1) -> Inputs:
    base = loading()
    rs_name = base.replica_sets[0]["metadata"]["name"]
    dep = deployment(
        replicas=1,
        ready=0,
        generation=generation,
        observed=observed,
        conditions=[available(False), progressing(rs_name, "ProgressDeadlineExceeded", 1800)],
    )
    return Inputs(dep, base.replica_sets, base.pods)


def rollout(
    *,
    new_pod: Obj | None = None,
    old_live: int = 2,
    total: int = 3,
    updated: int = 1,
    new_ready: bool = False,
) -> Inputs:
    """Revision 2 replacing revision 1 on a 2-replica workload."""
    dep = deployment(
        replicas=2,
        generation=2,
        observed=2,
        revision="2",
        total=total,
        updated=updated,
        ready=old_live + int(new_ready),
    )
    new_rs = replica_set(dep, "2", replicas=updated)
    old_rs = replica_set(dep, "1", replicas=old_live)
    container = new_pod or running_container(started=new_ready, ready=new_ready)
    pods = [pod(new_rs, f"new{i}", containers=[dict(container)]) for i in range(updated)]
    pods += [pod(old_rs, f"old{i}") for i in range(old_live)]
    return Inputs(dep, [old_rs, new_rs], pods)


def unobserved_generation() -> Inputs:
    dep = deployment(replicas=1, generation=2, observed=1)
    rs = replica_set(dep, replicas=1)
    return Inputs(dep, [rs], [pod(rs)])


def old_pod_terminating() -> Inputs:
    dep = deployment(replicas=1, generation=2, observed=2, revision="2")
    new_rs = replica_set(dep, "2", replicas=1)
    old_rs = replica_set(dep, "1", replicas=0, created=0)
    return Inputs(dep, [old_rs, new_rs], [pod(new_rs), pod(old_rs, "old", deleting=True)])


def scaled_to_zero(scaler: Obj | None) -> Inputs:
    dep = deployment(replicas=0)
    rs = replica_set(dep, replicas=0)
    return Inputs(dep, [rs], [], [], scaler)


def with_strays() -> Inputs:
    base = ready(1)
    other = deployment("llama-canary", replicas=1)
    other_rs = replica_set(other, replicas=1)
    stray = pod(
        other_rs,
        "zz",
        containers=[waiting_container("CrashLoopBackOff", restarts=9, last=terminated(1, "Error"))],
    )
    orphan = pod(base.replica_sets[0], "orphan", containers=[waiting_container("ErrImagePull")])
    orphan["metadata"]["ownerReferences"] = []
    return Inputs(base.deployment, [*base.replica_sets, other_rs], [*base.pods, stray, orphan])


def degraded_crash() -> Inputs:
    dep = deployment(replicas=2, ready=1)
    rs = replica_set(dep, replicas=2, ready=1)
    crashed = waiting_container("CrashLoopBackOff", restarts=4, last=terminated(1, "Error"))
    return Inputs(dep, [rs], [pod(rs, "ok"), pod(rs, "bad", containers=[crashed])])


def deleting() -> Inputs:
    base = ready(1)
    dep = deployment(replicas=1, deleting=True)
    return Inputs(dep, base.replica_sets, base.pods)


# --------------------------------------------------------------------- table


@dataclass(frozen=True)
class Case:
    id: str
    inputs: Callable[[], Inputs]
    now: float
    phase: Phase
    reason: str
    terminal: bool
    says: tuple[str, ...] = ()
    never_says: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("ready", ready, 600, Phase.READY, "Available", False, ("2/2 ready",)),
    Case(
        "unschedulable-within-grace",
        unschedulable,
        300,
        Phase.PENDING,
        "Unschedulable",
        False,
        (
            "0/1 ready; 1 pending: 0/6 nodes are available: 4 Insufficient "
            "nvidia.com/gpu, 2 node(s) had untolerated taint {nvidia.com/gpu: present}",
            "waiting up to 15m00s",
        ),
        ("preemption",),
    ),
    Case(
        "unschedulable-past-grace",
        unschedulable,
        900,
        Phase.FAILED,
        "Unschedulable",
        True,
        ("Insufficient nvidia.com/gpu", "past the 15m00s grace period"),
    ),
    Case(
        "unschedulable-some-serving",
        lambda: unschedulable(replicas=4, ready_count=2),
        300,
        Phase.DEGRADED,
        "Unschedulable",
        False,
        (
            "2/4 ready; 2 pending: 0/6 nodes are available: 4 Insufficient nvidia.com/gpu, "
            "2 node(s) had untolerated taint",
        ),
    ),
    Case(
        "unschedulable-autoscaler-adding-node",
        unschedulable_autoscaling,
        60,
        Phase.PENDING,
        "Unschedulable",
        False,
        ("cluster autoscaler is adding a node", "gpu-a100-pool 1->2"),
    ),
    Case(
        "image-pull-backoff",
        image_pull,
        120,
        Phase.STARTING,
        "ImagePullBackOff",
        False,
        ("cannot pull image", "503 Service Unavailable"),
    ),
    Case(
        "err-image-pull",
        lambda: image_pull("ErrImagePull"),
        120,
        Phase.STARTING,
        "ErrImagePull",
        False,
        ("503 Service Unavailable",),
    ),
    Case(
        "image-pull-past-grace",
        image_pull,
        905,
        Phase.FAILED,
        "ImagePullBackOff",
        True,
        ("past the 15m00s grace period",),
    ),
    Case(
        "invalid-image-name",
        invalid_image,
        10,
        Phase.FAILED,
        "InvalidImageName",
        True,
        ("invalid reference format",),
    ),
    Case(
        "crash-loop-terminal",
        lambda: crash_loop(5),
        400,
        Phase.FAILED,
        "CrashLoopBackOff",
        True,
        (
            "restarted 5 times, last exit 1 (Error)",
            "are not supported for now",
            "hint: the model's architecture is not supported by vLLM 0.6.4",
        ),
    ),
    Case(
        "crash-loop-early",
        lambda: crash_loop(1),
        400,
        Phase.STARTING,
        "CrashLoopBackOff",
        False,
        ("restarted 1 time, last exit 1 (Error)",),
    ),
    Case(
        "oom-repeated",
        lambda: oom(2),
        300,
        Phase.FAILED,
        "OOMKilled",
        True,
        ("was OOMKilled (exit 137), restarted 2 times: raise the memory limit",),
    ),
    Case(
        "oom-once", lambda: oom(1), 300, Phase.STARTING, "OOMKilled", False, ("restarted 1 time",)
    ),
    Case(
        "oom-terminated-now",
        oom_first_kill,
        100,
        Phase.STARTING,
        "OOMKilled",
        False,
        ("was OOMKilled",),
    ),
    Case(
        "create-container-config-error",
        config_error,
        60,
        Phase.STARTING,
        "CreateContainerConfigError",
        False,
        ("1 misconfigured: " + MISSING_KEY,),
    ),
    Case(
        "create-container-config-error-past-grace",
        config_error,
        903,
        Phase.FAILED,
        "CreateContainerConfigError",
        True,
        (MISSING_KEY,),
    ),
    Case(
        "quota-exceeded",
        quota,
        120,
        Phase.PENDING,
        "QuotaExceeded",
        False,
        (
            "cannot create pods",
            "exceeded quota: project-quota, requested: "
            "requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=12, limited: "
            "requests.nvidia.com/gpu=12",
        ),
    ),
    Case(
        "quota-exceeded-events-only",
        lambda: quota(with_conditions=False),
        120,
        Phase.PENDING,
        "QuotaExceeded",
        False,
        ("exceeded quota: project-quota",),
        ("Error creating",),
    ),
    Case(
        "quota-exceeded-past-grace",
        quota,
        901,
        Phase.FAILED,
        "QuotaExceeded",
        True,
        ("exceeded quota",),
    ),
    Case(
        "quota-healed-stale-events",
        quota_healed,
        30,
        Phase.STARTING,
        "ModelLoading",
        False,
        ("loading the model",),
        ("quota",),
    ),
    Case(
        "failed-create-webhook",
        webhook_refused,
        60,
        Phase.PENDING,
        "FailedCreate",
        False,
        ("failed calling webhook",),
    ),
    Case(
        "progress-deadline-exceeded",
        deadline_exceeded,
        1810,
        Phase.FAILED,
        "ProgressDeadlineExceeded",
        True,
        (
            "rollout exceeded its progress deadline",
            "has timed out progressing",
            "1 starting: loading the model",
        ),
    ),
    Case(
        "progress-deadline-stale-generation",
        lambda: deadline_exceeded(generation=2, observed=1),
        1810,
        Phase.STARTING,
        "ModelLoading",
        False,
        ("has not observed generation 2",),
        ("deadline",),
    ),
    Case(
        "model-loading",
        loading,
        252,
        Phase.STARTING,
        "ModelLoading",
        False,
        (
            "0/1 ready; 1 starting: loading the model, startup probe not passed yet "
            "(vllm running for 4m12s)",
        ),
    ),
    Case(
        "model-loading-after-restart",
        lambda: loading(restarts=1),
        30,
        Phase.STARTING,
        "ModelLoading",
        False,
        ("after 1 restart",),
    ),
    Case(
        "container-creating-pulling",
        creating,
        90,
        Phase.STARTING,
        "ContainerCreating",
        False,
        ("pulling image vllm/vllm-openai:v0.6.4",),
    ),
    Case(
        "pod-not-scheduled-yet",
        pending_unplaced,
        5,
        Phase.PENDING,
        "PodPending",
        False,
        ("waiting for the scheduler",),
    ),
    Case(
        "scheduling-gated", gated, 5, Phase.PENDING, "SchedulingGated", False, ("scheduling gate",)
    ),
    Case(
        "rollout-new-pod-loading",
        rollout,
        60,
        Phase.STARTING,
        "ModelLoading",
        False,
        (
            "0/2 ready",
            "rollout: 1/2 updated, 2 old replica(s) pending termination (2 still serving)",
        ),
    ),
    Case(
        "rollout-old-pod-still-running",
        lambda: rollout(old_live=1, total=3, updated=2, new_ready=True),
        60,
        Phase.STARTING,
        "RolloutInProgress",
        False,
        ("rollout: 2/2 updated, 1 old replica(s) pending termination",),
    ),
    Case(
        "rollout-new-pod-crashing-old-serving",
        lambda: rollout(
            new_pod=waiting_container("CrashLoopBackOff", restarts=3, last=terminated(1, "Error"))
        ),
        60,
        Phase.DEGRADED,
        "CrashLoopBackOff",
        True,
        ("1 crash-looping", "still serving"),
    ),
    Case(
        "rollout-generation-not-observed",
        unobserved_generation,
        5,
        Phase.STARTING,
        "RolloutInProgress",
        False,
        ("controller has not observed generation 2 yet (observed 1)",),
    ),
    Case(
        "rollout-old-pod-terminating-is-ready",
        old_pod_terminating,
        60,
        Phase.READY,
        "Available",
        False,
        ("1/1 ready",),
    ),
    Case(
        "scaled-to-zero-http",
        lambda: scaled_to_zero(http_scaled_object()),
        60,
        Phase.SCALED_TO_ZERO,
        "ScaledToZero",
        False,
        ("scaled to zero by HTTPScaledObject llama", "first request wakes it"),
    ),
    Case(
        "scaled-to-zero-keda",
        lambda: scaled_to_zero(scaled_object()),
        60,
        Phase.SCALED_TO_ZERO,
        "ScaledToZero",
        False,
        ("ScaledObject llama",),
    ),
    Case(
        "scaled-to-zero-scaler-broken",
        lambda: scaled_to_zero(http_scaled_object(ready=False)),
        60,
        Phase.SCALED_TO_ZERO,
        "ScaledToZero",
        False,
        ("scaler not ready",),
    ),
    Case(
        "zero-replicas-without-scaler",
        lambda: scaled_to_zero(None),
        60,
        Phase.PENDING,
        "ScaledDown",
        False,
        ("no autoscaler",),
    ),
    Case("not-found", lambda: Inputs(None), 0, Phase.NOT_FOUND, "NotFound", False, ("not found",)),
    Case(
        "deployment-being-deleted",
        deleting,
        0,
        Phase.FAILED,
        "Terminating",
        True,
        ("being deleted",),
    ),
    Case(
        "strays-ignored",
        with_strays,
        60,
        Phase.READY,
        "Available",
        False,
        ("1/1 ready",),
        ("crash", "orphan"),
    ),
    Case(
        "degraded-terminal",
        degraded_crash,
        60,
        Phase.DEGRADED,
        "CrashLoopBackOff",
        True,
        ("1/2 ready; 1 crash-looping: container vllm restarted 4 times",),
    ),
    Case(
        "min-ready-met-despite-pending",
        lambda: unschedulable(replicas=2, ready_count=1),
        60,
        Phase.READY,
        "Available",
        False,
        ("1/2 ready (need 1); 1 pending: 0/6 nodes",),
        options={"min_ready": 1},
    ),
    Case(
        "min-ready-above-desired",
        lambda: ready(1),
        60,
        Phase.STARTING,
        "RolloutInProgress",
        False,
        ("1/1 ready (need 2)",),
        options={"min_ready": 2},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_assess_verdict(case: Case) -> None:
    status = case.inputs().assess(case.now, **case.options)

    assert (status.phase, status.reason, status.terminal) == (
        case.phase,
        case.reason,
        case.terminal,
    ), status.message
    for text in case.says:
        assert text in status.message
    for text in case.never_says:
        assert text.lower() not in status.message.lower()
    assert status.is_ready is (case.phase is Phase.READY)
    assert status.is_failed is case.terminal


def test_reason_vocabulary_covers_the_table() -> None:
    known = {reason.value for reason in Reason}
    assert {case.reason for case in CASES} <= known


# --------------------------------------------------------- grace boundaries


@pytest.mark.parametrize(
    ("inputs", "grace", "now", "terminal"),
    [
        # Condition at T0, no earlier sign: the grace clock starts at T0.
        (lambda: unschedulable(with_event=False), 600, 599, False),
        (lambda: unschedulable(with_event=False), 600, 600, True),
        # The scheduler's first FailedScheduling (eventTime T0-120s) is the
        # earliest sign, so the clock starts there, not at the condition.
        (unschedulable, 600, 479, False),
        (unschedulable, 600, 480, True),
        # Quota: ReplicaFailure at T0+1 but the first FailedCreate at T0-60.
        (lambda: quota(event_first=-60), 600, 539, False),
        (lambda: quota(event_first=-60), 600, 540, True),
        # Image pull: the first "Failed to pull" event at T0+5.
        (image_pull, 300, 304, False),
        (image_pull, 300, 305, True),
        # Missing HF_TOKEN key: the first "Error: ..." event at T0+3.
        (config_error, 60, 62, False),
        (config_error, 60, 63, True),
        # A zero grace period fails on first sight.
        (quota, 0, 1, True),
    ],
    ids=[
        "unschedulable-599s",
        "unschedulable-600s",
        "unschedulable-event-earlier-479s",
        "unschedulable-event-earlier-480s",
        "quota-539s",
        "quota-540s",
        "image-pull-304s",
        "image-pull-305s",
        "config-error-62s",
        "config-error-63s",
        "zero-grace",
    ],
)
def test_grace_period_boundary(
    inputs: Callable[[], Inputs], grace: float, now: float, terminal: bool
) -> None:
    status = inputs().assess(now, grace_period_seconds=grace)

    assert status.terminal is terminal
    if terminal:
        assert status.phase is Phase.FAILED
    else:
        assert status.phase in (Phase.PENDING, Phase.STARTING)
    assert ("past the" in status.message) is terminal


@pytest.mark.parametrize(
    ("inputs", "options", "terminal"),
    [
        (lambda: crash_loop(2), {}, False),
        (lambda: crash_loop(3), {}, True),
        (lambda: crash_loop(4), {"crash_restart_threshold": 5}, False),
        (lambda: crash_loop(5), {"crash_restart_threshold": 5}, True),
        (lambda: oom(1), {}, False),
        (lambda: oom(2), {}, True),
        (lambda: oom(2), {"oom_restart_threshold": 3}, False),
    ],
    ids=["crash-2", "crash-3", "crash-4-of-5", "crash-5-of-5", "oom-1", "oom-2", "oom-2-of-3"],
)
def test_restart_thresholds(
    inputs: Callable[[], Inputs], options: dict[str, Any], terminal: bool
) -> None:
    status = inputs().assess(10_000, **options)

    assert status.terminal is terminal
    assert status.phase is (Phase.FAILED if terminal else Phase.STARTING)


# ----------------------------------------------------- scope and breakdown


@pytest.mark.parametrize("reverse", [False, True], ids=["old-first", "new-first"])
def test_current_replica_set_is_chosen_by_revision_not_list_order(reverse: bool) -> None:
    inputs = rollout()
    replica_sets = list(reversed(inputs.replica_sets)) if reverse else inputs.replica_sets

    status = assess(inputs.deployment, replica_sets, inputs.pods, now=at(60))

    by_name = {p.name: p for p in status.pods}
    assert [p.reason for p in status.pods if p.current] == ["ModelLoading"]
    assert all(p.ready for p in status.pods if not p.current)
    assert any(name.endswith("-new0") and pod_.current for name, pod_ in by_name.items())


def test_pod_breakdown_carries_restarts_exit_code_and_log_tail() -> None:
    status = crash_loop(5).assess(400)

    (only,) = status.pods
    assert (only.reason, only.restarts, only.exit_code, only.terminal) == (
        "CrashLoopBackOff",
        5,
        1,
        True,
    )
    assert only.log_tail is not None and "FancyNewForCausalLM" in only.log_tail
    assert only.node == "gpu-node-a100-1"


def test_termination_message_stands_in_for_a_missing_log_tail() -> None:
    container = waiting_container(
        "CrashLoopBackOff",
        restarts=3,
        last=terminated(1, "Error", message="torch.OutOfMemoryError: CUDA out of memory."),
    )
    status = one_pod(container).assess(400)

    assert "CUDA out of memory" in status.message
    assert "lower --gpu-memory-utilization" in status.message


def test_unschedulable_without_condition_message_uses_the_scheduler_event() -> None:
    inputs = unschedulable()
    del inputs.pods[0]["status"]["conditions"][0]["message"]

    status = inputs.assess(60)

    assert status.reason == "Unschedulable"
    assert "4 Insufficient nvidia.com/gpu" in status.message


def test_naive_now_is_taken_as_utc() -> None:
    aware = loading().assess(252)
    naive = assess(
        loading().deployment,
        loading().replica_sets,
        loading().pods,
        now=at(252).replace(tzinfo=None),
    )

    assert naive.message == aware.message


# ------------------------------------------------------ change detection


def test_fingerprint_ignores_elapsed_time_while_loading() -> None:
    inputs = loading()
    early, later = inputs.assess(60), inputs.assess(300)

    assert early.message != later.message
    assert early.fingerprint() == later.fingerprint()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (lambda: crash_loop(1), lambda: crash_loop(2)),
        (loading, lambda: ready(1)),
        (
            lambda: unschedulable(replicas=4, ready_count=2),
            lambda: unschedulable(replicas=4, ready_count=3),
        ),
    ],
    ids=["restart", "became-ready", "one-more-ready"],
)
def test_fingerprint_changes_when_something_a_user_cares_about_does(
    before: Callable[[], Inputs], after: Callable[[], Inputs]
) -> None:
    assert before().assess(120).fingerprint() != after().assess(120).fingerprint()


def test_fingerprint_changes_when_grace_runs_out() -> None:
    inputs = unschedulable(with_event=False)

    assert inputs.assess(100).fingerprint() != inputs.assess(1000).fingerprint()


def test_status_round_trips_through_json_for_trigger_events() -> None:
    status = unschedulable(replicas=4, ready_count=2).assess(300)

    again = WorkloadStatus.model_validate_json(status.model_dump_json())

    assert again == status
    assert again.fingerprint() == status.fingerprint()


def test_progress_line_reads_as_one_line() -> None:
    line = progress_line(loading().assess(252), name="llama")

    assert line.startswith("llama: Starting (ModelLoading) 0/1 ready, 1/1 updated, gen 1/1 - ")
    assert "vllm running for 4m12s" in line
    assert "\n" not in line


def test_progress_line_flags_terminal_verdicts() -> None:
    line = progress_line(crash_loop(5).assess(400))

    assert line.startswith("Failed (CrashLoopBackOff) [terminal] 0/1 ready")


def test_status_is_immutable() -> None:
    status = ready().assess(60)

    with pytest.raises(ValueError, match="frozen"):
        status.phase = Phase.FAILED  # type: ignore[misc]


def test_same_objects_same_moment_same_verdict() -> None:
    first = unschedulable().assess(300)
    second = unschedulable().assess(300)

    assert first == second
    assert first.fingerprint() == second.fingerprint()


def test_unknown_waiting_reason_passes_through() -> None:
    status = one_pod(waiting_container("ContainerStatusUnknown", "node lost")).assess(60)

    assert (status.phase, status.reason, status.terminal) == (
        Phase.STARTING,
        "ContainerStatusUnknown",
        False,
    )
    assert "node lost" in status.message


def test_replica_failure_condition_on_deployment_alone_is_enough() -> None:
    inputs = quota(with_conditions=False)
    inputs.deployment["status"]["conditions"].append(  # type: ignore[index]
        condition("ReplicaFailure", "True", "FailedCreate", QUOTA_MSG, since=1)
    )
    inputs.events.clear()

    status = inputs.assess(60)

    assert (status.phase, status.reason) == (Phase.PENDING, "QuotaExceeded")


# ------------------------------------------------- robustness (hypothesis)


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=12),
    st.sampled_from(
        [
            "True",
            "False",
            "Unschedulable",
            "CrashLoopBackOff",
            "OOMKilled",
            "Running",
            "ProgressDeadlineExceeded",
            "FailedCreate",
            "2026-13-45T99:00:00Z",
            "²",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2026-11-27T10:00:00Z",
        ]
    ),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

_SCENARIOS: list[Callable[[], Inputs]] = [case.inputs for case in CASES] + [
    rollout,
    quota_healed,
    lambda: crash_loop(3),
    lambda: oom(2),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key or index path inside a JSON value, nested ones included."""
    found: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found.append((*prefix, key))
        found.extend(_paths(item, (*prefix, key)))
    return found


def _mutate(draw: st.DrawFn, value: Any) -> Any:
    """Drop fields and swap in junk anywhere, as partial or odd API objects might."""
    value = copy.deepcopy(value)
    paths = _paths(value)
    if not paths:
        return value
    for path in draw(st.lists(st.sampled_from(paths), max_size=12)):
        parent = value
        for key in path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = path[-1]
            if isinstance(parent, dict) and last in parent:
                if draw(st.booleans()):
                    del parent[last]
                else:
                    parent[last] = draw(_JUNK)
            elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
                parent[last] = draw(_JUNK)
    return value


@st.composite
def mangled_inputs(draw: st.DrawFn) -> Inputs:
    base = draw(st.sampled_from(_SCENARIOS))()
    deployment = draw(st.one_of(st.just(None), st.just(base.deployment)))
    return Inputs(
        deployment=_mutate(draw, deployment) if deployment is not None else None,
        replica_sets=_mutate(draw, base.replica_sets),
        pods=_mutate(draw, base.pods),
        events=_mutate(draw, base.events),
        scaler=_mutate(draw, base.scaler) if base.scaler else draw(st.none() | _JUNK),
        log_tails=base.log_tails,
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _check_consistent(status: WorkloadStatus) -> None:
    assert status.reason and status.message
    if status.phase is Phase.READY:
        assert not status.terminal and status.ready_replicas >= status.min_ready >= 1
    if status.phase is Phase.FAILED:
        assert status.terminal
    if status.terminal:
        assert status.phase in (Phase.FAILED, Phase.DEGRADED)
    assert status.is_failed is status.terminal
    assert status.is_ready is (status.phase is Phase.READY)
    for count in (
        status.ready_replicas,
        status.desired_replicas,
        status.updated_replicas,
        status.available_replicas,
    ):
        assert count >= 0
    assert len(status.fingerprint()) == 16


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    inputs=mangled_inputs(),
    now=st.integers(min_value=-(10**6), max_value=10**7),
    grace=st.integers(min_value=0, max_value=10**6),
)
def test_assess_never_raises_on_partial_objects(inputs: Inputs, now: int, grace: int) -> None:
    first = inputs.assess(now, grace_period_seconds=grace)
    second = inputs.assess(now, grace_period_seconds=grace)

    _check_consistent(first)
    assert first == second


@settings(max_examples=200, deadline=None)
@given(
    deployment=_JSON,
    replica_sets=st.lists(_JSON, max_size=3),
    pods=st.lists(_JSON, max_size=3),
    events=st.lists(_JSON, max_size=3),
    scaler=_JSON,
)
def test_assess_never_raises_on_arbitrary_json(
    deployment: Any, replica_sets: Any, pods: Any, events: Any, scaler: Any
) -> None:
    status = assess(deployment, replica_sets, pods, events, scaler, now=at(0))

    _check_consistent(status)
    if not isinstance(deployment, dict):
        assert status.phase is Phase.NOT_FOUND


def test_events_of_a_previous_incarnation_are_ignored() -> None:
    # Same workload name, same pod template: the re-created ReplicaSet has the
    # same name, but the old FailedCreate event points at the old uid.
    inputs = quota(with_conditions=False)
    inputs.events[0]["involvedObject"]["uid"] = "5a1e0000-dead-4bee-8000-000000000000"

    status = inputs.assess(60)

    assert (status.phase, status.reason) == (Phase.PENDING, "RolloutInProgress")
    assert "quota" not in status.message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("metadata", "annotations", "deployment.kubernetes.io/revision"), "²"),
        (("metadata", "creationTimestamp"), "0001-01-01T00:00:00+05:00"),
        (("status", "conditions"), "not-a-list"),
        (("status", "availableReplicas"), True),
        (("status", "observedGeneration"), None),
        (("spec", "replicas"), "2"),
    ],
    ids=[
        "unicode-digit-revision",
        "overflowing-time",
        "conditions-string",
        "bool-count",
        "null-generation",
        "string-replicas",
    ],
)
def test_odd_field_values_read_as_absent(path: tuple[str, ...], value: Any) -> None:
    inputs = crash_loop(5)
    target: Any = inputs.deployment
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    status = inputs.assess(400)

    # The pod's own state still speaks, whatever the Deployment's odd field.
    assert status.reason == "CrashLoopBackOff"
    assert "restarted 5 times" in status.message


def _replace_times(value: Any, new: str) -> Any:
    if isinstance(value, dict):
        return {key: _replace_times(item, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_times(item, new) for item in value]
    if isinstance(value, str) and value[:4].isdigit() and "T" in value and value.endswith("Z"):
        return new
    return value


@pytest.mark.parametrize(
    "bad_time",
    ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2026-02-30T10:00:00Z", ""],
)
def test_unreadable_timestamps_never_start_the_grace_clock(bad_time: str) -> None:
    base = unschedulable()
    inputs = Inputs(
        _replace_times(base.deployment, bad_time),
        _replace_times(base.replica_sets, bad_time),
        _replace_times(base.pods, bad_time),
        _replace_times(base.events, bad_time),
    )

    status = inputs.assess(86_400 * 30)

    # With no readable start the failure cannot be timed out here; the
    # Deployment's progress deadline remains the backstop.
    assert (status.phase, status.reason, status.terminal) == (Phase.PENDING, "Unschedulable", False)
    assert "waiting up to 15m00s" in status.message
