"""Turning Run:ai control-plane answers into errors a DAG author can act on.

This module owns the mapping from HTTP status and Run:ai's error body
(``{"code": ..., "message": ...}``) to the provider's exceptions: 401 (the
application's credentials), 403 (naming the permission the request needs),
404, 409 (the name is taken or a change is in progress), 400/422 (the API's own
field messages quoted), 429 and 5xx (retried, then reported), and which of
them are worth sending again. Pure.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_hfinfer.exceptions import (
    RunaiAccessDeniedError,
    RunaiAPIError,
    RunaiConflictError,
    RunaiInvalidRequestError,
    RunaiNotFoundError,
    RunaiUnavailableError,
)
from airflow_provider_hfinfer.runai.requests import RunaiRequest

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_MESSAGE = 600


def is_retryable(status: int, request: RunaiRequest) -> bool:
    """Whether a failed request may succeed if sent again unchanged.

    A dropped connection (0) is retried only for idempotent requests: a create
    whose answer was lost may have created the workload.
    """
    if status == 0:
        return request.idempotent
    return status in RETRYABLE_STATUSES


def server_message(body: bytes | str | None) -> str:
    """The control plane's own message, one line.

    ``message`` and any ``details``, or OAuth2's ``error`` and ``error_description``
    (the ``/api/v2/token`` answers).
    """
    if not body:
        return ""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, TypeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return " ".join(text.split())[:MAX_MESSAGE]
    if not isinstance(parsed, dict):
        return ""
    keys = ("message", "details", "error", "error_description")
    parts = [str(parsed.get(key)) for key in keys if parsed.get(key)]
    return " ".join(" ".join(parts).split())[:MAX_MESSAGE]


def error_for(
    request: RunaiRequest,
    status: int,
    body: bytes | str | None,
    *,
    project: str | None = None,
    name: str | None = None,
) -> RunaiAPIError:
    """Build the error for a failed request.

    Args:
        request: The planned request that failed.
        status: HTTP status (0 when no answer came).
        body: The answer's body.
        project: The project the request was about, for the message.
        name: The workload the request was about, for the message.

    Returns:
        The most specific error, with a message naming the fix.
    """
    said = server_message(body)
    common: dict[str, Any] = {
        "status": status,
        "method": request.method,
        "path": request.path,
        "permission": request.permission,
        "namespace": project,
        "name": name,
    }
    where = f" in project '{project}'" if project else ""
    if status == 401:
        return RunaiAccessDeniedError(
            f"the Run:ai control plane refused the application's credentials (401) on "
            f"{request.describe()}: {said or 'unauthorized'}. Check the runai connection's "
            "login (client id) and password (client secret), and that the application "
            "is enabled",
            reason="Unauthorized",
            **common,
        )
    if status == 403:
        return RunaiAccessDeniedError(
            f"the Run:ai application may not {request.permission}{where} (403 on "
            f"{request.describe()}): {said or 'forbidden'}. Give it a role that can "
            f"{request.permission} (e.g. ML engineer){where}",
            reason="Forbidden",
            **common,
        )
    if status == 404:
        return RunaiNotFoundError(
            f"{request.describe()} found nothing (404){where}: {said or 'not found'}",
            reason="NotFound",
            **common,
        )
    if status == 409:
        return RunaiConflictError(
            f"Run:ai refused {request.describe()} with a conflict (409){where}: "
            f"{said or 'conflict'}. A workload of that name exists or is being changed: "
            "choose another name, or wait for the other change and retry",
            reason="Conflict",
            **common,
        )
    if status in (400, 422):
        return RunaiInvalidRequestError(
            f"Run:ai rejected the request {request.describe()} ({status}){where}: "
            f"{said or 'invalid request'}",
            reason="Invalid",
            **common,
        )
    if status == 0 or status in RETRYABLE_STATUSES:
        answer = f"HTTP {status}" if status else "no answer"
        return RunaiUnavailableError(
            f"the Run:ai control plane kept failing ({answer}) on {request.describe()}: "
            f"{said or 'no details'}; check its health and retry the task",
            reason="Unavailable",
            **common,
        )
    return RunaiAPIError(
        f"{request.describe()} failed with HTTP {status}{where}: {said or 'no details'}",
        reason="Failed",
        **common,
    )
