"""The exceptions raised by the pre-flight model checks.

This module owns :class:`PreflightError` (a failed check in strict mode, with
the whole report attached) and :class:`HubAccessError` (the Hub could not give
us the model's metadata, with a finding code and a message fit for a user).
Neither message ever contains the access token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hfinfer.preflight.check import Finding, PreflightReport

NETWORK_CODES = frozenset({"hub_unreachable", "hub_error"})
"""Findings that say the Hub did not answer: nothing about the model was checked."""

ACCESS_CODES = frozenset(
    {"token_required", "token_rejected", "access_denied", "model_not_found"}
    | {"revision_not_found", "config_not_found", "config_invalid"}
)
"""Findings about the model id, revision or token (the Hub answered)."""

COMPUTE_CODES = frozenset(
    {"insufficient_gpu_memory", "kv_cache_too_small", "max_model_len_too_long"}
)
"""Findings about GPUs, GPU memory or context length."""

OPERATOR_WARN_HINT = "pass preflight='warn' to deploy anyway"
"""How a DAG author turns pre-flight errors into warnings (the operator argument)."""


def advice(errors: list[Finding], warn_hint: str, endpoint_hint: str = "HF_ENDPOINT") -> str:
    """The closing line for failed checks: what to fix, named by the kind of failure (pure).

    Args:
        errors: The error findings of a report.
        warn_hint: How the interface in use turns errors into warnings, e.g.
            ``"pass preflight='warn' to deploy anyway"`` or ``"use --mode warn ..."``.
        endpoint_hint: Where the interface in use sets the Hub URL.

    Returns:
        One sentence naming the network, the model/token or the compute settings.
    """
    codes = {finding.code for finding in errors}
    parts = []
    if codes & NETWORK_CODES:
        parts.append(
            "the Hugging Face Hub did not answer, so the model was not checked: check the "
            f"network, a proxy or {endpoint_hint} and retry"
        )
    if codes & ACCESS_CODES:
        parts.append("fix the model id, revision or Hugging Face token")
    if codes & COMPUTE_CODES:
        parts.append("fix the compute settings (GPUs, GPU memory) or vllm.max_model_len")
    if codes - NETWORK_CODES - ACCESS_CODES - COMPUTE_CODES:
        parts.append("pick a model vLLM 0.6.4 serves or fix the vllm settings")
    text = "; ".join(parts) + f"; or {warn_hint}."
    return text[:1].upper() + text[1:]


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
        lines.append(advice(errors, OPERATOR_WARN_HINT))
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
