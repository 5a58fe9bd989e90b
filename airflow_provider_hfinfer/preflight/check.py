"""The pre-flight rules: is this model servable by vLLM 0.6.4 on these GPUs?

This module owns the request and report models, the rules, and the
strict/warn/off modes. :func:`run_preflight` fetches the model's metadata
(:mod:`~airflow_provider_hfinfer.preflight.hub`, at most two HTTP requests,
cached) and hands it to :func:`evaluate`, which is pure: architecture in
vLLM 0.6.4's table, task, context length and GPU memory fit
(:mod:`~airflow_provider_hfinfer.preflight.memory`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from airflow_provider_hfinfer.preflight import memory
from airflow_provider_hfinfer.preflight.architectures import (
    VLLM_VERSION,
    ArchitectureInfo,
    closest_architectures,
    load_architectures,
)
from airflow_provider_hfinfer.preflight.errors import HubAccessError, PreflightError
from airflow_provider_hfinfer.preflight.hub import DEFAULT_TIMEOUT, HubModel, fetch_model
from airflow_provider_hfinfer.preflight.memory import gib

logger = logging.getLogger(__name__)

Level = Literal["ok", "warning", "error"]
Mode = Literal["strict", "warn", "off"]
Task = Literal["auto", "generate", "embedding"]
ResolvedTask = Literal["generate", "embedding"]

_MODES = ("strict", "warn", "off")
# A Hub repository id: "name" or "owner/name", letters, digits, "-", "_", ".".
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class PreflightRequest(BaseModel):
    """What to check: a model at a revision, the access token and the GPUs.

    Attributes:
        model_id: Hub repository id, e.g. ``meta-llama/Llama-3.1-8B``.
        revision: Branch, tag or commit; ``None`` for the default branch.
        token: Hugging Face access token for gated or private models.
        gpus: GPUs per replica (vLLM's tensor parallel size).
        gpu_memory_bytes: Memory of one GPU; ``None`` skips the fit check.
        gpu_memory_utilization: Share of each GPU vLLM may use.
        max_model_len: Context length to serve; ``None`` for the model's own.
        task: ``auto``, ``generate`` or ``embedding``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_id: str
    revision: str | None = Field(default=None, min_length=1)
    token: SecretStr | None = None
    gpus: int = Field(default=1, ge=1)
    gpu_memory_bytes: int | None = Field(default=None, gt=0)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_model_len: int | None = Field(default=None, ge=1)
    task: Task = "auto"

    @field_validator("model_id")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        if not _REPO_ID.match(value) or ".." in value or len(value) > 96:
            raise ValueError(
                f"model_id ({value!r}) is not a Hugging Face repository id: "
                "use 'owner/name', e.g. 'meta-llama/Llama-3.1-8B'"
            )
        return value


class Finding(BaseModel):
    """One result of one rule.

    Attributes:
        level: ``ok``, ``warning`` or ``error``.
        code: Short machine-readable name of the rule outcome.
        message: What was found and, for problems, what to do.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level
    code: str
    message: str


class PreflightReport(BaseModel):
    """The findings of a pre-flight check and the facts derived on the way.

    Attributes:
        model_id: The model checked.
        revision: The revision asked for.
        mode: The mode the check ran in.
        skipped: ``True`` when mode was ``off`` (nothing was checked).
        findings: Every rule outcome, in the order the rules ran.
        sha: The commit the Hub's answers describe.
        architecture: The ``config.json`` architecture vLLM would load.
        task: The vLLM task the model would serve (``--task embedding`` is
            needed when ``task_flag_required``).
        task_flag_required: The architecture serves both tasks, so embedding
            mode must be asked for explicitly.
        weight_bytes: Estimated weight bytes across all GPUs.
        kv_cache_bytes_per_token: KV cache bytes per token (all layers).
        max_model_len: The context length the fit was checked for.
        available_bytes: GPUs x memory per GPU x utilization.
        required_bytes: Weights + overhead + one full-context KV cache.
        fits: Whether it fits; ``None`` when not checked.
        hub_requests: HTTP requests this check made (0 when cached or skipped).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model_id: str
    revision: str | None = None
    mode: Mode
    skipped: bool = False
    findings: tuple[Finding, ...] = ()
    sha: str | None = None
    architecture: str | None = None
    task: ResolvedTask | None = None
    task_flag_required: bool = False
    weight_bytes: int | None = None
    kv_cache_bytes_per_token: int | None = None
    max_model_len: int | None = None
    available_bytes: int | None = None
    required_bytes: int | None = None
    fits: bool | None = None
    hub_requests: int = 0

    @property
    def errors(self) -> list[Finding]:
        """The findings at level ``error``."""
        return [finding for finding in self.findings if finding.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The findings at level ``warning``."""
        return [finding for finding in self.findings if finding.level == "warning"]

    @property
    def passed(self) -> bool:
        """No error was found (a skipped check passes)."""
        return not self.errors

    def summary(self) -> str:
        """Return a multi-line, human-readable account of the check."""
        where = self.model_id + (f"@{self.revision}" if self.revision else "")
        head = f"pre-flight check of {where} (mode {self.mode}): "
        head += f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        lines = [head]
        lines.extend(f"  [{f.level}] {f.code}: {f.message}" for f in self.findings)
        return "\n".join(lines)


@dataclass
class _Draft:
    """Findings and facts collected while the rules run."""

    findings: list[Finding] = field(default_factory=list)
    architecture: ArchitectureInfo | None = None
    task: ResolvedTask | None = None
    context_len: int | None = None
    weight_bytes: int | None = None
    kv_bytes_per_token: int | None = None
    fit: memory.FitAssessment | None = None

    def add(self, level: Level, code: str, message: str) -> None:
        self.findings.append(Finding(level=level, code=code, message=message))


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
    if mode not in _MODES:
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
        draft = _Draft()
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


def _evaluate(request: PreflightRequest, model: HubModel) -> _Draft:
    draft = _Draft()
    _check_architecture(request, model, draft)
    _check_context(request, model, draft)
    _check_fit(request, model, draft)
    return draft


def _report(
    request: PreflightRequest,
    mode: Mode,
    draft: _Draft,
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


def _check_architecture(request: PreflightRequest, model: HubModel, draft: _Draft) -> None:
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


def _resolve_task(task: Task, info: ArchitectureInfo, draft: _Draft) -> ResolvedTask | None:
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


def _check_context(request: PreflightRequest, model: HubModel, draft: _Draft) -> None:
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


def _check_fit(request: PreflightRequest, model: HubModel, draft: _Draft) -> None:
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
    _report_fit(request, model, estimate, fit, draft)


def _report_fit(
    request: PreflightRequest,
    model: HubModel,
    estimate: memory.WeightEstimate,
    fit: memory.FitAssessment,
    draft: _Draft,
) -> None:
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
        suggestions = _weight_suggestions(request, model, estimate, fit)
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


def _weight_suggestions(
    request: PreflightRequest,
    model: HubModel,
    estimate: memory.WeightEstimate,
    fit: memory.FitAssessment,
) -> list[str]:
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
    fewer = _fewest_gpus_for_weights(request, model, estimate, fit)
    if fewer is not None:
        suggestions.append(f"{fewer[0]} GPUs with max_model_len set to {fewer[1]} or less")
    if estimate.parameters and estimate.bytes / estimate.parameters >= 1.5:
        quantized = estimate.parameters // 2
        suggestions.append(
            f"use a quantized variant (4-bit AWQ/GPTQ weights take about {gib(quantized)})"
        )
    return suggestions


def _fewest_gpus_for_weights(
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
