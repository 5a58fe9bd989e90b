"""Building a pre-flight request from a workload spec.

This module owns which spec fields the pre-flight check reads (model, revision,
GPUs, GPU memory, vLLM options) and where the token comes from.
"""

from __future__ import annotations

from pydantic import SecretStr

from airflow_provider_hfinfer.checks.preflight.check import PreflightRequest
from airflow_provider_hfinfer.spec import InferenceWorkload


def request_for(workload: InferenceWorkload, token: str | None = None) -> PreflightRequest:
    """Return the pre-flight request for a workload.

    Args:
        workload: The validated workload.
        token: A token from elsewhere (an existing Secret, an Airflow connection,
            ``HF_TOKEN``); the spec's own token wins.
    """
    secret = workload.inline_token() or token
    return PreflightRequest(
        model_id=workload.model.id,
        revision=workload.model.revision,
        token=SecretStr(secret) if secret else None,
        gpus=workload.compute.gpus,
        gpu_memory_bytes=workload.compute.gpu_memory_bytes,
        gpu_memory_utilization=workload.vllm.gpu_memory_utilization,
        max_model_len=workload.vllm.max_model_len,
        task=workload.vllm.task,
    )
