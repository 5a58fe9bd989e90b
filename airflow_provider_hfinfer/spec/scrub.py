"""Keeping inline secrets out of validation errors, with bounded work.

This module owns finding the inline token of raw spec data and rebuilding a
pydantic ``ValidationError`` with every copy of it masked, walking at most a
fixed number of values (an alias-expanded document cannot make it spin). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import (
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from airflow_provider_hfinfer.spec.loader import (
    MAX_DEPTH,
)
from airflow_provider_hfinfer.spec.redact import PREFIX_CHARS, secret_format

_SECRET_FIELDS = ("token", "value")
_MASK = "**********"


def inline_secrets(data: Any) -> tuple[str, ...]:
    """The inline token values in raw spec data (``hf_access.token`` or ``.value``)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("hf_access"), Mapping):
        return ()
    access = data["hf_access"]
    return tuple(
        item for key in _SECRET_FIELDS if isinstance(item := access.get(key), str) and item.strip()
    )


_SCRUB_BUDGET = 10_000
"""Most values one error's input is scrubbed through; the rest reads as ``'...'``."""


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """A copy of ``value`` with every string holding a secret masked, of bounded size.

    The copy holds at most ``_SCRUB_BUDGET`` values and the loader's depth; past
    that the rest reads as ``'...'``. So an alias-expanded or cyclic input costs a
    bounded amount of work here, and so does printing or serializing the error later
    (``errors()``, ``json()``), which would otherwise expand every shared reference.
    """
    budget = [_SCRUB_BUDGET]

    def walk(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            return "..."
        if isinstance(item, str):
            hidden = any(secret in item for secret in secrets) or secret_format(item)
            return _MASK if hidden else item
        if not isinstance(item, (Mapping, list, tuple)):
            return item
        if depth > MAX_DEPTH:
            return "..."
        if isinstance(item, Mapping):
            return {
                (walk(name, depth + 1) if isinstance(name, str) else name): walk(part, depth + 1)
                for name, part in _first(item.items())
            }
        return [walk(part, depth + 1) for part in _first(item)]

    def _first(items: Any) -> Any:
        # Stop iterating a huge container once the budget is spent.
        for part in items:
            if budget[0] < 0:
                break
            yield part

    return walk(value, 1)


def _hidden_key(part: int | str, secrets: tuple[str, ...]) -> int | str:
    """A path part (a mapping key the user typed) cut to a prefix when it is a credential."""
    if isinstance(part, str) and (secret_format(part) or any(x in part for x in secrets)):
        return part[:PREFIX_CHARS] + "…"
    return part


def without_secrets(error: ValidationError, secrets: tuple[str, ...]) -> ValidationError:
    """Rebuild ``error`` with every copy of an inline token, and any credential, masked.

    pydantic keeps each error's input (``errors()``, ``json()``); a rule failing on
    the whole workload, or on ``hf_access``, would otherwise carry the plain token.
    """
    details: list[InitErrorDetails] = [
        {
            # A custom error of the same type and message keeps describe_errors' output.
            "type": PydanticCustomError(item["type"], item["msg"]),
            "loc": tuple(_hidden_key(part, secrets) for part in item["loc"]),
            "input": _scrub(item["input"], secrets),
        }
        for item in error.errors(include_url=False)
    ]
    return ValidationError.from_exception_data(error.title, details, hide_input=True)
