"""What to do when pre-flight checks fail, named by the kind of failure.

This module owns the grouping of finding codes (the Hub did not answer; the
model, revision or token; the compute settings) and the closing sentence of a
failed check, worded for the interface in use (operator argument or CLI flag).
Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hfinfer.checks.preflight.report import Finding

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
