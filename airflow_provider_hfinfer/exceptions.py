"""Every exception the provider raises.

Spec errors subclass :class:`ValueError` so that pydantic turns them into
``ValidationError`` entries; runtime errors carry structured fields (name,
namespace, reason) and a readable ``__str__``.
"""

from __future__ import annotations


class HFInferenceError(Exception):
    """Base class of every runtime error raised by this provider."""


class SpecError(ValueError):
    """A workload spec breaks a rule; the message names the field, rule and fix."""


class WorkloadError(HFInferenceError):
    """A runtime failure about one workload, with where and why it happened.

    Args:
        message: What went wrong and what to do about it.
        name: The workload name, when known.
        namespace: The namespace (project), when known.
        reason: A short machine-readable reason, e.g. ``Forbidden``.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        namespace: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.namespace = namespace
        self.reason = reason

    def __str__(self) -> str:
        where = "/".join(part for part in (self.namespace, self.name) if part)
        prefix = f"[{self.reason}] " if self.reason else ""
        suffix = f" (workload {where})" if where else ""
        return f"{prefix}{self.message}{suffix}"


class RenderError(SpecError):
    """A spec cannot be rendered with the cluster's settings (e.g. no JWT issuer)."""
