"""Turning cluster prose and container logs into short, readable text.

This module owns the wording rules: how much of a scheduler message, a
termination message or a log tail ends up in a status message, and the few
vLLM failure signatures worth translating into a fix.
"""

from __future__ import annotations

import re

MAX_DETAIL_CHARS = 400
"""Longest piece of foreign text (scheduler, kubelet, log) quoted in a message."""

LOG_LINES_IN_MESSAGE = 3

# Each entry: a log signature of vLLM 0.6.4 (or its loaders) and the fix.
_LOG_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"CUDA out of memory|OutOfMemoryError", re.IGNORECASE),
        "GPU memory exhausted: lower --gpu-memory-utilization or --max-model-len, or add GPUs",
    ),
    (
        re.compile(r"larger than the maximum number of tokens that can be stored in KV cache"),
        "context too long for the KV cache: set a smaller --max-model-len",
    ),
    (
        re.compile(r"Model architectures? .* (are|is) not supported", re.IGNORECASE),
        "the model's architecture is not supported by vLLM 0.6.4",
    ),
    (
        re.compile(r"GatedRepoError|401 Client Error|Access to model .* is restricted"),
        "Hugging Face refused the download: check HF_TOKEN and the model's access terms",
    ),
    (
        re.compile(r"No space left on device", re.IGNORECASE),
        "disk full while downloading weights: enlarge the HF_HOME volume",
    ),
)

_WHITESPACE = re.compile(r"\s+")


def squash(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[: limit - 3].rstrip() + "..."


def scheduler_message(message: str) -> str:
    """Keep the scheduler's verdict and drop its preemption post-mortem.

    ``0/6 nodes are available: 4 Insufficient nvidia.com/gpu. preemption:
    0/6 nodes are available: ...`` reads as its first sentence; the
    preemption part repeats the counts and tells a user nothing to act on.
    """
    head = message.split(" preemption:", 1)[0]
    return squash(head.rstrip(". "))


def log_excerpt(log_tail: str, lines: int = LOG_LINES_IN_MESSAGE) -> str:
    """Return the last non-blank lines of a log tail, joined on one line."""
    kept = [line.strip() for line in log_tail.splitlines() if line.strip()]
    return squash(" | ".join(kept[-lines:]))


def log_hint(*texts: str) -> str:
    """Return the fix for the first known vLLM failure signature in ``texts``."""
    for pattern, hint in _LOG_HINTS:
        if any(pattern.search(text) for text in texts if text):
            return hint
    return ""


def plural(count: int, noun: str) -> str:
    """Return ``"1 time"`` / ``"3 times"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
