"""The safe loader: encodings, size, duplicate keys and the bounds, each with one clear line."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.cli import main
from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.loader import (
    MAX_ALIASES,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    SpecLoadError,
    check_shape,
    decode_spec,
    load_document,
)

from .builders import TOKEN

HEAD = "name: llama3-8b-chat\nmodel: meta-llama/Llama-3.1-8B-Instruct\n"


def test_utf8_with_and_without_a_byte_order_mark_loads(tmp_path: Path) -> None:
    plain, marked = tmp_path / "plain.yaml", tmp_path / "bom.yaml"
    plain.write_bytes(HEAD.encode())
    marked.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert InferenceWorkload.from_file(plain) == InferenceWorkload.from_file(marked)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (HEAD.encode("utf-16"), "is UTF-16 text (it starts with a UTF-16 byte-order mark)"),
        (HEAD.encode("utf-32"), "is UTF-32 text"),
        (HEAD.encode("utf-16-le"), "contains NUL bytes"),
        ("name: café\n".encode("latin-1"), "byte 0xe9 at line 1, column 10 (Latin-1"),
        (b"a" * (MAX_BYTES + 1), "over the 1024 KiB a workload spec may have"),
    ],
)
def test_a_file_that_is_not_utf8_yaml_is_one_line_naming_the_file(
    tmp_path: Path, data: bytes, problem: str
) -> None:
    path = tmp_path / "workload.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecLoadError) as caught:
        InferenceWorkload.from_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert caught.value.source == str(path)


def test_decode_reads_at_most_the_limit_and_names_stdin() -> None:
    with pytest.raises(SpecLoadError, match="^<stdin>: is more than 1048576 bytes"):
        decode_spec(b" " * (MAX_BYTES + 10), "<stdin>")


def test_a_duplicate_key_names_the_key_and_both_lines() -> None:
    with pytest.raises(SpecLoadError) as caught:
        InferenceWorkload.parse(HEAD + "compute:\n  gpus: 1\n  cpu: 4\n  gpus: 2\n")
    assert "the key gpus appears twice in one mapping (line 4 and again line 6)" in str(
        caught.value
    )


def test_keys_a_merge_brings_in_may_be_overridden() -> None:
    text = HEAD + (
        "tolerations:\n  - &gpu {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"
        "  - <<: *gpu\n    key: dedicated\n"
    )
    spec = InferenceWorkload.parse(text)
    assert [t.key for t in spec.tolerations] == ["nvidia.com/gpu", "dedicated"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            HEAD + "node_type: &a x\nnode_pools: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n",
            "more than 100 aliases",
        ),
        (HEAD + "labels: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", "levels deep"),
        (HEAD + "node_pools: [" + ", ".join(["p"] * MAX_NODES) + "]\n", "more than 10000 values"),
        (HEAD + "node_pools: &a [x, *a]\n", "a cycle"),
    ],
    ids=["aliases", "depth", "nodes", "cycle"],
)
def test_the_bounds_hold_before_anything_walks_the_tree(text: str, problem: str) -> None:
    with pytest.raises(SpecLoadError, match=problem):
        InferenceWorkload.parse(text)


def test_a_few_aliases_are_fine() -> None:
    spec = InferenceWorkload.parse(HEAD + "node_pools: [&p a100, h100]\nnode_type: *p\n")
    assert spec.node_type == "a100"


def _laughs(levels: int) -> list[Any]:
    layer: list[Any] = ["lol"] * 10
    for _ in range(levels):
        layer = [layer] * 10
    return layer


def test_errors_about_alias_expanded_python_data_cost_no_more_than_its_objects() -> None:
    # model_validate skips the loader; the token scrubbing must still stay bounded.
    data = {**_base(), "hf_access": {"type": "token", "token": TOKEN}, "bogus": _laughs(9)}
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(data)
    assert time.perf_counter() - started < 2
    assert TOKEN not in repr(caught.value.errors())


def test_parse_refuses_python_data_past_the_bounds() -> None:
    looped: dict[str, Any] = {"a": {}}
    looped["a"]["b"] = looped
    for data, problem in (
        ({**_base(), "bogus": _laughs(5)}, "more than 10000 values"),
        ({**_base(), "labels": looped}, "contains itself"),
    ):
        with pytest.raises(SpecLoadError, match=problem):
            InferenceWorkload.parse(data)
    check_shape(_base())  # a normal workload passes


def _base() -> dict[str, Any]:
    return {"name": "llama3-8b-chat", "model": "meta-llama/Llama-3.1-8B-Instruct"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "a", "name": "b"}', "the key name appears twice"),
        ('{"labels": ' + "[" * 2000 + "]" * 2000 + "}", "levels deep"),
        ('{"replicas": {"min": ' + "7" * 5000 + "}}", "4300 digits"),
    ],
)
def test_json_follows_the_same_rules(text: str, problem: str) -> None:
    with pytest.raises(SpecLoadError, match=problem):
        load_document(text)


def test_spec_errors_stay_value_errors() -> None:
    assert issubclass(SpecLoadError, SpecError) and issubclass(SpecError, ValueError)


def test_the_cli_reads_stdin_and_options_through_the_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Stdin:
        buffer = io.BytesIO("name: café\n".encode("latin-1"))

    monkeypatch.setattr("sys.stdin", Stdin)
    assert main(["validate", "-"], out=io.StringIO()) == 1
    assert capsys.readouterr().err.startswith("<stdin>: is not UTF-8 text")
    spec, options = tmp_path / "w.yaml", tmp_path / "options.yaml"
    spec.write_text(HEAD, encoding="utf-8")
    options.write_text("jwt_issuer: a\njwt_issuer: b\n", encoding="utf-8")
    assert main(["render", str(spec), "-n", "ns", "--options", str(options)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{options}: ") and "appears twice" in err[0]
