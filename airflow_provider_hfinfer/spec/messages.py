"""Turning pydantic validation errors into one readable line per problem.

This module owns how spec errors are shown to a person: in the CLI, in task
logs and in the exceptions the operators raise. pydantic's own wording
("Input should be a valid tuple", "instance of ModelRef") is replaced by what
the field expects, in the spec's terms, with an example; field paths are cut
and redacted like values (a mapping key may be a pasted token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from airflow_provider_hfinfer.spec.models import HF_ACCESS_TYPES
from airflow_provider_hfinfer.spec.redact import path_part

_PREFIXES = ("Value error, ", "Assertion failed, ")

MAX_LINES = 20
"""Most problems listed for one spec; the rest are counted in a last line."""

# pydantic's own messages state the rule; these add the fix.
_HINTS = {
    "extra_forbidden": "is not a field here: remove it or correct its spelling",
    "missing": "is required: add it",
    "string_type": "must be a string: quote the value in YAML (e.g. '4711')",
    "recursion_loop": "refers back to itself: write the values out",
}

_MAPPING = "a mapping of fields"
EXPECTED: Mapping[str, str] = MappingProxyType(
    {
        "workload": f"{_MAPPING}, e.g. name: llama3-8b-chat and model: meta-llama/Llama-3.1-8B",
        "model": "a Hugging Face model id, e.g. model: meta-llama/Llama-3.1-8B-Instruct, or "
        "a mapping {id: ..., revision: ..., served_name: ...}",
        "hf_access": f"{_MAPPING}, e.g. {{type: existing_secret, secret_name: hf-creds}}",
        "endpoint_access": f"{_MAPPING}, e.g. endpoint_access: {{mode: groups, groups: [ml]}}",
        "endpoint_access.groups": "a list of group names, e.g. groups: [ml-research, ml-platform]",
        "endpoint_access.users": "a list of e-mail addresses or user names, e.g. "
        "users: [ana@example.com, bob]",
        "compute": f"{_MAPPING}, e.g. compute: {{gpus: 1, gpu_memory: 80Gi, memory: 64Gi}}",
        "replicas": f"{_MAPPING}, e.g. replicas: {{min: 1, max: 4}}",
        "autoscaling": f"{_MAPPING}, e.g. autoscaling: {{metric: concurrency, threshold: 8}}",
        "scale_to_zero": f"{_MAPPING}, e.g. scale_to_zero: {{idle_seconds: 10m}}",
        "node_pools": "a list of node pool names, most preferred first, e.g. "
        "node_pools: [a100-pool, default]",
        "tolerations": "a list of tolerations, e.g. tolerations: "
        "[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
        "tolerations[]": f"{_MAPPING}, e.g. {{key: nvidia.com/gpu, operator: Exists}}",
        "labels": "a mapping of names to string values, e.g. labels: {team: ml}",
        "annotations": "a mapping of names to string values, e.g. "
        "annotations: {example.com/owner: ml-platform}",
        "vllm": f"{_MAPPING}, e.g. vllm: {{max_model_len: 8192}}",
        "vllm.extra_args": "a list of strings, e.g. extra_args: ['--enable-prefix-caching']",
        "cache": f"{_MAPPING}, e.g. cache: {{type: pvc, claim_name: hf-model-cache}}",
    }
)
"""What each structured field expects, by path (list items as ``[]``)."""

# Error types that mean "a value of the wrong shape": the field's expectation says it best.
_SHAPE_ERRORS = {
    "dict_type",
    "model_type",
    "model_attributes_type",
    "tuple_type",
    "list_type",
    "iterable_type",
    "set_type",
    "dataclass_type",
}

_SCALAR_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number, not a fraction",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "finite_number": "must be a finite number",
}


def _path(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # The hf_access union puts the chosen type into the path (hf_access.token.token);
    # a person thinks of the field as hf_access.token.
    if len(parts) > 1 and parts[0] == "hf_access" and parts[1] in HF_ACCESS_TYPES:
        del parts[1]
    return ".".join(path_part(part) for part in parts) or "workload"


def _field(loc: tuple[int | str, ...]) -> str:
    """The path as ``EXPECTED`` names it: hf_access type dropped, list items as ``[]``."""
    parts = [part for part in loc if not (loc[:1] == ("hf_access",) and part in HF_ACCESS_TYPES)]
    text = ""
    for part in parts:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "workload"


def _message(item: ErrorDetails) -> str:
    kind = item["type"]
    loc = tuple(item["loc"])
    if kind in _HINTS:
        return _HINTS[kind]
    expected = EXPECTED.get(_field(loc))
    if kind in _SHAPE_ERRORS and expected:
        return f"must be {expected}"
    if kind == "hf_access_type" and not isinstance(item.get("input"), Mapping) and expected:
        return f"must be {expected}"  # the input's type only: it may be a pasted token
    if kind in _SCALAR_MESSAGES:
        return _SCALAR_MESSAGES[kind]
    message = str(item["msg"])
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    # pydantic's remaining wording ("Input should be 'a' or 'b'", "... greater than 0").
    return re.sub(r"^Input should be ", "must be ", message)


def describe_errors(error: ValidationError) -> list[str]:
    """Return one line per problem: ``<field path>: <message>``.

    Args:
        error: The error pydantic raised while validating a workload.

    Returns:
        Lines such as ``replicas: replicas.min (3) exceeds replicas.max (2): ...``;
        at most ``MAX_LINES`` of them plus one counting the rest.
    """
    lines: list[str] = []
    # Inputs are read for their type only, never shown.
    items = error.errors(include_url=False)
    for item in items[:MAX_LINES]:
        message = " ".join(_message(item).split())  # one line, whatever a value held
        lines.append(f"{_path(tuple(item['loc']))}: {message}")
    if len(items) > MAX_LINES:
        lines.append(f"workload: {len(items) - MAX_LINES} more problems not shown: fix these first")
    return lines
