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
    """A spec cannot be rendered with the cluster's settings (e.g. no JWT issuer).

    Args:
        message: The problem and the fix in a DAG author's words (connection extras,
            ``render_options``).
        problem: The problem alone, for interfaces that phrase the fix their own way.
        options: The render options that would fix it, required one first.
    """

    def __init__(self, message: str, *, problem: str = "", options: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problem = problem or message
        self.options = options


class KubeAPIError(WorkloadError):
    """The Kubernetes API server refused or failed a request.

    Args:
        message: What went wrong and what to do about it.
        status: The HTTP status (0 when no answer came).
        verb: The RBAC verb of the request (get, list, patch, delete...).
        resource: The resource as RBAC names it, e.g. ``deployments.apps``.
        namespace: The namespace of the request.
        name: The object name, when the request was about one object.
        reason: The API server's ``Status.reason``.
        causes: ``field: message`` lines from a 422 answer.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        reason: str | None = None,
        causes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, name=name, namespace=namespace, reason=reason)
        self.status = status
        self.verb = verb
        self.resource = resource
        self.causes = causes


class AccessDeniedError(KubeAPIError):
    """401/403: the connection's identity may not do what the provider needs."""


class NamespaceNotFoundError(KubeAPIError):
    """The project's namespace does not exist."""


class InvalidObjectError(KubeAPIError):
    """422: the API server rejected an object; ``causes`` lists the fields."""


class ConflictError(KubeAPIError):
    """409: someone else changed or owns the object; never retried blindly."""


class ClusterUnavailableError(KubeAPIError):
    """The API server kept failing (5xx, 429, dropped connections) after retries."""


class NameTakenError(WorkloadError):
    """A workload name is already used in the project by something else."""


class QuotaExceededError(WorkloadError):
    """The request would exceed the project's ResourceQuota."""


class PartialApplyError(WorkloadError):
    """Some objects were applied before one failed.

    Its ``reason`` is always ``PartialApply``.

    Args:
        message: What failed and what happened to the applied objects.
        applied: ``Kind/name`` of the objects this attempt applied.
        failed: ``Kind/name`` of the object that failed.
        cause: The error of the failed object.
        name: The workload name, when known.
        namespace: The namespace (project), when known.
    """

    def __init__(
        self,
        message: str,
        *,
        applied: tuple[str, ...],
        failed: str,
        cause: Exception,
        name: str | None = None,
        namespace: str | None = None,
    ) -> None:
        super().__init__(message, name=name, namespace=namespace, reason="PartialApply")
        self.applied = applied
        self.failed = failed
        self.cause = cause


class InferenceRequestError(WorkloadError):
    """A request to a served model failed for good; the message says why and what to do.

    Args:
        message: The cause (HTTP status, the server's own message) and the fix.
        name: The workload name, when known.
        namespace: The namespace (project), when known.
        reason: A short machine-readable reason, e.g. ``ModelNotFound``.
    """
