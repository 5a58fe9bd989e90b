"""The GPU memory rule of the pre-flight check: do the weights and KV cache fit?

This module owns :func:`check_fit` (estimate from the model's config, compare with
the GPUs the spec asks for) and the suggestions when they do not fit (more GPUs,
larger GPUs, a shorter context). The arithmetic lives in :mod:`.memory`. Pure.
"""

from __future__ import annotations

from airflow_provider_hfinfer.checks.preflight import memory
from airflow_provider_hfinfer.checks.preflight.hub import HubModel
from airflow_provider_hfinfer.checks.preflight.memory import gib
from airflow_provider_hfinfer.checks.preflight.report import Draft, PreflightRequest


def check_fit(request: PreflightRequest, model: HubModel, draft: Draft) -> None:
    """Estimate weights and KV cache per GPU and record whether they fit."""
    estimate = memory.estimate_weight_bytes(model.parameters, model.total_parameters, model.config)
    draft.kv_bytes_per_token = memory.kv_cache_bytes_per_token(model.config)
    if estimate is not None:
        draft.weight_bytes = estimate.bytes
        if estimate.unknown_dtypes:
            draft.add(
                "warning",
                "dtype_unknown",
                f"safetensors dtype(s) {', '.join(estimate.unknown_dtypes)} of {model.model_id} "
                "are not known here and were counted at 2 bytes per parameter",
            )
    if request.gpu_memory_bytes is None:
        draft.add(
            "warning",
            "fit_skipped",
            "gpu_memory_bytes (memory per GPU) was not given: the GPU memory fit check was "
            "skipped; give it to check that the model fits before deploying",
        )
        return
    if estimate is None:
        draft.add(
            "warning",
            "fit_skipped",
            f"the Hub has no parameter counts for {model.model_id} and its config.json does not "
            "give the layer sizes: the GPU memory fit check was skipped",
        )
        return
    if draft.kv_bytes_per_token is None:
        draft.add(
            "warning",
            "kv_cache_unknown",
            f"config.json of {model.model_id} does not give layers/heads/hidden size: the KV "
            "cache was not sized, only the weights were checked",
        )
    fit = memory.assess_fit(
        weight_bytes=estimate.bytes,
        kv_bytes_per_token=draft.kv_bytes_per_token,
        context_len=draft.context_len,
        gpus=request.gpus,
        gpu_memory_bytes=request.gpu_memory_bytes,
        utilization=request.gpu_memory_utilization,
        heads=memory.attention_heads(model.config),
    )
    draft.fit = fit
    report_fit(request, model, estimate, fit, draft)


def report_fit(
    request: PreflightRequest,
    model: HubModel,
    estimate: memory.WeightEstimate,
    fit: memory.FitAssessment,
    draft: Draft,
) -> None:
    """Record the fit verdict, with suggestions when it does not fit."""
    gpus_text = f"{request.gpus} x {gib(request.gpu_memory_bytes or 0)} GPU"
    gpus_text += "s" if request.gpus > 1 else ""
    budget = (
        f"{gpus_text} at gpu_memory_utilization {request.gpu_memory_utilization:g} "
        f"give {gib(fit.available_bytes)}"
    )
    context = f"{fit.context_len} tokens" if fit.context_len else "the context"
    if fit.fits:
        draft.add(
            "ok",
            "fits",
            f"{model.model_id} fits: about {gib(fit.required_bytes)} needed "
            f"({gib(fit.weight_bytes)} weights, {gib(fit.kv_bytes)} KV cache for {context}, "
            f"{gib(fit.overhead_bytes)} overhead) and {budget}",
        )
        return
    if not fit.weights_fit:
        suggestions = weight_suggestions(request, model, estimate, fit)
        draft.add(
            "error",
            "insufficient_gpu_memory",
            f"{model.model_id} does not fit: its weights need about {gib(fit.weight_bytes)} "
            f"plus {gib(fit.overhead_bytes)} overhead, but {budget}; " + "; or ".join(suggestions),
        )
        return
    room = fit.available_bytes - fit.weight_bytes - fit.overhead_bytes
    per_token = fit.kv_bytes_per_token or 0
    fixes = [f"set max_model_len to {fit.max_fitting_len} or less"]
    if fit.gpus_needed:
        fixes.append(f"use {fit.gpus_needed} GPUs")
    if request.gpu_memory_utilization < 0.95:
        fixes.append("raise gpu_memory_utilization")
    draft.add(
        "error",
        "kv_cache_too_small",
        f"the weights of {model.model_id} fit ({gib(fit.weight_bytes)} + "
        f"{gib(fit.overhead_bytes)} overhead; {budget}), but the KV cache for {context} needs "
        f"{gib(fit.kv_bytes)} ({per_token // 1024} KiB per token) and only {gib(room)} is left: "
        + ", or ".join(fixes),
    )


def weight_suggestions(
    request: PreflightRequest,
    model: HubModel,
    estimate: memory.WeightEstimate,
    fit: memory.FitAssessment,
) -> list[str]:
    """Ways to make the weights fit: more GPUs or larger ones."""
    suggestions: list[str] = []
    if fit.gpus_needed:
        suggestions.append(
            f"use {fit.gpus_needed} GPUs of this size (they fit the weights and the KV cache "
            f"for {fit.context_len or 'the'} tokens)"
        )
    else:
        suggestions.append(
            f"no GPU count up to {memory.MAX_TENSOR_PARALLEL} of this size fits the full context"
        )
    fewer = fewest_gpus_for_weights(request, model, estimate, fit)
    if fewer is not None:
        suggestions.append(f"{fewer[0]} GPUs with max_model_len set to {fewer[1]} or less")
    if estimate.parameters and estimate.bytes / estimate.parameters >= 1.5:
        quantized = estimate.parameters // 2
        suggestions.append(
            f"use a quantized variant (4-bit AWQ/GPTQ weights take about {gib(quantized)})"
        )
    return suggestions


def fewest_gpus_for_weights(
    request: PreflightRequest,
    model: HubModel,
    estimate: memory.WeightEstimate,
    fit: memory.FitAssessment,
) -> tuple[int, int] | None:
    """The smallest larger GPU count that fits the weights with a shorter context."""
    if fit.kv_bytes_per_token is None or request.gpu_memory_bytes is None:
        return None
    limit = fit.gpus_needed or memory.MAX_TENSOR_PARALLEL + 1
    heads = memory.attention_heads(model.config)
    for gpus in range(request.gpus + 1, limit):
        if heads is not None and heads % gpus:
            continue
        candidate = memory.assess_fit(
            weight_bytes=estimate.bytes,
            kv_bytes_per_token=fit.kv_bytes_per_token,
            context_len=fit.context_len,
            gpus=gpus,
            gpu_memory_bytes=request.gpu_memory_bytes,
            utilization=request.gpu_memory_utilization,
            heads=heads,
        )
        if candidate.weights_fit and candidate.max_fitting_len:
            return gpus, candidate.max_fitting_len
    return None
