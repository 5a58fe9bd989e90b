"""The model architectures vLLM 0.6.4 can serve, read from the packaged table.

This module owns the parsing of ``data/vllm_0_6_4_architectures.tsv`` (the
facts copied from vLLM 0.6.4's model registry) into typed
:class:`ArchitectureInfo` records, and the "did you mean" lookup used when a
model's architecture is not in the table. It does no network I/O.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

VLLM_VERSION = "0.6.4"
"""The vLLM release whose model registry the packaged table describes."""

_TABLE_PACKAGE = "airflow_provider_hfinfer"
_TABLE_PATH = ("data", "vllm_0_6_4_architectures.tsv")


@dataclass(frozen=True)
class ArchitectureInfo:
    """One ``architectures`` value of a Hugging Face ``config.json`` that vLLM knows.

    Attributes:
        name: The architecture name, e.g. ``LlamaForCausalLM``.
        tasks: The task column as written in the table, e.g.
            ``("text-generation", "embedding")`` or ``("embedding(reward)",)``.
        vllm_class: vLLM's implementation, ``module.Class``.
    """

    name: str
    tasks: tuple[str, ...]
    vllm_class: str

    @property
    def is_embedding(self) -> bool:
        """Whether vLLM can serve it in embedding (pooling) mode."""
        return any(task.startswith("embedding") for task in self.tasks)

    @property
    def is_generation(self) -> bool:
        """Whether vLLM can serve it for text generation (incl. multimodal input)."""
        return any(task in ("text-generation", "multimodal-generation") for task in self.tasks)

    @property
    def is_multimodal(self) -> bool:
        """Whether it sits in vLLM's multimodal table."""
        return "multimodal-generation" in self.tasks

    @property
    def is_speculative_draft(self) -> bool:
        """Whether it is only usable as a speculative-decoding draft, never on its own."""
        return "speculative-draft" in self.tasks

    @property
    def needs_task_flag(self) -> bool:
        """Whether embedding mode needs ``--task embedding``.

        vLLM 0.6.4 picks generation for an architecture that is in both its
        generation and embedding tables unless told otherwise.
        """
        return self.is_embedding and self.is_generation


def _parse_table(text: str) -> dict[str, ArchitectureInfo]:
    table: dict[str, ArchitectureInfo] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 3:
            raise ValueError(
                f"{'/'.join(_TABLE_PATH)} line {number}: expected 3 tab-separated columns "
                f"(architecture, tasks, vllm class), got {len(columns)}"
            )
        name, tasks, vllm_class = (column.strip() for column in columns)
        table[name] = ArchitectureInfo(
            name=name,
            tasks=tuple(task.strip() for task in tasks.split(",") if task.strip()),
            vllm_class=vllm_class,
        )
    return table


@functools.cache
def load_architectures() -> Mapping[str, ArchitectureInfo]:
    """Return the architectures vLLM 0.6.4 supports, keyed by name.

    The table is read once per process from the package data; the returned
    mapping is read-only.

    Returns:
        A mapping from architecture name (case-sensitive, as in ``config.json``)
        to its :class:`ArchitectureInfo`.
    """
    text = resources.files(_TABLE_PACKAGE).joinpath(*_TABLE_PATH).read_text(encoding="utf-8")
    return MappingProxyType(_parse_table(text))


def closest_architectures(name: str, *, limit: int = 3, embedding_only: bool = False) -> list[str]:
    """Return the supported names that look most like ``name``.

    Args:
        name: An architecture name that is not in the table (or not suitable).
        limit: How many names to return at most.
        embedding_only: Only consider embedding-capable architectures.

    Returns:
        Up to ``limit`` names, closest first; servable architectures only
        (speculative-draft ones are never suggested).
    """
    candidates = [
        info.name
        for info in load_architectures().values()
        if not info.is_speculative_draft and (info.is_embedding or not embedding_only)
    ]
    # A lower cutoff than difflib's default: architecture names share long
    # suffixes ("ForCausalLM"), so the prefix is what tells them apart.
    return difflib.get_close_matches(name, candidates, n=limit, cutoff=0.5)
