"""The pre-flight rules: is this model servable by vLLM 0.6.4 on these GPUs?

This module owns the request and report models, the rules, and the
strict/warn/off modes. :func:`run_preflight` fetches the model's metadata
(:mod:`~airflow_provider_hfinfer.checks.preflight.hub`, at most two HTTP requests,
cached) and hands it to :func:`evaluate`, which is pure: architecture in
vLLM 0.6.4's table, task, context length and GPU memory fit
(:mod:`~airflow_provider_hfinfer.checks.preflight.memory`).
"""

from __future__ import annotations

import logging

from airflow_provider_hfinfer.checks.preflight import memory
from airflow_provider_hfinfer.checks.preflight.architectures import (
    VLLM_VERSION,
    ArchitectureInfo,
    closest_architectures,
    load_architectures,
)
from airflow_provider_hfinfer.checks.preflight.fit import check_fit
from airflow_provider_hfinfer.checks.preflight.hub import DEFAULT_TIMEOUT, HubModel, fetch_model
from airflow_provider_hfinfer.checks.preflight.report import (
    MODES,
    Draft,
    Finding,
    Level,
    Mode,
    PreflightReport,
    PreflightRequest,
    ResolvedTask,
    Task,
)
from airflow_provider_hfinfer.exceptions import HubAccessError, PreflightError

__all__ = ["Finding", "PreflightReport", "PreflightRequest", "evaluate", "run_preflight"]

logger = logging.getLogger(__name__)


def run_preflight(
    request: PreflightRequest,
    *,
    mode: Mode = "strict",
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> PreflightReport:
    """Check a model against vLLM 0.6.4 and the chosen GPUs before deploying it.

    Args:
        request: The model, revision, token and GPUs to check.
        mode: ``strict`` raises on errors, ``warn`` reports them as warnings,
            ``off`` makes no request and reports the check as skipped.
        endpoint: Hub base URL; defaults to ``$HF_ENDPOINT`` or huggingface.co.
        timeout: Seconds for each of connect/read per HTTP request.

    Returns:
        The report (in ``warn`` mode errors appear as warnings).

    Raises:
        PreflightError: In ``strict`` mode, when any rule found an error.
        ValueError: ``mode`` is not one of strict, warn, off.
    """
    if mode not in MODES:
        raise ValueError(f"preflight mode ({mode!r}) must be one of strict, warn, off")
    if mode == "off":
        return PreflightReport(
            model_id=request.model_id,
            revision=request.revision,
            mode=mode,
            skipped=True,
            findings=(
                Finding(
                    level="warning",
                    code="preflight_skipped",
                    message=f"pre-flight checks are off: {request.model_id} was not checked "
                    f"against vLLM {VLLM_VERSION} or the GPUs",
                ),
            ),
        )
    token = request.token.get_secret_value() if request.token is not None else None
    try:
        fetched = fetch_model(
            request.model_id,
            revision=request.revision,
            token=token,
            endpoint=endpoint,
            timeout=timeout,
        )
    except HubAccessError as error:
        draft = Draft()
        draft.add("error", error.code, error.message)
        report = _report(request, mode, draft, sha=None, requests=error.requests, token=token)
    else:
        report = _report(
            request,
            mode,
            _evaluate(request, fetched.model),
            sha=fetched.model.sha,
            requests=fetched.requests,
            token=token,
        )
    _log(report)
    if mode == "strict" and report.errors:
        raise PreflightError(report)
    return report


def evaluate(request: PreflightRequest, model: HubModel) -> PreflightReport:
    """Apply the rules to metadata already fetched; pure, no I/O, errors kept as errors.

    Args:
        request: What was asked for.
        model: What the Hub said about the model.

    Returns:
        A report in ``strict`` mode's terms (nothing downgraded, nothing raised).
    """
    return _report(request, "strict", _evaluate(request, model), model.sha, 0, None)


def _evaluate(request: PreflightRequest, model: HubModel) -> Draft:
    draft = Draft()
    _check_architecture(request, model, draft)
    _check_context(request, model, draft)
    check_fit(request, model, draft)
    return draft


def _report(
    request: PreflightRequest,
    mode: Mode,
    draft: Draft,
    sha: str | None,
    requests: int,
    token: str | None,
) -> PreflightReport:
    findings = [_finalize(finding, mode, token) for finding in draft.findings]
    fit = draft.fit
    info = draft.architecture
    return PreflightReport(
        model_id=request.model_id,
        revision=request.revision,
        mode=mode,
        findings=tuple(findings),
        sha=sha,
        architecture=info.name if info else None,
        task=draft.task,
        task_flag_required=bool(info and draft.task == "embedding" and info.needs_task_flag),
        weight_bytes=draft.weight_bytes,
        kv_cache_bytes_per_token=draft.kv_bytes_per_token,
        max_model_len=draft.context_len,
        available_bytes=fit.available_bytes if fit else None,
        required_bytes=fit.required_bytes if fit else None,
        fits=fit.fits if fit else None,
        hub_requests=requests,
    )


def _finalize(finding: Finding, mode: Mode, token: str | None) -> Finding:
    message = finding.message
    if token and token in message:
        # Messages are built without the token; this keeps it so if one ever slips in.
        message = message.replace(token, "***")
    level: Level = "warning" if mode == "warn" and finding.level == "error" else finding.level
    if level == finding.level and message == finding.message:
        return finding
    return Finding(level=level, code=finding.code, message=message)


def _log(report: PreflightReport) -> None:
    for finding in report.findings:
        if finding.level != "ok":
            logger.warning("pre-flight %s [%s]: %s", finding.level, finding.code, finding.message)
    logger.info(
        "pre-flight check of %s: %d error(s), %d warning(s), %d Hub request(s)",
        report.model_id,
        len(report.errors),
        len(report.warnings),
        report.hub_requests,
    )


def _check_architecture(request: PreflightRequest, model: HubModel, draft: Draft) -> None:
    names = model.config.get("architectures")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        draft.add(
            "error",
            "architecture_missing",
            f"config.json of {model.model_id} has no 'architectures' list: vLLM {VLLM_VERSION} "
            "picks the model implementation from it; use a transformers checkpoint whose "
            "config.json names its architecture",
        )
        return
    table = load_architectures()
    # vLLM loads the first listed architecture it knows.
    info = next((table[name] for name in names if name in table), None)
    if info is None:
        draft.add("error", "architecture_unsupported", _unsupported_message(model, names))
        return
    if info.is_speculative_draft:
        draft.add(
            "error",
            "speculative_draft_only",
            f"{info.name} is a speculative-decoding draft architecture: vLLM {VLLM_VERSION} "
            "runs it only beside a target model (--speculative-model) and cannot serve it on "
            "its own; deploy the target model it was trained for instead",
        )
        return
    draft.architecture = info
    task = _resolve_task(request.task, info, draft)
    if task is None:
        return
    draft.task = task
    flag = (
        " (vLLM needs --task embedding for it)"
        if task == "embedding" and info.needs_task_flag
        else ""
    )
    draft.add(
        "ok",
        "architecture_supported",
        f"{info.name} is supported by vLLM {VLLM_VERSION} ({', '.join(info.tasks)}; "
        f"{info.vllm_class}); it will serve task '{task}'{flag}",
    )


def _unsupported_message(model: HubModel, names: list[str]) -> str:
    listed = ", ".join(names)
    # Closest first, each name once.
    close = list(dict.fromkeys(match for name in names for match in closest_architectures(name)))
    message = f"architecture {listed} of {model.model_id} is not supported by vLLM {VLLM_VERSION}"
    if close:
        message += f"; closest supported: {', '.join(close)}"
    return message + "; choose a model whose config.json names a supported architecture"


def _resolve_task(task: Task, info: ArchitectureInfo, draft: Draft) -> ResolvedTask | None:
    tasks = ", ".join(info.tasks)
    if task == "embedding" and not info.is_embedding:
        close = closest_architectures(info.name, embedding_only=True)
        hint = f" (embedding architectures like it: {', '.join(close)})" if close else ""
        draft.add(
            "error",
            "task_unsupported",
            f"{info.name} cannot serve embeddings in vLLM {VLLM_VERSION} (it serves {tasks}): "
            f"set task to 'generate', or choose an embedding model{hint}",
        )
        return None
    if task == "generate" and not info.is_generation:
        draft.add(
            "error",
            "task_unsupported",
            f"{info.name} is embedding-only in vLLM {VLLM_VERSION} ({tasks}): "
            "set task to 'embedding' or 'auto'",
        )
        return None
    if task == "embedding" or (task == "auto" and not info.is_generation):
        return "embedding"
    return "generate"


def _check_context(request: PreflightRequest, model: HubModel, draft: Draft) -> None:
    derived = memory.derived_max_model_len(model.config)
    wanted = request.max_model_len
    if wanted is not None and derived is not None and wanted > derived:
        draft.add(
            "error",
            "max_model_len_too_long",
            f"max_model_len ({wanted}) exceeds the {derived} tokens {model.model_id} supports: "
            f"vLLM {VLLM_VERSION} refuses to start; set max_model_len to {derived} or less",
        )
    draft.context_len = wanted or derived
    if draft.context_len is None:
        draft.add(
            "warning",
            "context_unknown",
            f"config.json of {model.model_id} names no context length: set max_model_len "
            "explicitly so the KV cache can be sized",
        )
