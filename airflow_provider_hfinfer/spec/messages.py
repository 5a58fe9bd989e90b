"""Turning pydantic validation errors into one readable line per problem.

This module owns how spec errors are shown to a person: in the CLI, in task
logs and in the exceptions the operators raise.
"""

from __future__ import annotations

from pydantic import ValidationError

from airflow_provider_hfinfer.spec.models import HF_ACCESS_TYPES

_PREFIXES = ("Value error, ", "Assertion failed, ")

# pydantic's own messages state the rule; these add the fix.
_HINTS = {
    "extra_forbidden": "is not a field here: remove it or correct its spelling",
    "missing": "is required: add it",
    "string_type": "must be a string: quote the value in YAML (e.g. '4711')",
}


def _path(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # The hf_access union puts the chosen type into the path (hf_access.token.token);
    # a person thinks of the field as hf_access.token.
    if len(parts) > 1 and parts[0] == "hf_access" and parts[1] in HF_ACCESS_TYPES:
        del parts[1]
    return ".".join(str(part) for part in parts) or "workload"


def describe_errors(error: ValidationError) -> list[str]:
    """Return one line per problem: ``<field path>: <message>``.

    Args:
        error: The error pydantic raised while validating a workload.

    Returns:
        Lines such as ``replicas: replicas.min (3) exceeds replicas.max (2): ...``.
    """
    lines: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        message = _HINTS.get(item["type"]) or str(item["msg"])
        for prefix in _PREFIXES:
            if message.startswith(prefix):
                message = message[len(prefix) :]
        lines.append(f"{_path(item['loc'])}: {message}")
    return lines
