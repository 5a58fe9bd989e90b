"""Where replicas may run: node pools in priority order, node type, GPU memory, tolerations.

This module owns the pod's ``affinity`` and ``tolerations``. Node pools become a
required ``In`` term (only the listed pools) plus preferred terms with a steep
weight ladder: on a real kube-scheduler, weights 100/50 let default spreading
push a second replica into the second pool although the first had room, while
100/1 kept both in the first.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload, Toleration

FIRST_POOL_WEIGHT = 100
MAX_WEIGHT = 100
"""Kubernetes accepts preferred-term weights from 1 to 100."""


def pool_weights(count: int) -> list[int]:
    """Preferred-term weights for ``count`` pools: 100, then count-1, ..., 1.

    Each later pool stays far below the first (so spreading cannot outweigh it)
    while the small descending weights keep the list's order among the rest.
    Weights must stay within 1..100 and below the first, so at most 99 later
    pools get a preference; any further pools are only allowed (weight 0). The
    spec caps ``node_pools`` at ``MAX_NODE_POOLS`` (16), so a validated workload
    gives every pool a distinct weight and the second pool at most 15.
    """
    if count <= 0:
        return []
    later = min(count - 1, MAX_WEIGHT - 1)
    return [FIRST_POOL_WEIGHT] + list(range(later, 0, -1))


GPU_MEMORY_TOLERANCE_PERCENT = 7
"""Percent of the nominal GPU memory a node's label may fall short of and still match.

GPU feature discovery labels nodes with the memory the driver reports
(``nvidia.com/gpu.memory``, MiB), which is below the size on the box for many
cards: H100 80GB reports 81559 MiB (0.4% short of 80 GiB), L40S 46068 MiB and
A10 23028 MiB (6.3% short of 48 and 24 GiB), T4 15360 MiB (6.3% short of
16 GiB). 7% accepts all of them, while the next smaller common size is always
at least 16% smaller (40 vs 48, 24 vs 32, 16 vs 24 GiB), so a smaller card never
matches.
"""


def gpu_memory_floor_mib(gpu_memory_bytes: int) -> int:
    """The smallest per-GPU memory label (MiB) that satisfies ``compute.gpu_memory``."""
    nominal_mib = -(-gpu_memory_bytes // 2**20)  # a partial MiB counts as one
    return max(1, nominal_mib * (100 - GPU_MEMORY_TOLERANCE_PERCENT) // 100)


def render_affinity(workload: InferenceWorkload, options: RenderOptions) -> dict[str, Any] | None:
    """Render the pod affinity, or None when nothing constrains placement."""
    required: list[dict[str, Any]] = []
    pools = list(workload.node_pools)
    if pools:
        required.append({"key": options.node_pool_label_key, "operator": "In", "values": pools})
    if workload.node_type:
        required.append(
            {"key": options.node_type_label_key, "operator": "In", "values": [workload.node_type]}
        )
    gpu_memory = workload.compute.gpu_memory_bytes
    if gpu_memory and options.gpu_memory_label_key:
        # Gt is strict: "at least N MiB" is "Gt N-1".
        floor = gpu_memory_floor_mib(gpu_memory)
        required.append(
            {"key": options.gpu_memory_label_key, "operator": "Gt", "values": [str(floor - 1)]}
        )
    node_affinity: dict[str, Any] = {}
    if required:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": required}]
        }
    if len(pools) > 1:
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {
                "weight": weight,
                "preference": {
                    "matchExpressions": [
                        {"key": options.node_pool_label_key, "operator": "In", "values": [pool]}
                    ]
                },
            }
            # Pools past the weight range get no term: they stay allowed, last in order.
            for pool, weight in zip(pools, pool_weights(len(pools)), strict=False)
        ]
    return {"nodeAffinity": node_affinity} if node_affinity else None


def pin_to_pool(
    affinity: dict[str, Any] | None, pool: str, options: RenderOptions
) -> dict[str, Any]:
    """Return the affinity with the node-pool term narrowed to one pool (strict mode).

    Args:
        affinity: The rendered affinity (may be None).
        pool: The pool chosen for the replicas.
        options: Cluster settings (the pool label key).

    Returns:
        A new affinity whose required pool term lists only ``pool``, without preferences.
    """
    expressions: list[dict[str, Any]] = []
    node_affinity = (affinity or {}).get("nodeAffinity", {})
    terms = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution", {}).get(
        "nodeSelectorTerms", [{}]
    )
    for expression in terms[0].get("matchExpressions", []):
        if expression["key"] != options.node_pool_label_key:
            expressions.append(expression)
    expressions.insert(0, {"key": options.node_pool_label_key, "operator": "In", "values": [pool]})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }


def render_toleration(toleration: Toleration) -> dict[str, Any]:
    """Map a form toleration to the pod API (``Equals`` -> ``Equal``, ``Any`` -> no effect)."""
    rendered: dict[str, Any] = {
        "key": toleration.key,
        "operator": "Exists" if toleration.operator == "Exists" else "Equal",
    }
    if toleration.value is not None:
        rendered["value"] = toleration.value
    if toleration.effect != "Any":
        rendered["effect"] = toleration.effect
    if toleration.toleration_seconds is not None:
        rendered["tolerationSeconds"] = toleration.toleration_seconds
    return rendered


def render_tolerations(workload: InferenceWorkload, options: RenderOptions) -> list[dict[str, Any]]:
    """Render the user's tolerations, plus the GPU taint toleration when enabled."""
    rendered = [render_toleration(item) for item in workload.tolerations]
    if options.tolerate_gpu_taint and not any(
        item["key"] == options.gpu_resource_name for item in rendered
    ):
        rendered.append(
            {"key": options.gpu_resource_name, "operator": "Exists", "effect": "NoSchedule"}
        )
    return rendered
