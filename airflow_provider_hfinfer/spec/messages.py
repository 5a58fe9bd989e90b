"""Turning pydantic validation errors into one readable line per problem.

This module owns how spec errors are shown to a person: in the CLI, in task
logs and in the exceptions the operators raise.
"""

from __future__ import annotations

from pydantic import ValidationError

_PREFIXES = ("Value error, ", "Assertion failed, ")


def describe_errors(error: ValidationError) -> list[str]:
    """Return one line per problem: ``<field path>: <message>``.

    Args:
        error: The error pydantic raised while validating a workload.

    Returns:
        Lines such as ``replicas: replicas.min (3) exceeds replicas.max (2): ...``.
    """
    lines: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in item["loc"]) or "workload"
        message = str(item["msg"])
        for prefix in _PREFIXES:
            if message.startswith(prefix):
                message = message[len(prefix) :]
        lines.append(f"{path}: {message}")
    return lines
