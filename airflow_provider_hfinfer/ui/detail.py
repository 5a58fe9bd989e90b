"""The Workloads page's detail view: one workload's objects in, what a person may see out.

This module owns the detail panel: the Deployment's and scaler's conditions,
the recent events, the per-pod breakdown, the failing pod's log tail with
anything that looks like a token cut out, the live objects as the cluster holds
them with every secret value and server bookkeeping removed, and the recorded
specs (the applied one and the previous one a rollback returns to, both
redacted when they were written). Pure: no I/O, no clock.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_hfinfer.deploy.describe import REDACTED, redact_manifests
from airflow_provider_hfinfer.render.records import recorded_previous_spec, recorded_spec
from airflow_provider_hfinfer.spec.redact import SECRET_PATTERNS
from airflow_provider_hfinfer.status import WorkloadStatus
from airflow_provider_hfinfer.ui.rows import WorkloadObjects, WorkloadRow

JsonDict = dict[str, Any]

MAX_EVENTS = 25
"""Most recent events shown."""
MAX_LOG_CHARS = 8000
"""Longest log tail shown (the end is kept)."""

_ASSIGNED_SECRET = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|API_KEY|APIKEY)[A-Z0-9_]*\s*[=:]\s*)(\S+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
"""May hold a Secret's data verbatim (``kubectl apply``): never shown."""


def scrub_log(text: str | None) -> str | None:
    """A log tail with every token-like value replaced by ``<redacted>``.

    Cuts Hugging Face tokens, JWTs and API keys in known formats, bearer
    credentials and the value of any ``*TOKEN*=``/``*SECRET*:``/``*PASSWORD*``
    assignment; keeps the last :data:`MAX_LOG_CHARS` characters.
    """
    if text is None:
        return None
    tail = text[-MAX_LOG_CHARS:]
    for pattern in SECRET_PATTERNS:
        tail = pattern.sub(REDACTED, tail)
    tail = _ASSIGNED_SECRET.sub(lambda m: m.group(1) + REDACTED, tail)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, tail)


def shown_object(obj: Mapping[str, Any]) -> JsonDict:
    """A live object as the page shows it: no secret values, no server bookkeeping."""
    item = redact_manifests([dict(obj)])[0]
    meta = item.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        notes = meta.get("annotations")
        if isinstance(notes, dict):
            for key in _DROPPED_ANNOTATIONS:
                if key in notes:
                    notes[key] = REDACTED
    if item.get("kind") == "Secret":
        item.pop("status", None)
    return item


def conditions(obj: Mapping[str, Any] | None) -> list[JsonDict]:
    """An object's ``status.conditions``, as type, status, reason, message, since."""
    if not obj:
        return []
    found = (obj.get("status") or {}).get("conditions") or []
    return [
        {
            "object": f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}",
            "type": str(item.get("type", "")),
            "status": str(item.get("status", "")),
            "reason": str(item.get("reason", "")),
            "message": str(item.get("message", "")),
            "since": item.get("lastTransitionTime") or item.get("lastUpdateTime"),
        }
        for item in found
        if isinstance(item, Mapping)
    ]


def _event_time(event: Mapping[str, Any]) -> str:
    series = event.get("series") or {}
    return str(
        event.get("lastTimestamp")
        or (series.get("lastObservedTime") if isinstance(series, Mapping) else None)
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


def recent_events(events: Sequence[Mapping[str, Any]], limit: int = MAX_EVENTS) -> list[JsonDict]:
    """The newest events first, at most ``limit``."""
    ordered = sorted(events, key=_event_time, reverse=True)[:limit]
    shown: list[JsonDict] = []
    for event in ordered:
        target = event.get("involvedObject") or event.get("regarding") or {}
        shown.append(
            {
                "time": _event_time(event) or None,
                "type": str(event.get("type", "")),
                "reason": str(event.get("reason", "")),
                "object": f"{target.get('kind', '')}/{target.get('name', '')}",
                "message": scrub_log(str(event.get("message") or event.get("note") or "")),
                "count": event.get("count") or 1,
            }
        )
    return shown


def _spec_json(spec: Any) -> JsonDict | None:
    return None if spec is None else dict(spec.redacted())


def build_detail(
    row: WorkloadRow,
    members: WorkloadObjects,
    status: WorkloadStatus,
    log_pod: str | None,
    log_tail: str | None,
    now: datetime,
) -> JsonDict:
    """The detail panel of one workload, as JSON primitives.

    Args:
        row: Its table row.
        members: Its listed objects (own objects, ReplicaSets, pods, events).
        status: Its readiness verdict (the one the row was built from).
        log_pod: The failing pod whose log was read, if any.
        log_tail: That log's tail as read (scrubbed here).
        now: The moment of the reading.
    """
    deployment = members.deployment
    own = [copy.deepcopy(dict(obj)) for obj in members.own]
    return {
        "row": row.to_json(),
        "read_at": now.isoformat(),
        "conditions": conditions(deployment) + conditions(members.scaler),
        "events": recent_events(members.events),
        "pods": [pod.model_dump(mode="json", exclude={"log_tail"}) for pod in status.pods],
        "log": {"pod": log_pod, "tail": scrub_log(log_tail)} if log_pod else None,
        "objects": [shown_object(obj) for obj in own],
        "applied_spec": _spec_json(recorded_spec(deployment)),
        "previous_spec": _spec_json(recorded_previous_spec(deployment)),
    }
