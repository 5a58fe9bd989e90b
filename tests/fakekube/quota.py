"""The ResourceQuota admission rules a real API server applies to a new pod.

Two rules, with the messages kube-apiserver writes (``plugin/pkg/admission/
resourcequota`` and the pod evaluator's constraints):

* a quota on a compute resource (``cpu``, ``memory``, ``ephemeral-storage``,
  their ``requests.`` and ``limits.`` forms) makes that resource mandatory:
  every container must declare it, or the pod is refused with ``failed quota:
  <quota>: must specify requests.cpu for: vllm; ...``. LimitRange defaults
  count as declared, and a limit without a request defaults the request, as
  the API server's defaulting does;
* the pod's usage added to what live pods already use must stay within every
  hard limit, or the pod is refused with ``exceeded quota: <quota>,
  requested: ..., used: ..., limited: ...``.

:func:`refusal` returns that message (``None`` when the pod is admitted); the
fake kubelet, acting as the ReplicaSet controller, turns it into the
``FailedCreate`` condition and event a real ReplicaSet gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

JsonDict = dict[str, Any]

_SUFFIXES = {
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
    "k": Decimal(1000),
    "M": Decimal(1000**2),
    "G": Decimal(1000**3),
    "T": Decimal(1000**4),
    "m": Decimal("0.001"),
}
_COMPUTE = ("cpu", "memory", "ephemeral-storage")


def quantity(text: Any) -> Decimal:
    """A Kubernetes quantity (``500m``, ``16Gi``, ``2``) as a number."""
    raw = str(text).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if raw.endswith(suffix):
            return Decimal(raw[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(raw)


def _container_resources(container: JsonDict, defaults: Mapping[str, JsonDict]) -> JsonDict:
    resources = container.get("resources") or {}
    limits = {**defaults.get("default", {}), **(resources.get("limits") or {})}
    requests = {
        **defaults.get("defaultRequest", {}),
        **limits,
        **(resources.get("requests") or {}),
    }
    return {"limits": limits, "requests": requests}


def _limit_range_defaults(limit_ranges: Iterable[JsonDict]) -> dict[str, JsonDict]:
    merged: dict[str, JsonDict] = {"default": {}, "defaultRequest": {}}
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for key in merged:
                merged[key].update(item.get(key) or {})
    return merged


def pod_usage(spec: JsonDict, limit_ranges: Iterable[JsonDict] = ()) -> dict[str, Decimal]:
    """What one pod counts against a quota: ``requests.*``, ``limits.*`` and ``pods``."""
    defaults = _limit_range_defaults(limit_ranges)
    usage: dict[str, Decimal] = {"pods": Decimal(1)}
    for container in spec.get("containers") or []:
        declared = _container_resources(container, defaults)
        for kind in ("requests", "limits"):
            for resource, amount in declared[kind].items():
                key = f"{kind}.{resource}"
                usage[key] = usage.get(key, Decimal(0)) + quantity(amount)
    for resource in _COMPUTE:
        if f"requests.{resource}" in usage:
            usage[resource] = usage[f"requests.{resource}"]
    return usage


def _missing(quota: JsonDict, spec: JsonDict, defaults: Mapping[str, JsonDict]) -> list[str]:
    hard = (quota.get("spec") or {}).get("hard") or {}
    missing: dict[str, list[str]] = {}
    for key in hard:
        kind, _, resource = key.rpartition(".")
        if resource not in _COMPUTE or kind not in ("", "requests", "limits"):
            continue
        for container in spec.get("containers") or []:
            declared = _container_resources(container, defaults)
            if resource not in declared[kind or "requests"]:
                missing.setdefault(key, []).append(str(container.get("name", "")))
    return [f"{res} for: {','.join(sorted(names))}" for res, names in sorted(missing.items())]


def _show(amount: Decimal) -> str:
    return f"{amount.normalize():f}"


def refusal(
    spec: JsonDict,
    quotas: Iterable[JsonDict],
    limit_ranges: Iterable[JsonDict] = (),
    live_pod_specs: Iterable[JsonDict] = (),
) -> str | None:
    """Why the API server would refuse a pod with ``spec``; ``None`` when it admits it.

    Args:
        spec: The new pod's spec.
        quotas: The namespace's ResourceQuota objects.
        limit_ranges: The namespace's LimitRange objects.
        live_pod_specs: Specs of the namespace's pods that already count.
    """
    limit_ranges = list(limit_ranges)
    defaults = _limit_range_defaults(limit_ranges)
    usage = pod_usage(spec, limit_ranges)
    used: dict[str, Decimal] = {}
    for other in live_pod_specs:
        for key, amount in pod_usage(other, limit_ranges).items():
            used[key] = used.get(key, Decimal(0)) + amount
    for quota in quotas:
        name = (quota.get("metadata") or {}).get("name", "")
        missing = _missing(quota, spec, defaults)
        if missing:
            return f"failed quota: {name}: must specify {'; '.join(missing)}"
        hard = (quota.get("spec") or {}).get("hard") or {}
        over = [
            key
            for key, limit in sorted(hard.items())
            if key in usage and used.get(key, Decimal(0)) + usage[key] > quantity(limit)
        ]
        if over:
            requested = ",".join(f"{key}={_show(usage[key])}" for key in over)
            in_use = ",".join(f"{key}={_show(used.get(key, Decimal(0)))}" for key in over)
            limited = ",".join(f"{key}={hard[key]}" for key in over)
            return (
                f"exceeded quota: {name}, requested: {requested}, used: {in_use}, "
                f"limited: {limited}"
            )
    return None
