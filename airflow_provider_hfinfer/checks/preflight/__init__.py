"""Pre-flight checks of a Hugging Face model before it is deployed on vLLM 0.6.4.

This package owns the "is this model servable here?" question: the model's
architecture must be in vLLM 0.6.4's registry, the access token must reach a
gated or private model, and the weights plus a full-context KV cache must fit
the chosen GPUs. It answers in seconds, from two Hub requests at most, before
anything is applied to a cluster.

Importing it is cheap: ``huggingface_hub`` and its HTTP client are imported
only when a check runs.
"""

from __future__ import annotations

from airflow_provider_hfinfer.checks.preflight.architectures import (
    VLLM_VERSION,
    ArchitectureInfo,
    load_architectures,
)
from airflow_provider_hfinfer.checks.preflight.check import (
    Finding,
    PreflightReport,
    PreflightRequest,
    evaluate,
    run_preflight,
)
from airflow_provider_hfinfer.checks.preflight.hub import HubModel, clear_cache
from airflow_provider_hfinfer.exceptions import HubAccessError, PreflightError

__all__ = [
    "VLLM_VERSION",
    "ArchitectureInfo",
    "Finding",
    "HubAccessError",
    "HubModel",
    "PreflightError",
    "PreflightReport",
    "PreflightRequest",
    "clear_cache",
    "evaluate",
    "load_architectures",
    "run_preflight",
]
