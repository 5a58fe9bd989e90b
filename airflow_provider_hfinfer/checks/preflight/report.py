"""What a pre-flight check takes and gives: the request, its findings and the report.

This module owns the typed models of the pre-flight check (:class:`PreflightRequest`,
:class:`Finding`, :class:`PreflightReport`) and the draft the rules fill in. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from airflow_provider_hfinfer.checks.preflight import memory
from airflow_provider_hfinfer.checks.preflight.architectures import (
    ArchitectureInfo,
)

Level = Literal["ok", "warning", "error"]
Mode = Literal["strict", "warn", "off"]
Task = Literal["auto", "generate", "embedding"]
ResolvedTask = Literal["generate", "embedding"]

MODES = ("strict", "warn", "off")
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
class Draft:
    """Findings and facts collected while the rules run."""

    findings: list[Finding] = field(default_factory=list)
    architecture: ArchitectureInfo | None = None
    task: ResolvedTask | None = None
    context_len: int | None = None
    weight_bytes: int | None = None
    kv_bytes_per_token: int | None = None
    fit: memory.FitAssessment | None = None

    def add(self, level: Level, code: str, message: str) -> None:
        """Record one finding."""
        self.findings.append(Finding(level=level, code=code, message=message))
