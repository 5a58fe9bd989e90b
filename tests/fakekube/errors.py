"""Kubernetes ``Status`` error bodies and the exception that carries them.

Every failure the fake API server returns is raised as :class:`ApiError` by the store or
router and rendered by the HTTP layer as a ``Status`` object shaped like the real
kube-apiserver's (``kind``, ``apiVersion``, ``metadata``, ``status``, ``message``,
``reason``, ``details``, ``code``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class FieldCause:
    """One field-level cause of an ``Invalid`` (422) error.

    Attributes:
        field: The field path, e.g. ``spec.template.spec.containers[0].image``.
        message: The error body, e.g. ``Required value``.
        reason: The machine-readable cause reason, e.g. ``FieldValueRequired``.
    """

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> JsonDict:
        """Render the cause as it appears in ``Status.details.causes``."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


def required(field: str, detail: str = "") -> FieldCause:
    """Build a ``FieldValueRequired`` cause with the real server's wording."""
    message = "Required value" + (f": {detail}" if detail else "")
    return FieldCause(field=field, message=message, reason="FieldValueRequired")


def invalid_value(field: str, value: Any, detail: str) -> FieldCause:
    """Build a ``FieldValueInvalid`` cause with the real server's wording."""
    message = f"Invalid value: {json.dumps(value)}: {detail}"
    return FieldCause(field=field, message=message, reason="FieldValueInvalid")


class ApiError(Exception):
    """An API failure that the HTTP layer renders as a ``Status`` body.

    Args:
        code: HTTP status code.
        reason: ``Status.reason`` (``NotFound``, ``Conflict``, ...).
        message: Human-readable ``Status.message``.
        details: Optional ``Status.details`` mapping.
        headers: Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: JsonDict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> JsonDict:
        """Return the ``Status`` object for this error."""
        body: JsonDict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(plural: str, group: str) -> str:
    """Return the group-qualified resource name used in messages (``deployments.apps``)."""
    return f"{plural}.{group}" if group else plural


def _details(name: str | None, group: str, kind: str) -> JsonDict:
    details: JsonDict = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 for a missing object: ``deployments.apps "x" not found``."""
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        _details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 for a create of an existing object."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    """409 ``Conflict``, e.g. for a stale resourceVersion on update."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, group, plural),
    )


def stale_resource_version(plural: str, group: str, name: str) -> ApiError:
    """409 for an update whose resourceVersion does not match the stored one."""
    return conflict(
        plural,
        group,
        name,
        "the object has been modified; please apply your changes to the latest version "
        "and try again",
    )


def apply_conflict(
    plural: str, group: str, name: str, conflicts: list[tuple[str, str, str]]
) -> ApiError:
    """409 for a server-side apply that collides with other field managers.

    Args:
        plural: Resource plural.
        group: API group.
        name: Object name.
        conflicts: ``(manager, apiVersion, field path)`` triples; field paths are
            ``.spec.replicas`` style.
    """
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{manager}" using {api_version}',
            "field": field,
        }
        for manager, api_version, field in conflicts
    ]
    count = len(conflicts)
    if count == 1:
        manager, api_version, field = conflicts[0]
        summary = f'1 conflict: conflict with "{manager}" using {api_version}: {field}'
    else:
        lines = [f'- conflict with "{m}" using {v}: {f}' for m, v, f in conflicts]
        summary = f"{count} conflicts: " + "\n".join(lines)
    details = _details(name, group, plural)
    details["causes"] = causes
    return ApiError(409, "Conflict", f"Apply failed with {summary}", details)


def invalid(kind: str, group: str, name: str, causes: list[FieldCause]) -> ApiError:
    """422 ``Invalid`` with field causes, worded like the real server.

    Args:
        kind: The object's Kind (the real server uses the Kind here, not the plural).
        group: API group.
        name: Object name.
        causes: Field causes; a single cause is inlined, several are bracketed.
    """
    parts = [f"{c.field}: {c.message}" for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(name, group, kind)
    details["causes"] = [c.to_dict() for c in causes]
    return ApiError(
        422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {summary}', details
    )


def forbidden(user: str, verb: str, plural: str, group: str, namespace: str | None) -> ApiError:
    """403 with the RBAC authorizer's message format."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{qualified(plural.split("/")[0], group)} is forbidden: User "{user}" cannot {verb} '
        f'resource "{plural}" in API group "{group}" {scope}'
    )
    details: JsonDict = {}
    if group:
        details["group"] = group
    details["kind"] = plural.split("/")[0]
    return ApiError(403, "Forbidden", message, details)


def bad_request(message: str) -> ApiError:
    """400 ``BadRequest``."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 ``MethodNotAllowed``."""
    return ApiError(405, "MethodNotAllowed", message, {})


def unsupported_media_type(content_type: str) -> ApiError:
    """415 for a PATCH with an unknown patch content type."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, "
        f'application/apply-patch+yaml (got "{content_type}")',
        {},
    )


def unauthorized() -> ApiError:
    """401 for a missing or wrong bearer token."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def expired(requested: int, oldest: int) -> ApiError:
    """410 ``Expired`` for a watch or list from a compacted resourceVersion."""
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def injected(code: int, retry_after: float | None = None) -> ApiError:
    """A server error produced by fault injection, shaped like the real server's."""
    headers: dict[str, str] = {}
    details: JsonDict | None = None
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
        details = {"retryAfterSeconds": int(retry_after)}
    if code == 429:
        return ApiError(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            details,
            headers,
        )
    if code == 503:
        return ApiError(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            details,
            headers,
        )
    if code == 504:
        return ApiError(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted",
            details,
            headers,
        )
    return ApiError(
        code, "InternalError", "Internal error occurred: injected fault", details, headers
    )
