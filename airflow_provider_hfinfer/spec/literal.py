"""Reading back a value that templating rendered as text (pure).

This module owns :func:`read_back`. Airflow renders a templated dict or list as
text: JSON when the value came through ``| tojson``, Python's ``repr`` when it
came straight from XCom. A task reads it back with :func:`json.loads`, then
:func:`ast.literal_eval`. Text is bounded before either parser sees it. Nesting
deeper than the parsers allow (which makes ``json.loads`` raise
:class:`RecursionError`) and text that is no value at all both read as "not a
value". Neither ends as a crash.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from airflow_provider_hfinfer.exceptions import ArgumentTooLongError

MAX_TEXT_CHARS = 4_000_000
"""The longest text read back (4 MB): a workload XCom is a few KB, thousands of
prompts a few MB; literal_eval's syntax tree takes about 20x the text in memory."""


def read_back(text: str, *, what: str, limit: int = MAX_TEXT_CHARS) -> Any | None:
    """The value ``text`` renders, or None when it is not a JSON or Python literal.

    Args:
        text: The rendered text.
        what: The operator argument it came from, for the error (e.g. ``workload_xcom``).
        limit: The longest text read.

    Raises:
        ArgumentTooLongError: ``text`` is longer than ``limit``, naming ``what``, the size and
            the fix.
    """
    if len(text) > limit:
        raise ArgumentTooLongError(
            f"{what} rendered to {len(text):,} characters, more than the {limit:,} a task "
            f"reads back: pass the value itself (e.g. a task's .output), not text this long"
        )
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            continue
    return None


__all__ = ["MAX_TEXT_CHARS", "read_back"]
