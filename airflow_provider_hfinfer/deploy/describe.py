"""What a person, a log or XCom may see of a render: redacted manifests and a plan.

This module owns the redaction of secret values from rendered manifests and
the readable plan (objects, GPUs, replicas, scaling rule, scheduling rules,
TTL) printed by dry runs and ``make demo``. Pure: no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from airflow_provider_hfinfer.spec import InferenceWorkload

REDACTED = "<redacted>"


def redact_manifests(manifests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return copies of the manifests with every Secret value replaced by a marker.

    Args:
        manifests: Rendered manifests, possibly including a token Secret.

    Returns:
        Deep copies safe to log, print, write to disk or push to XCom.
    """
    safe: list[dict[str, Any]] = []
    for manifest in manifests:
        item = copy.deepcopy(manifest)
        if item.get("kind") == "Secret":
            for field in ("data", "stringData"):
                if isinstance(item.get(field), dict):
                    item[field] = {key: REDACTED for key in item[field]}
        safe.append(item)
    return safe


def _scaling_line(workload: InferenceWorkload) -> str:
    low, high = workload.replicas.min, workload.replicas.max
    rule = workload.autoscaling
    if rule is None:
        return f"fixed at {low} replica(s)"
    unit = {"latency": "ms mean latency", "throughput": "req/s per replica"}.get(
        rule.metric, "concurrent requests per replica"
    )
    line = f"{low}..{high} replicas, add one above {rule.threshold:g} {unit}"
    if workload.scale_to_zero is not None:
        line += f"; to zero after {workload.scale_to_zero.idle_seconds}s idle (KEDA HTTP add-on)"
    else:
        line += " (KEDA ScaledObject on vLLM metrics)"
    return line


def _scheduling_line(workload: InferenceWorkload) -> str:
    parts: list[str] = []
    if workload.node_pools:
        parts.append("node pools in order: " + " > ".join(workload.node_pools))
    if workload.node_type:
        parts.append(f"node type {workload.node_type}")
    if workload.tolerations:
        tolerated = ", ".join(
            f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in workload.tolerations
        )
        parts.append(f"tolerates {tolerated}")
    return "; ".join(parts) or "any node with a free GPU"


def describe_plan(
    workload: InferenceWorkload, manifests: Sequence[dict[str, Any]], namespace: str
) -> str:
    """Return a plan a person can read before anything is applied.

    Args:
        workload: The validated workload.
        manifests: Its rendered manifests, in apply order.
        namespace: The target namespace.

    Returns:
        A multi-line text: objects, compute, scaling, scheduling, access and TTL.
    """
    compute = workload.compute
    revision = f"@{workload.model.revision}" if workload.model.revision else ""
    ttl = workload.auto_delete_after
    ttl_line = (
        "never (delete it yourself)"
        if ttl is None
        else ("at once" if ttl == 0 else f"{ttl}s after completion or failure")
    )
    access = workload.endpoint_access
    who = {
        "public": "public (no authentication)",
        "authenticated": "any authenticated user",
        "groups": "groups " + ", ".join(access.groups),
        "users": "users " + ", ".join(access.users),
    }[access.mode]
    gpu_memory = f" x {compute.gpu_memory}" if compute.gpu_memory else ""
    lines = [
        f"Plan for workload {workload.name!r} in namespace {namespace!r}",
        f"  model      {workload.model.id}{revision} served as "
        f"{workload.model.served_model_name!r}",
        f"  compute    {compute.gpus} GPU(s){gpu_memory} per replica, tensor parallel "
        f"{compute.gpus}; cpu {compute.cpu or '-'}, memory {compute.memory or '-'}",
        f"  scaling    {_scaling_line(workload)}",
        f"  placement  {_scheduling_line(workload)}",
        f"  access     {who}",
        f"  deletion   {ttl_line}",
        f"  objects    {len(manifests)} to apply, in order:",
    ]
    for manifest in manifests:
        lines.append(f"    - {manifest['kind']}/{manifest['metadata']['name']}")
    return "\n".join(lines)
