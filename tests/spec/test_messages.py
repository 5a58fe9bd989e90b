"""Spec errors in the user's terms: no pydantic jargon, one line, credentials cut short."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.messages import EXPECTED, MAX_LINES, describe_errors
from airflow_provider_hfinfer.spec.redact import looks_like_credential, shown, shown_arg

from .builders import TOKEN, workload

JARGON = ("Input should be", "instance of", "NoneType", "valid tuple", "valid dictionary")


def _lines(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(data)
    return describe_errors(caught.value)


WRONG_SHAPES = [
    ("model", ["a/b"]),
    ("model", None),
    ("hf_access", "token"),
    ("endpoint_access", "public"),
    ("compute", 2),
    ("replicas", 3),
    ("autoscaling", "concurrency"),
    ("scale_to_zero", "10m"),
    ("node_pools", "a100-pool"),
    ("tolerations", {"key": "a"}),
    ("labels", ["team"]),
    ("annotations", "x"),
    ("vllm", "--x"),
    ("cache", "pvc"),
]


@pytest.mark.parametrize(("field", "value"), WRONG_SHAPES, ids=[f for f, _ in WRONG_SHAPES])
def test_a_value_of_the_wrong_shape_says_what_the_field_expects(field: str, value: Any) -> None:
    lines = _lines(workload({field: value}))
    assert not any(word in line for line in lines for word in JARGON), lines
    assert any(line.startswith(f"{field}: must be ") and "e.g." in line for line in lines), lines


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        (workload(vllm={"extra_args": "--x"}), "vllm.extra_args", "a list of strings"),
        (
            workload(endpoint_access={"mode": "users", "users": "ana"}),
            "endpoint_access.users",
            "a list",
        ),
        (workload(tolerations=["a"]), "tolerations.0", "a mapping of fields"),
        (workload(replicas={"min": "three"}), "replicas.min", "a whole number"),
        (workload(update_strategy="Blue"), "update_strategy", "'RollingUpdate' or 'Recreate'"),
    ],
)
def test_nested_shapes_and_choices_read_plainly(
    data: dict[str, Any], path: str, expected: str
) -> None:
    lines = _lines(data)
    assert any(line.startswith(f"{path}: must be") and expected in line for line in lines), lines
    assert not any(word in line for line in lines for word in JARGON), lines


def test_every_expectation_names_an_example() -> None:
    assert all("e.g." in text for text in EXPECTED.values())


def test_many_problems_are_capped_with_a_count() -> None:
    lines = _lines(workload({f"bogus{index}": 1 for index in range(MAX_LINES + 5)}))
    assert len(lines) == MAX_LINES + 1
    assert lines[-1] == "workload: 5 more problems not shown: fix these first"


@pytest.mark.parametrize(
    "text",
    [
        TOKEN,
        "hf_abcdefghijklmnopqrstuvwxyz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig",
        "sk-abcdefghijklmnopqrstuvwxyz012345",
        "AKIAABCDEFGHIJKLMNOP",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "Zx8Kq2LmN4pR7sT1vW3yB6dF9hJ0gC5e",  # 32 random-looking characters
        "prefix " + TOKEN + " suffix",
    ],
)
def test_credential_like_values_are_shown_as_a_four_character_prefix(text: str) -> None:
    assert looks_like_credential(text)
    quoted = shown(text)
    assert quoted == f"'{text[:4]}…' (redacted: looks like a credential)"


@pytest.mark.parametrize(
    "text",
    [
        "llama3-8b-chat",
        "meta-llama/Llama-3.1-8B-Instruct",
        "0123456789abcdef0123456789abcdef01234567",  # a commit SHA: lower-case hex
        "ml-platform-team-2024-q1-inference",
        "hf_model_cache",
    ],
)
def test_names_and_hashes_are_shown_as_they_are(text: str) -> None:
    assert not looks_like_credential(text)
    assert shown(text) == repr(text)


def test_long_and_unprintable_values_stay_one_short_line() -> None:
    assert shown("x" * 500) == f"'{'x' * 60}…' (500 characters)"
    assert shown("a\nb\x1b[2J") == repr("a\nb\x1b[2J") and "\n" not in shown("a\nb")
    assert shown(["a", "b"]) == "a list"


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("--api-key=sk-secret", "'--api-key=…'"),
        ("--api-key sk-secret", "'--api-key …'"),
        ("--enable-prefix-caching", "'--enable-prefix-caching'"),
        ("sk-secret-value", "'…' (a value, not shown)"),
        ("-tp=2", "'-tp=…'"),
    ],
)
def test_extra_args_are_named_by_their_option_only(arg: str, quoted: str) -> None:
    assert shown_arg(arg) == quoted


def test_no_message_about_extra_args_shows_a_value() -> None:
    for args in (["--port=31337"], ["--api-key", "pw-31337"], ["--ssl-keyfile=/k/31337"]):
        lines = _lines(workload(vllm={"extra_args": args}))
        assert lines and not any("31337" in line for line in lines), lines
