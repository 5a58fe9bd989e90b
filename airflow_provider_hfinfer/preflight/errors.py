"""The exceptions raised by the pre-flight model checks.

This module owns :class:`PreflightError` (a failed check in strict mode, with
the whole report attached) and :class:`HubAccessError` (the Hub could not give
us the model's metadata, with a finding code and a message fit for a user).
Neither message ever contains the access token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hfinfer.preflight.check import PreflightReport


class PreflightError(ValueError):
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
        lines.append(
            "Fix the model or compute settings, or set preflight mode to 'warn' to deploy anyway."
        )
        return "\n".join(lines)


class HubAccessError(Exception):
    """The Hugging Face Hub did not give us the model's info or ``config.json``.

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
