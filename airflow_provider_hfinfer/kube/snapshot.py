"""One snapshot of a workload: the objects the readiness model reads, however they were read.

This module owns the shape of a snapshot (the keyword arguments of
:func:`~airflow_provider_hfinfer.status.assess`) and which events belong to a
workload (those about its Deployment, ReplicaSets and pods: named like the
workload or ``<workload>-...``). The hook builds it from list calls, the
trigger's watch from its cache; both call :func:`workload_snapshot`. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JsonDict = dict[str, Any]


def about_workload(event: Mapping[str, Any], name: str) -> bool:
    """Whether an Event is about one of the workload's objects."""
    target = event.get("involvedObject") or event.get("regarding") or {}
    involved = str(target.get("name", "")) if isinstance(target, Mapping) else ""
    return involved == name or involved.startswith(f"{name}-")


def workload_snapshot(
    name: str,
    *,
    deployment: JsonDict | None,
    replica_sets: Iterable[JsonDict],
    pods: Iterable[JsonDict],
    events: Iterable[JsonDict],
    scaler: JsonDict | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``assess()`` for workload ``name``.

    Args:
        name: The workload (Deployment) name.
        deployment: The Deployment, or None when it does not exist.
        replica_sets: Its ReplicaSets.
        pods: Its pods.
        events: Events of the namespace (those about other objects are dropped).
        scaler: The KEDA ScaledObject or HTTPScaledObject, when read.
    """
    return {
        "deployment": deployment,
        "replica_sets": list(replica_sets),
        "pods": list(pods),
        "events": [event for event in events if about_workload(event, name)],
        "scaler": scaler,
    }
