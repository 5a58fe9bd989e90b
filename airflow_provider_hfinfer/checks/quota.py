"""Project quota pre-check: will the workload's pods fit the namespace's ResourceQuota?

This module owns reading ``ResourceQuota`` objects the way the API server names
their keys (``requests.nvidia.com/gpu`` — extended resources are quota'd only
as requests —, ``requests.cpu`` / ``cpu``, ``limits.memory``, ``pods``...) and
comparing them with what the workload's pods request. Pure: no I/O. Without
this check a real cluster accepts the Deployment and then refuses its pods
with FailedCreate events the user never sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.kube_syntax import parse_quantity

_ALIASES = {"cpu": "requests.cpu", "memory": "requests.memory"}
_FIX = {
    "requests.cpu": "set compute.cpu",
    "requests.memory": "set compute.memory",
    "limits.cpu": "set compute.cpu_limit",
    "limits.memory": "set compute.memory_limit",
}


def pod_usage(workload: InferenceWorkload, options: RenderOptions) -> dict[str, Decimal]:
    """Quota keys one replica counts against, with amounts in base units."""
    compute = workload.compute
    usage = {f"requests.{options.gpu_resource_name}": Decimal(compute.gpus), "pods": Decimal(1)}
    for key, value in (
        ("requests.cpu", compute.cpu),
        ("requests.memory", compute.memory),
        ("limits.cpu", compute.cpu_limit),
        ("limits.memory", compute.memory_limit),
    ):
        if value:
            usage[key] = parse_quantity(value)
    return usage


def _amount(text: Any) -> Decimal:
    try:
        return parse_quantity(str(text))
    except ValueError:
        return Decimal(0)


def _show(key: str, amount: Decimal) -> str:
    if "memory" in key and amount >= 2**20:
        return f"{amount / 2**30:.1f}Gi"
    return f"{amount.normalize():f}"


def _check_one(quota: Mapping[str, Any], usage: Mapping[str, Decimal], pods: int) -> list[str]:
    name = quota.get("metadata", {}).get("name", "?")
    status = quota.get("status") or {}
    hard = status.get("hard") or quota.get("spec", {}).get("hard") or {}
    used = status.get("used") or {}
    problems: list[str] = []
    for raw_key, hard_text in hard.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in usage:
            if key in _FIX:
                problems.append(
                    f"quota '{name}' limits {raw_key}, so every pod must declare it: {_FIX[key]}"
                )
            continue
        requested = usage[key] * pods
        limit, in_use = _amount(hard_text), _amount(used.get(raw_key, 0))
        if in_use + requested > limit:
            problems.append(
                f"quota '{name}' {raw_key}: requested {_show(key, requested)}, used "
                f"{_show(key, in_use)}, hard {_show(key, limit)} "
                f"(short by {_show(key, in_use + requested - limit)})"
            )
    return problems


def check_quotas(
    quotas: Iterable[Mapping[str, Any]], usage: Mapping[str, Decimal], pods: int
) -> list[str]:
    """Return one line per quota the pods would exceed (empty when they fit).

    Args:
        quotas: ``ResourceQuota`` objects of the namespace, as the API returns them.
        usage: What one pod counts against (:func:`pod_usage`).
        pods: How many new pods the apply will start.
    """
    problems: list[str] = []
    for quota in quotas:
        problems += _check_one(quota, usage, pods)
    return problems
