"""Grace periods per failure class: what can heal without a user waits, the rest fail fast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_hfinfer.status import Phase, WorkloadStatus, assess
from airflow_provider_hfinfer.status.healing import (
    FAST_GRACE_SECONDS,
    Healing,
    classify_failed_create,
    classify_image_pull,
    classify_unschedulable,
    grace_for,
    parse_overrides,
)

from .status_builders import (
    Obj,
    at,
    deployment,
    event,
    pod,
    replica_failure,
    replica_set,
    scheduler_event,
    waiting_container,
)

# Scheduler messages as kube-scheduler 1.34+ writes them.
BUSY = (
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
    "available: 4 No preemption victims found for incoming pod."
)
TOO_BIG = (
    "0/4 nodes are available: 4 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are "
    "available: 4 Preemption is not helpful for scheduling."
)
NO_SUCH_NODE_TYPE = (
    "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. "
    "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling."
)
MIXED = (
    "0/6 nodes are available: 4 Insufficient nvidia.com/gpu, 2 node(s) had untolerated "
    "taint {nvidia.com/gpu: present}. preemption: 0/6 nodes are available: 2 Preemption "
    "is not helpful for scheduling, 4 No preemption victims found for incoming pod."
)
OLD_SCHEDULER_TAINTS = "0/3 nodes are available: 3 node(s) had untolerated taint {gpu: a100}."

MUST_SPECIFY = (
    'pods "llama-5d9c7b8f6-x2x4z" is forbidden: failed quota: project-quota: must specify '
    "requests.cpu for: vllm; requests.memory for: vllm"
)
EXCEEDED = (
    'pods "llama-5d9c7b8f6-x2x4z" is forbidden: exceeded quota: project-quota, requested: '
    "requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=8, limited: "
    "requests.nvidia.com/gpu=8"
)
WEBHOOK = (
    'admission webhook "validate.kyverno.svc-fail" denied the request: policy '
    "require-team-label: label 'team' is required"
)

MANIFEST_UNKNOWN = (
    'Failed to pull image "vllm/vllm-openai:v9.9.9": rpc error: code = NotFound desc = '
    'failed to pull and unpack image "docker.io/vllm/vllm-openai:v9.9.9": failed to resolve '
    'reference "docker.io/vllm/vllm-openai:v9.9.9": docker.io/vllm/vllm-openai:v9.9.9: not found'
)
UNAUTHORIZED = (
    'Failed to pull image "registry.corp/ml/vllm:v0.6.4": rpc error: code = Unknown desc = '
    'failed to resolve reference "registry.corp/ml/vllm:v0.6.4": failed to authorize: '
    "failed to fetch anonymous token: unexpected status: 401 Unauthorized"
)
TIMEOUT = (
    'Failed to pull image "vllm/vllm-openai:v0.6.4": rpc error: code = Unknown desc = '
    "failed to pull and unpack image: failed to copy: read tcp 10.0.0.5:41234->"
    "104.16.0.1:443: read: connection reset by peer"
)
RATE_LIMITED = (
    'Failed to pull image "vllm/vllm-openai:v0.6.4": rpc error: code = Unknown desc = '
    "failed to pull and unpack image: 429 Too Many Requests - Server message: "
    "toomanyrequests: You have reached your pull rate limit."
)


@pytest.mark.parametrize(
    ("message", "autoscaler", "expected"),
    [
        (BUSY, None, Healing.CAPACITY),
        (TOO_BIG, None, Healing.NO_NODE_FITS),
        (NO_SUCH_NODE_TYPE, None, Healing.NO_NODE_FITS),
        (MIXED, None, Healing.CAPACITY),
        (OLD_SCHEDULER_TAINTS, None, Healing.NO_NODE_FITS),
        ("0/3 nodes are available: 3 Insufficient memory.", None, Healing.CAPACITY),
        ("", None, Healing.CAPACITY),
        (TOO_BIG, "TriggeredScaleUp", Healing.NODE_PROVISIONING),
        (BUSY, "NotTriggerScaleUp", Healing.NO_NODE_FITS),
    ],
    ids=[
        "busy",
        "too-big",
        "no-such-node-type",
        "mixed",
        "taints-old-scheduler",
        "insufficient-old-scheduler",
        "no-message",
        "autoscaler-adding",
        "autoscaler-refusing",
    ],
)
def test_unschedulable_classes(message: str, autoscaler: str | None, expected: Healing) -> None:
    assert classify_unschedulable(message, autoscaler) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (EXCEEDED, Healing.QUOTA_FULL),
        (MUST_SPECIFY, Healing.QUOTA_UNDECLARED),
        (WEBHOOK, Healing.ADMISSION_DENIED),
        (
            'pods "x" is forbidden: violates PodSecurity "restricted:latest"',
            Healing.ADMISSION_DENIED,
        ),
        ("Internal error occurred: etcdserver: request timed out", None),
    ],
    ids=["exceeded", "must-specify", "webhook", "pod-security", "unknown"],
)
def test_failed_create_classes(message: str, expected: Healing | None) -> None:
    assert classify_failed_create(message) is expected


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (MANIFEST_UNKNOWN, Healing.IMAGE_NOT_FOUND),
        ("manifest unknown: manifest tagged by v9 is not found", Healing.IMAGE_NOT_FOUND),
        (UNAUTHORIZED, Healing.IMAGE_ACCESS_DENIED),
        (TIMEOUT, Healing.REGISTRY_UNAVAILABLE),
        (RATE_LIMITED, Healing.REGISTRY_UNAVAILABLE),
        ("", Healing.REGISTRY_UNAVAILABLE),
    ],
    ids=["not-found", "manifest-unknown", "unauthorized", "reset", "rate-limit", "empty"],
)
def test_image_pull_classes(cause: str, expected: Healing) -> None:
    assert classify_image_pull(cause) is expected


def test_user_only_classes_are_capped_by_grace_period_and_overridable() -> None:
    long, short = timedelta(seconds=900), timedelta(seconds=30)
    assert grace_for(Healing.IMAGE_NOT_FOUND, long) == timedelta(seconds=60)
    assert grace_for(Healing.IMAGE_NOT_FOUND, short) == short
    assert grace_for(Healing.CAPACITY, long) == long
    assert grace_for(None, long) == long
    overrides = parse_overrides({"capacity": 1800, "image-not-found": 0})
    assert grace_for(Healing.CAPACITY, long, overrides) == timedelta(seconds=1800)
    assert grace_for(Healing.IMAGE_NOT_FOUND, long, overrides) == timedelta(0)
    # Every class that only a user can fix fails well before the 15 minutes.
    assert all(seconds <= 300 for seconds in FAST_GRACE_SECONDS.values())


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"capacty": 60}, "unknown failure class 'capacty'; use one of: node-provisioning"),
        ({"capacity": -1}, "grace_periods['capacity'] must be a number of seconds >= 0"),
        ({"capacity": "60"}, "must be a number of seconds"),
        ({"capacity": True}, "must be a number of seconds"),
        ([("capacity", 60)], "grace_periods must map a failure class to seconds"),
    ],
)
def test_bad_overrides_name_the_argument_and_the_fix(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match="grace_periods") as err:
        parse_overrides(value)
    assert says in str(err.value)


# ------------------------------------------------------------ through assess()


def _unschedulable(message: str, autoscaler: str | None = None) -> dict[str, Any]:
    dep = deployment(replicas=1, ready=0)
    rs = replica_set(dep, replicas=1, ready=0)
    stuck = pod(rs, "gpu0", unschedulable=message)
    events = [scheduler_event(stuck, message, first=0)]
    if autoscaler:
        events.append(
            event(
                "Pod",
                stuck["metadata"]["name"],
                autoscaler,
                "pod triggered scale-up: [{gpu-pool 1->2 (max: 4)}]"
                if autoscaler == "TriggeredScaleUp"
                else "pod didn't trigger scale-up: 1 max node group size reached",
                first=10,
                etype="Normal",
                component="cluster-autoscaler",
            )
        )
    return {"deployment": dep, "replica_sets": [rs], "pods": [stuck], "events": events}


def _refused(message: str) -> dict[str, Any]:
    failure = [replica_failure(message, since=0)]
    dep = deployment(replicas=1, total=0, updated=0, ready=0, conditions=failure)
    rs = replica_set(dep, replicas=1, created=0, conditions=failure)
    failed = event(
        "ReplicaSet",
        rs["metadata"]["name"],
        "FailedCreate",
        f"Error creating: {message}",
        first=0,
        last=50,
        count=7,
        component="replicaset-controller",
    )
    return {"deployment": dep, "replica_sets": [rs], "pods": [], "events": [failed]}


def _pull_failing(cause: str) -> dict[str, Any]:
    dep = deployment(replicas=1, ready=0)
    rs = replica_set(dep, replicas=1, ready=0)
    waiting = waiting_container("ImagePullBackOff", 'Back-off pulling image "vllm"')
    stuck: Obj = pod(rs, containers=[waiting])
    name = stuck["metadata"]["name"]
    events = [
        event("Pod", name, "Failed", cause, first=0, last=40, count=3),
        event("Pod", name, "Failed", "Error: ImagePullBackOff", first=1, last=50, count=4),
    ]
    return {"deployment": dep, "replica_sets": [rs], "pods": [stuck], "events": events}


SCENARIOS = {
    "too-big": (_unschedulable(TOO_BIG), "Unschedulable", 120),
    "no-such-node-type": (_unschedulable(NO_SUCH_NODE_TYPE), "Unschedulable", 120),
    "autoscaler-refusing": (_unschedulable(BUSY, "NotTriggerScaleUp"), "Unschedulable", 120),
    "must-specify": (_refused(MUST_SPECIFY), "QuotaExceeded", 60),
    "webhook": (_refused(WEBHOOK), "FailedCreate", 60),
    "manifest-unknown": (_pull_failing(MANIFEST_UNKNOWN), "ImagePullBackOff", 60),
    "unauthorized": (_pull_failing(UNAUTHORIZED), "ImagePullBackOff", 120),
}
HEALING = {
    "busy": (_unschedulable(BUSY), "Unschedulable"),
    "autoscaler-adding": (_unschedulable(TOO_BIG, "TriggeredScaleUp"), "Unschedulable"),
    "quota-full": (_refused(EXCEEDED), "QuotaExceeded"),
    "registry-reset": (_pull_failing(TIMEOUT), "ImagePullBackOff"),
}


def _judge(objects: dict[str, Any], now: float, **options: Any) -> WorkloadStatus:
    return assess(**objects, now=at(now), **options)


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_failures_only_a_user_can_fix_end_within_their_grace(case: str) -> None:
    objects, reason, grace = SCENARIOS[case]
    before = _judge(objects, grace - 5)
    after = _judge(objects, grace + 1)

    assert (before.reason, before.terminal) == (reason, False)
    assert f"waiting up to {grace // 60}m00s" in before.message
    assert (after.phase, after.reason, after.terminal) == (Phase.FAILED, reason, True)
    assert f"past the {grace // 60}m00s grace period" in after.message


@pytest.mark.parametrize("case", sorted(HEALING))
def test_failures_that_heal_on_their_own_wait_the_grace_period(case: str) -> None:
    objects, reason = HEALING[case]
    status = _judge(objects, 600)
    assert (status.reason, status.terminal) == (reason, False)
    assert "waiting up to 15m00s" in status.message
    assert _judge(objects, 901).terminal
    # The sensor's grace_period still bounds them, and overrides reach them.
    assert _judge(objects, 600, grace_period_seconds=300).terminal
    assert not _judge(objects, 1000, grace_periods={h.value: 3600 for h in Healing}).terminal


def test_the_message_says_why_it_waits() -> None:
    status = _judge(SCENARIOS["manifest-unknown"][0], 30)
    assert "[the image does not exist: waiting up to 1m00s]" in status.message
    status = _judge(HEALING["autoscaler-adding"][0], 30)
    assert "[a node is being added: waiting up to 15m00s]" in status.message


def test_overrides_shorten_one_class_only() -> None:
    overrides = {"capacity": 60}
    assert _judge(HEALING["busy"][0], 61, grace_periods=overrides).terminal
    assert not _judge(HEALING["quota-full"][0], 61, grace_periods=overrides).terminal
