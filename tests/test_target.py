"""Finding the workload a task acts on: explicit name/namespace or the deploy task's XCom."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.deploy.target import parse_workload_xcom, resolve_target

RESULT = {"name": "llama", "namespace": "ml", "served_model_name": "m", "owner": "d/t/r"}


@pytest.mark.parametrize(
    "value",
    [
        RESULT,
        str(RESULT),
        '{"name": "llama", "namespace": "ml", "served_model_name": "m", "owner": "d/t/r"}',
    ],
    ids=["dict", "python-repr", "json"],
)
def test_the_xcom_is_read_as_a_dict_however_templating_left_it(value: Any) -> None:
    assert parse_workload_xcom(value) == RESULT


@pytest.mark.parametrize("value", ["", "None", "[1, 2]", 42])
def test_anything_else_is_refused_with_the_fix(value: Any) -> None:
    with pytest.raises(ValueError, match=r"not the create operator's result.*deploy.output"):
        parse_workload_xcom(value)


def test_explicit_name_and_namespace_win_over_the_xcom() -> None:
    target = resolve_target("other", None, RESULT)
    assert (target.name, target.namespace) == ("other", "ml")
    assert target.get("owner") == "d/t/r" and target.get("missing") is None


def test_a_missing_namespace_names_both_ways_to_give_it() -> None:
    with pytest.raises(ValueError, match=r"name='llama', namespace=None.*create operator's XCom"):
        resolve_target("llama", None)


@pytest.mark.parametrize(
    "value",
    ["[" * 100_000, '{"a":' * 100_000, "(" * 100_000, "{'name': " + "[" * 5000],
    ids=["deep-json-array", "deep-json-object", "deep-literal", "unclosed"],
)
def test_nesting_no_parser_can_read_is_refused_not_a_crash(value: str) -> None:
    # json.loads raises RecursionError on deep nesting; it must read as "not a result".
    with pytest.raises(ValueError, match=r"not the create operator's result"):
        parse_workload_xcom(value)


def test_text_too_long_to_read_back_is_refused_before_parsing() -> None:
    from airflow_provider_hfinfer.exceptions import ArgumentTooLongError
    from airflow_provider_hfinfer.spec.literal import MAX_TEXT_CHARS

    huge = "{'name': 'llama', 'namespace': 'ml', 'pad': '" + "x" * MAX_TEXT_CHARS + "'}"
    with pytest.raises(
        ArgumentTooLongError, match=r"workload_xcom rendered to [\d,]+ characters.*output"
    ):
        parse_workload_xcom(huge)


def test_templated_prompts_are_read_back_and_deep_nesting_stays_text() -> None:
    from airflow_provider_hfinfer.serving.completions import prompt_list

    assert prompt_list(str(["a", "b"]), True) == ["a", "b"]
    assert prompt_list('["a", "b"]', True) == ["a", "b"]
    deep = "[" * 100_000
    assert prompt_list(deep, True) == [deep]
