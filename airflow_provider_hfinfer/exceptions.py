"""Every exception the provider raises.

Spec errors subclass :class:`ValueError` so that pydantic turns them into
``ValidationError`` entries; runtime errors carry structured fields (name,
namespace, reason) and a readable ``__str__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hfinfer.checks.preflight.check import PreflightReport


class HFInferenceError(Exception):
    """Base class of every runtime error raised by this provider."""


class SpecError(ValueError):
    """A workload spec breaks a rule; the message names the field, rule and fix."""


class ArgumentTooLongError(ValueError):
    """A templated operator argument rendered to text too long to read back safely."""


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


class SpecLoadError(SpecError):
    """A spec could not be read as a mapping of fields; the message is one line.

    Args:
        problem: What is wrong and what to do about it.
        source: The file (or ``<stdin>``, ``workload``) the spec came from.
    """

    def __init__(self, problem: str, source: str | None = None) -> None:
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)


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


class WatchExpiredError(KubeAPIError):
    """410 Gone: a watch's resourceVersion is too old; list again and watch from there."""


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


class RunaiAPIError(WorkloadError):
    """The NVIDIA Run:ai control plane refused or failed a request.

    Args:
        message: What went wrong and what to do about it.
        status: The HTTP status (0 when no answer came).
        method: The HTTP method of the request.
        path: The API path of the request, e.g. ``/api/v1/workloads/inferences``.
        permission: What the application needs to be allowed, in Run:ai's words.
        namespace: The project, when the request was about one.
        name: The workload name, when the request was about one.
        reason: A short machine-readable reason, e.g. ``Forbidden``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        permission: str = "",
        namespace: str | None = None,
        name: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, name=name, namespace=namespace, reason=reason)
        self.status = status
        self.method = method
        self.path = path
        self.permission = permission


class RunaiAccessDeniedError(RunaiAPIError):
    """401/403: the application's credentials or roles do not allow the request."""


class RunaiNotFoundError(RunaiAPIError):
    """404, or a project or cluster name the control plane does not know."""


class RunaiConflictError(RunaiAPIError):
    """409: a workload of that name exists, or another change is in progress."""


class RunaiInvalidRequestError(RunaiAPIError):
    """400/422: the control plane rejected the request body; the message quotes its fields."""


class RunaiUnavailableError(RunaiAPIError):
    """The control plane kept failing (429, 5xx, dropped connections) after retries."""


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


class PreflightError(SpecError):
    """The model failed a pre-flight check in strict mode.

    Args:
        report: The full report; ``report.errors`` lists what failed.
    """

    def __init__(self, report: PreflightReport) -> None:
        # The report as the only argument keeps the exception picklable.
        super().__init__(report)
        self.report = report

    def __str__(self) -> str:
        report = self.report
        errors = report.errors
        where = report.model_id + (f"@{report.revision}" if report.revision else "")
        lines = [f"pre-flight check of {where} failed with {len(errors)} error(s):"]
        lines.extend(f"  - [{finding.code}] {finding.message}" for finding in errors)
        from airflow_provider_hfinfer.checks.preflight.advice import OPERATOR_WARN_HINT, advice

        lines.append(advice(errors, OPERATOR_WARN_HINT))
        return "\n".join(lines)


class HubAccessError(HFInferenceError):
    """The Hugging Face Hub did not give us the model's info or ``config.json``.

    Never carries the access token.

    Args:
        code: A short machine-readable finding code, e.g. ``model_not_found``.
        message: What happened and what to do about it (never the token).
        requests: HTTP requests sent before the failure.
    """

    def __init__(self, code: str, message: str, *, requests: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.requests = requests

    def __str__(self) -> str:
        return self.message
