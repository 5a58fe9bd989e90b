"""Strict node-pool order: the pure capacity decision, table by table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_hfinfer.checks.placement import (
    PodShape,
    decide_placement,
    pod_requests,
    pool_selector,
)
from airflow_provider_hfinfer.render import RenderOptions, render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload

KEY = "run.ai/node-pool"
GPU = "nvidia.com/gpu"
GI = 2**30


def node(
    name: str,
    pool: str,
    *,
    gpus: int = 8,
    cpu: str = "64",
    memory: str = "512Gi",
    pods: int = 110,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A node of ``pool`` with the given allocatable resources."""
    allocatable = {GPU: str(gpus), "cpu": cpu, "memory": memory, "pods": str(pods)}
    status: dict[str, Any] = {"allocatable": allocatable}
    if spec.pop("ready", True) is False:
        status["conditions"] = [{"type": "Ready", "status": "False"}]
    return {
        "metadata": {"name": name, "labels": {KEY: pool, **(labels or {})}},
        "spec": spec,
        "status": status,
    }


def pod(
    name: str,
    on: str | None,
    *,
    gpus: int = 0,
    cpu: str = "1",
    memory: str = "1Gi",
    phase: str = "Running",
    namespace: str = "other",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod bound to node ``on`` requesting the given resources."""
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        requests[GPU] = str(gpus)
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": requests}}]}
    if on:
        spec["nodeName"] = on
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": spec,
        "status": {"phase": phase},
    }


SHAPE = PodShape(
    requests={GPU: Decimal(2), "cpu": Decimal(8), "memory": Decimal(64 * GI), "pods": Decimal(1)}
)


def decide(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]] | None = None,
    *,
    replicas: int = 2,
    pools: tuple[str, ...] = ("a100-pool", "h100-pool"),
    shape: PodShape = SHAPE,
    **kwargs: Any,
) -> Any:
    return decide_placement(
        nodes, pods or [], pool_label_key=KEY, shape=shape, replicas=replicas, pools=pools, **kwargs
    )


def test_first_pool_with_room_is_chosen_and_earlier_pools_say_why() -> None:
    nodes = [node("a1", "a100-pool", gpus=2), node("h1", "h100-pool")]
    pods = [pod("busy", "a1", gpus=1)]

    decision = decide(nodes, pods)

    assert decision.pool == "h100-pool"
    assert [fit.describe() for fit in decision.skipped] == [
        "a100-pool: room for 0 replicas, 2 needed (node a1: 1 free nvidia.com/gpu, needs 2)"
    ]
    assert decision.describe() == (
        "strict node-pool order: pinned to h100-pool: room for 2 replicas, 2 needed (node h1: room "
        "for 2); skipped a100-pool: room for 0 replicas, 2 needed (node a1: 1 free nvidia.com/gpu, "
        "needs 2)"
    )


def test_the_first_pool_wins_when_it_has_room() -> None:
    decision = decide([node("a1", "a100-pool"), node("h1", "h100-pool")])

    assert decision.pool == "a100-pool" and decision.skipped == ()
    assert decision.describe().endswith("it is the first listed pool")


def test_replicas_may_spread_over_the_nodes_of_a_pool() -> None:
    # Two nodes with room for one replica each: the pool takes both replicas.
    nodes = [node("a1", "a100-pool", gpus=3), node("a2", "a100-pool", gpus=2)]

    decision = decide(nodes, replicas=2)

    assert decision.pool == "a100-pool"
    assert [(n.node, n.replicas) for n in decision.pools[0].nodes] == [("a1", 1), ("a2", 1)]


def test_the_log_says_the_room_and_the_need_apart() -> None:
    # One replica needed, two nodes with room for one each: room for 2, 1 needed.
    nodes = [node("gpu-a-1", "pool-a", gpus=1), node("gpu-a-2", "pool-a", gpus=1)]

    decision = decide(nodes, replicas=1, shape=PodShape({GPU: Decimal(1)}), pools=("pool-a",))

    assert decision.describe().startswith(
        "strict node-pool order: pinned to pool-a: room for 2 replicas, 1 needed "
        "(node gpu-a-1: room for 1; node gpu-a-2: room for 1)"
    )


def test_a_replica_must_fit_whole_on_one_node() -> None:
    # Four free GPUs in the pool, but split 1 + 1 + 1 + 1: no replica of 2 GPUs fits.
    nodes = [node(f"a{i}", "a100-pool", gpus=1) for i in range(4)] + [node("h1", "h100-pool")]

    decision = decide(nodes, replicas=1)

    assert decision.pool == "h100-pool"
    assert decision.pools[0].fits == 0
    assert decision.pools[0].describe().endswith("; 1 more node(s))")


def test_none_fits_keeps_preferred_order_with_every_reason() -> None:
    nodes = [
        node("a1", "a100-pool", cpu="4"),
        node("h1", "h100-pool", memory="32Gi"),
    ]

    decision = decide(nodes)

    assert decision.pool is None
    assert decision.describe() == (
        "strict node-pool order: no listed pool has room for 2 replica(s) now (a100-pool: room "
        "for 0 replicas, 2 needed (node a1: 4 free cpu, needs 8); h100-pool: room for 0 replicas, "
        "2 needed "
        "(node h1: 32.0Gi free memory, needs 64.0Gi)); keeping the preferred-order affinity"
    )


@pytest.mark.parametrize(
    ("pods", "fits"),
    [
        ([pod("done", "a1", gpus=8, phase="Succeeded")], 2),
        ([pod("crashed", "a1", gpus=8, phase="Failed")], 2),
        ([pod("pending", "a1", gpus=8, phase="Pending")], 0),
        ([pod("unbound", None, gpus=8, phase="Pending")], 2),
        ([pod("elsewhere", "x9", gpus=8)], 2),
        ([pod("big", "a1", gpus=4), pod("small", "a1", gpus=1)], 1),
        ([pod("cpu-hog", "a1", cpu="60")], 0),
        (
            [pod("own", "a1", gpus=8, namespace="team-a", labels={"hfinfer.io/workload": "me"})],
            2,
        ),
        (
            [
                pod(
                    "namesake",
                    "a1",
                    gpus=8,
                    namespace="team-b",
                    labels={"hfinfer.io/workload": "me"},
                )
            ],
            0,
        ),
    ],
)
def test_used_capacity_counts_only_non_terminated_pods_on_the_node(
    pods: list[dict[str, Any]], fits: int
) -> None:
    decision = decide(
        [node("a1", "a100-pool")],
        pods,
        pools=("a100-pool",),
        own_namespace="team-a",
        own_labels={"hfinfer.io/workload": "me"},
    )

    assert decision.pools[0].fits == fits


def test_pod_slots_are_a_resource_too() -> None:
    pods = [pod(f"p{i}", "a1", cpu="0", memory="0") for i in range(3)]

    decision = decide([node("a1", "a100-pool", pods=3)], pods, pools=("a100-pool",))

    assert decision.pools[0].describe() == (
        "a100-pool: room for 0 replicas, 2 needed (node a1: 0 free pods, needs 1)"
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"unschedulable": True}, "cordoned"),
        ({"ready": False}, "not Ready"),
        (
            {"taints": [{"key": "team", "value": "x", "effect": "NoSchedule"}]},
            "taint team=x:NoSchedule not tolerated",
        ),
        ({"taints": [{"key": "gpu", "effect": "NoExecute"}]}, "taint gpu:NoExecute not tolerated"),
    ],
)
def test_unusable_nodes_are_named_with_the_reason(extra: dict[str, Any], reason: str) -> None:
    decision = decide([node("a1", "a100-pool", **extra)], pools=("a100-pool",))

    assert decision.pools[0].nodes[0].reason == reason
    assert decision.pool is None


def test_tolerated_and_soft_taints_do_not_block() -> None:
    taints = [
        {"key": GPU, "value": "present", "effect": "NoSchedule"},
        {"key": "spot", "effect": "PreferNoSchedule"},
    ]
    shape = PodShape(SHAPE.requests, tolerations=({"key": GPU, "operator": "Exists"},))

    decision = decide([node("a1", "a100-pool", taints=taints)], pools=("a100-pool",), shape=shape)

    assert decision.pool == "a100-pool"


def test_pool_without_nodes_says_so() -> None:
    decision = decide([node("h1", "h100-pool")])

    assert decision.pools[0].describe() == (
        "a100-pool: room for 0 replicas, 2 needed (no nodes labelled run.ai/node-pool=a100-pool)"
    )


def test_zero_min_replicas_still_needs_room_for_one() -> None:
    decision = decide([node("a1", "a100-pool", gpus=2)], replicas=0, pools=("a100-pool",))

    assert (decision.needed, decision.pool) == (1, "a100-pool")


def test_pod_requests_follow_the_scheduler_rules() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": "1"}}},
        ],
        "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "4"}}}],
        "overhead": {"memory": "128Mi"},
    }

    assert pod_requests(spec) == {
        "cpu": Decimal(4),
        "memory": Decimal(GI + 128 * 2**20),
        GPU: Decimal(1),
        "pods": Decimal(1),
    }


def _workload(**fields: Any) -> InferenceWorkload:
    base: dict[str, Any] = {
        "name": "llama",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "compute": {"gpus": 2, "gpu_memory": "80Gi", "cpu": "8", "memory": "64Gi"},
        "node_pools": ["a100-pool", "h100-pool"],
        "node_type": "dgx",
    }
    base.update(fields)
    return InferenceWorkload.model_validate(base)


def test_shape_of_the_rendered_pod_honours_its_other_node_terms() -> None:
    manifests = render_manifests(_workload(), namespace="team-a", options=RenderOptions())
    deployment = next(item for item in manifests if item["kind"] == "Deployment")
    shape = PodShape.from_pod_spec(deployment["spec"]["template"]["spec"], KEY)

    assert shape.requests[GPU] == 2 and shape.requests["cpu"] == 8
    assert [expr["key"] for expr in shape.node_terms[0]] == ["run.ai/type", "nvidia.com/gpu.memory"]
    gpu_taint = [{"key": GPU, "effect": "NoSchedule"}]
    dgx = {"run.ai/type": "dgx", "nvidia.com/gpu.memory": "81920"}
    nodes = [
        node("a1", "a100-pool", labels={"run.ai/type": "dgx", "nvidia.com/gpu.memory": "40960"}),
        node("h1", "h100-pool", labels=dgx, taints=gpu_taint),
    ]

    decision = decide(nodes, shape=shape)

    assert decision.pool == "h100-pool"
    assert decision.pools[0].nodes[0].reason == (
        "does not match the pod's other required node labels"
    )


def test_pool_selector() -> None:
    assert pool_selector(KEY, ["a", "b"]) == "run.ai/node-pool in (a,b)"


def test_a_node_without_a_pod_limit_is_not_full() -> None:
    bare = node("a1", "a100-pool")
    del bare["status"]["allocatable"]["pods"]

    assert decide([bare], pools=("a100-pool",)).pool == "a100-pool"
