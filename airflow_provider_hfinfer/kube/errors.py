"""Turning API server answers into errors a DAG author can act on.

This module owns the mapping from HTTP status and ``Status`` body to the
provider's exceptions and messages (missing permission, missing namespace,
rejected fields, conflicts), and which failures are worth retrying. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_hfinfer.exceptions import (
    AccessDeniedError,
    ClusterUnavailableError,
    ConflictError,
    InvalidObjectError,
    KubeAPIError,
    NamespaceNotFoundError,
    WatchExpiredError,
)
from airflow_provider_hfinfer.kube.requests import KubeRequest

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_retryable(status: int) -> bool:
    """Whether a failed request may succeed if sent again unchanged.

    409 is not: a conflict means another writer, and a blind retry could
    overwrite their change. 0 stands for a dropped connection.
    """
    return status == 0 or status in RETRYABLE_STATUSES


def parse_status(body: str | bytes | None) -> dict[str, Any]:
    """Parse a ``Status`` body, tolerating empty or non-JSON answers."""
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (ValueError, TypeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return {"message": text[:500]}
    return parsed if isinstance(parsed, dict) else {}


def _causes(status_body: dict[str, Any]) -> tuple[str, ...]:
    details = status_body.get("details") or {}
    lines = []
    for cause in details.get("causes") or []:
        field = cause.get("field") or "(object)"
        lines.append(f"{field}: {cause.get('message') or cause.get('reason') or 'invalid'}")
    return tuple(lines)


def error_for(request: KubeRequest, status: int, body: str | bytes | None) -> KubeAPIError:
    """Build the error for a failed request.

    Args:
        request: The planned request that failed.
        status: HTTP status (0 when the connection dropped).
        body: The answer's body (a ``Status`` object, usually).

    Returns:
        The most specific error, with a message naming the fix.
    """
    parsed = parse_status(body)
    server = str(parsed.get("message") or "").strip()
    reason = parsed.get("reason") or None
    common: dict[str, Any] = {
        "status": status,
        "verb": request.verb,
        "resource": request.resource.label,
        "namespace": request.namespace,
        "name": request.name,
        "reason": reason,
    }
    where = f"in namespace '{request.namespace}'" if request.namespace else "cluster-wide"
    if status in (401, 403):
        who = "the connection's credentials were rejected (401)" if status == 401 else server
        return AccessDeniedError(
            f"the Kubernetes identity of the connection may not {request.verb} "
            f"{request.resource.label} {where}: {who}. Grant it with deploy/rbac.yaml "
            "(a Role bound to the Airflow service account) or use another connection",
            **common,
        )
    if status == 410:
        return WatchExpiredError(
            f"{request.describe()}: resourceVersion expired ({server or 'Gone'}); list again",
            **common,
        )
    if (
        status == 404
        and request.namespace
        and f'namespaces "{request.namespace}" not found' in server
    ):
        return NamespaceNotFoundError(
            f"the project's namespace '{request.namespace}' does not exist: create it, or "
            "pass the namespace of an existing project",
            **common,
        )
    if status == 404 and request.verb == "patch" and request.resource.group not in ("", "apps"):
        return KubeAPIError(
            f"the cluster does not serve {request.resource.label}: install its custom "
            "resource definition (KEDA for scaledobjects, the KEDA HTTP add-on for "
            "httpscaledobjects, Istio for security.istio.io) or drop the spec fields that "
            "need it (autoscaling, scale_to_zero, endpoint_access)",
            **common,
        )
    if status == 422:
        causes = _causes(parsed)
        detail = "; ".join(causes) or server
        return InvalidObjectError(
            f"the API server rejected {request.resource.label} '{request.name}': {detail}",
            causes=causes,
            **common,
        )
    if status == 409:
        return ConflictError(
            f"conflict on {request.resource.label} '{request.name}' {where}: {server}. "
            "Another writer changed it; the task was not retried blindly",
            **common,
        )
    if is_retryable(status):
        answer = f"HTTP {status}" if status else "connection dropped"
        return ClusterUnavailableError(
            f"the Kubernetes API server kept failing ({answer}) on {request.describe()}: "
            f"{server or 'no details'}; check the cluster's health and retry the task",
            **common,
        )
    return KubeAPIError(
        f"{request.describe()} failed with HTTP {status}: {server or 'no details'}", **common
    )
