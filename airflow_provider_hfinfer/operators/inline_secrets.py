"""The secret policy for tokens written into a workload given to an operator.

This module owns two rules the create and update operators apply:

* **No literal token in DAG code.** Airflow stores a DAG's source and its
  serialized form (every template field, before rendering) in the metadata
  database, readable by anyone who may see DAG details. So an inline
  ``hf_access.token`` / ``hf_access.value`` is accepted at construction only as
  a template that is rendered at run time (``'{{ conn.hf.password }}'``,
  ``'{{ var.value.hf_token }}'``); a literal value is refused with the ways to
  pass it instead (:func:`refuse_literal_tokens`).
* **Every rendered token is masked.** After rendering, the token is registered
  with Airflow's secrets masker before the rendered fields are stored
  (:func:`spec_tokens` finds it, in bounded work, even in a spec that does not
  validate).

Pure: no Airflow import; the operators call these helpers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from airflow_provider_hfinfer.exceptions import SpecError

HF_TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{16,}\b")
"""What a Hugging Face access token looks like (``hf_`` and at least 16 letters or digits)."""

_SECRET_KEYS = ("token", "value")
_SCAN_LIMIT = 1024 * 1024
_WALK_BUDGET = 20_000


def _templated(value: object) -> bool:
    return isinstance(value, str) and "{{" in value and "}}" in value


def _inline_values(workload: Any) -> list[tuple[str, object]]:
    """``(field, value)`` of the inline secret fields of a workload in any accepted form."""
    from airflow_provider_hfinfer.spec import InferenceWorkload, NewSecretHFAccess, TokenHFAccess
    from airflow_provider_hfinfer.spec.loader import load_workload_mapping

    if isinstance(workload, InferenceWorkload):
        access = workload.hf_access
        if isinstance(access, TokenHFAccess):
            return [("hf_access.token", access.token)]
        if isinstance(access, NewSecretHFAccess):
            return [("hf_access.value", access.value)]
        return []
    if isinstance(workload, str):
        try:
            workload = load_workload_mapping(workload)
        except SpecError:
            # Not (yet) YAML, e.g. a template of the whole spec: look for a token in the text.
            found = HF_TOKEN_PATTERN.search(workload[:_SCAN_LIMIT])
            return [("hf_access.token", found.group())] if found else []
    if isinstance(workload, Mapping):
        raw = workload.get("hf_access")
        if isinstance(raw, Mapping):
            return [
                (f"hf_access.{key}", raw[key]) for key in _SECRET_KEYS if raw.get(key) is not None
            ]
    return []


def refuse_literal_tokens(workload: Any) -> None:
    """Refuse a token written into the workload a DAG passes to an operator.

    Args:
        workload: The operator's ``workload`` argument, before templating.

    Raises:
        SpecError: ``hf_access.token`` or ``hf_access.value`` is a literal value (not a
            Jinja template rendered at run time); the message says how to pass it.
    """
    for field, value in _inline_values(workload):
        if _templated(value):
            continue
        raise SpecError(
            f"{field} is written into the DAG, and Airflow stores DAG code and its "
            "serialized tasks in the metadata database, readable by anyone who may see DAG "
            "details: pass the token at run time instead, as hf_conn_id='huggingface' (an "
            f"Airflow connection whose password is the token), as {field.split('.')[1]}: "
            "'{{ conn.huggingface.password }}' (rendered when the task runs), or keep it in "
            "a Secret of the project with hf_access: {type: existing_secret, secret_name: "
            "hf-credentials}"
        )


def spec_tokens(workload: Any) -> tuple[str, ...]:
    """Every token in a rendered workload spec, to register with the secrets masker.

    Reads a parsed spec's secret fields; for a spec that does not validate (it fails
    later with the spec error) it takes the raw ``hf_access`` values and every
    ``hf_...`` token in the text, walking at most a bounded number of values.

    Args:
        workload: The operator's ``workload`` field after templating.

    Returns:
        The token values found (possibly none).
    """
    from airflow_provider_hfinfer.spec import InferenceWorkload

    try:
        return tuple(
            value.get_secret_value()
            for _, value in _inline_values(InferenceWorkload.parse(workload))
            if isinstance(value, SecretStr)
        )
    except (ValueError, TypeError):  # SpecError and ValidationError are ValueErrors
        pass
    found: list[str] = []
    for _, value in _inline_values(workload):
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.strip():
            found.append(raw)
    for text in _strings(workload):
        found.extend(HF_TOKEN_PATTERN.findall(text[:_SCAN_LIMIT]))
    return tuple(dict.fromkeys(found))


def _strings(value: Any) -> list[str]:
    """The strings in ``value`` (keys too), at most ``_WALK_BUDGET`` values, no recursion."""
    strings: list[str] = []
    stack = [value]
    seen: set[int] = set()
    budget = _WALK_BUDGET
    while stack and budget > 0:
        item = stack.pop()
        budget -= 1
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, SecretStr):
            strings.append(item.get_secret_value())
        elif isinstance(item, (Mapping, list, tuple)) and id(item) not in seen:
            seen.add(id(item))
            if isinstance(item, Mapping):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
    return strings
