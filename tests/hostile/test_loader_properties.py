"""Property: any bytes, any YAML tree -> a workload or the provider's spec error, bounded.

The loader (through ``InferenceWorkload.from_yaml`` / ``parse``, as the CLI and the
operators use it) gets arbitrary bytes, arbitrary text and arbitrary YAML trees,
including trees with shared sub-trees (which ``yaml.safe_dump`` writes as anchors
and aliases) nested well past the loader's bounds. Whatever comes in, the result
is an ``InferenceWorkload``, a ``SpecError`` or a ``pydantic.ValidationError``,
never another exception, within a time and memory bound.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.loader import decode_spec
from airflow_provider_hfinfer.spec.messages import describe_errors

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECONDS = 5.0  # the bound the CLI promises; tracemalloc slows each example down
PEAK_BYTES = 64 * 1024 * 1024
TOKEN = "hf_PropertyCanaryToken0123456789ab"


def _bounded(load: Callable[[], object]) -> None:
    """Run ``load``; only the three outcomes, within the bounds; messages one line, no token."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = load()
        assert isinstance(result, InferenceWorkload)
    except ValidationError as err:
        lines = describe_errors(err)
        assert lines and all("\n" not in line for line in lines)
        assert TOKEN not in "".join(lines) + str(err)
    except SpecError as err:
        assert "\n" not in str(err) and TOKEN not in str(err)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < SECONDS
    assert peak < PEAK_BYTES


def _from_bytes(data: bytes) -> InferenceWorkload:
    return InferenceWorkload.from_yaml(decode_spec(data, "spec.yaml"), "spec.yaml")


HEAD = b"name: llama\nmodel: org/model\n"


@SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    _bounded(lambda: _from_bytes(data))


@SETTINGS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_after_a_valid_start(data: bytes) -> None:
    _bounded(lambda: _from_bytes(HEAD + data))


YAML_SYNTAX = st.sampled_from(
    list("{}[]:,-?*&!|>'\"%@`#\n\t ") + ["<<", "---", "...", "*a", "&a", "!!str", "~"]
)


@SETTINGS
@given(st.lists(st.one_of(YAML_SYNTAX, st.text(max_size=6)), max_size=60))
def test_arbitrary_yaml_like_text(parts: list[str]) -> None:
    text = "".join(parts)
    _bounded(lambda: InferenceWorkload.parse(text))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["80", "80Gi", "--api-key=k", TOKEN, "2024-02-30", "yes", "0x1f", "1e999"]),
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "name",
            "model",
            "hf_access",
            "token",
            "type",
            "compute",
            "gpu_memory",
            "labels",
            "node_pools",
            "vllm",
            "extra_args",
            "replicas",
            "endpoint_access",
            "users",
        ]
    ),
    st.text(max_size=6),
)


def _trees(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
    )


TREES = st.recursive(SCALARS, _trees, max_leaves=40)


def _shared(tree: Any, times: int) -> Any:
    """A tree that refers to ``tree`` ``times`` times, at every level (aliases when dumped)."""
    layer = tree
    for _ in range(times):
        layer = [layer, layer, layer, {"k": layer}]
    return layer


@SETTINGS
@given(TREES)
def test_arbitrary_yaml_trees_as_the_whole_document(tree: Any) -> None:
    text = yaml.safe_dump(tree, allow_unicode=True)
    _bounded(lambda: InferenceWorkload.parse(text))


@SETTINGS
@given(TREES, st.sampled_from(["labels", "node_pools", "vllm", "model", "hf_access", "bogus"]))
def test_arbitrary_yaml_trees_in_a_field(tree: Any, field: str) -> None:
    data = {"name": "llama", "model": "org/model", field: tree}
    text = yaml.safe_dump(data, allow_unicode=True)
    _bounded(lambda: InferenceWorkload.parse(text))


@SETTINGS
@given(TREES, st.integers(min_value=1, max_value=12), st.booleans())
def test_alias_bombs_with_and_without_a_token(tree: Any, times: int, with_token: bool) -> None:
    data: dict[str, Any] = {"name": "llama", "model": "org/model", "labels": _shared(tree, times)}
    if with_token:
        data["hf_access"] = {"type": "token", "token": TOKEN}
    text = yaml.safe_dump(data)  # shared objects become &id001 / *id001
    _bounded(lambda: InferenceWorkload.parse(text))
    _bounded(lambda: InferenceWorkload.parse(data))  # the same data built in Python


@settings(SETTINGS, max_examples=40)
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", "{a: ", "- "]))
def test_nesting_at_any_depth(depth: int, opener: str) -> None:
    if opener == "- ":
        # Indentation grows with depth: past ~500 levels the text is over the size limit.
        body = "".join("  " * level + "- \n" for level in range(min(depth, 600)))
        text = "name: llama\nmodel: org/model\nlabels:\n" + body
    else:
        closer = "]" if opener == "[" else "}"
        text = "name: llama\nmodel: org/model\nlabels: " + opener * depth + closer * depth
    _bounded(lambda: InferenceWorkload.parse(text))
