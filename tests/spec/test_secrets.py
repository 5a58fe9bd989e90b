"""The Hugging Face token never leaves the spec except through get_secret_value()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.spec import InferenceWorkload, NewSecretHFAccess, TokenHFAccess
from airflow_provider_hfinfer.spec.messages import describe_errors

from .builders import AUTOSCALED, TOKEN, workload

TOKEN_ACCESS = {"type": "token", "token": TOKEN}
NEW_SECRET_ACCESS = {"type": "new_secret", "secret_name": "hf-new", "value": TOKEN}


@pytest.fixture(params=[TOKEN_ACCESS, NEW_SECRET_ACCESS], ids=["token", "new_secret"])
def access(request: pytest.FixtureRequest) -> dict[str, Any]:
    value: dict[str, Any] = request.param
    return value


def _secret(spec: InferenceWorkload) -> str:
    if isinstance(spec.hf_access, TokenHFAccess):
        return spec.hf_access.token.get_secret_value()
    assert isinstance(spec.hf_access, NewSecretHFAccess)
    return spec.hf_access.value.get_secret_value()


def test_token_is_kept_but_not_shown(access: dict[str, Any]) -> None:
    spec = InferenceWorkload.model_validate(workload(AUTOSCALED, hf_access=access))
    assert _secret(spec) == TOKEN  # the renderer can still read it
    shown = {
        "repr": repr(spec),
        "str": str(spec),
        "repr(hf_access)": repr(spec.hf_access),
        "model_dump(json)": json.dumps(spec.model_dump(mode="json")),
        "model_dump": repr(spec.model_dump()),
        "redacted": json.dumps(spec.redacted()),
        "model_dump_json": spec.model_dump_json(),
    }
    leaks = [where for where, text in shown.items() if TOKEN in text]
    assert leaks == []
    assert "**********" in shown["redacted"]


def test_redacted_is_json_safe_and_complete(access: dict[str, Any]) -> None:
    spec = InferenceWorkload.model_validate(workload(hf_access=access))
    redacted = spec.redacted()
    assert json.loads(json.dumps(redacted)) == redacted
    assert redacted["name"] == spec.name and redacted["hf_access"]["type"] == access["type"]


# Workloads holding a valid token and some other invalid field, so pydantic reports an
# error while the token sits in the input it validated.
OTHER_PROBLEMS: list[Any] = [
    pytest.param({"name": "Bad_Name"}, id="bad-name"),
    pytest.param({"replicas": {"min": 1, "max": 3}}, id="whole-workload-rule"),
    pytest.param({"replicas": {"min": 5, "max": 3}}, id="nested-rule"),
    pytest.param({"labels": {"kubernetes.io/x": "y"}}, id="bad-label"),
    pytest.param({"vllm": {"extra_args": ["--port=1"]}}, id="reserved-flag"),
    pytest.param({"unknown": 1}, id="unknown-field"),
    pytest.param({"model": None}, id="model-none"),
]


@pytest.mark.parametrize("other", OTHER_PROBLEMS)
def test_token_is_not_in_validation_errors(access: dict[str, Any], other: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(workload(other, hf_access=access))
    error = caught.value
    shown = [str(error), repr(error), error.json(), repr(error.errors()), *describe_errors(error)]
    assert not any(TOKEN in text for text in shown)


@pytest.mark.parametrize(
    "hf_access",
    [
        pytest.param({"type": "tokn", "token": TOKEN}, id="unknown-type"),
        pytest.param({"token": TOKEN}, id="missing-type"),
        pytest.param({"type": "token", "token": TOKEN, "extra": 1}, id="extra-field"),
        pytest.param({"type": "none", "token": TOKEN}, id="token-for-none"),
        pytest.param(
            {"type": "existing_secret", "secret_name": "s", "value": TOKEN}, id="value-for-existing"
        ),
        pytest.param(
            {"type": "new_secret", "secret_name": "Bad_Name", "value": TOKEN}, id="bad-secret-name"
        ),
    ],
)
def test_token_is_not_in_errors_about_hf_access_itself(hf_access: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(workload(hf_access=hf_access))
    error = caught.value
    shown = [str(error), repr(error), error.json(), repr(error.errors()), *describe_errors(error)]
    assert not any(TOKEN in text for text in shown)


def test_an_invalid_token_is_not_echoed() -> None:
    bad = TOKEN + " trailing"
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(workload(hf_access={"type": "token", "token": bad}))
    assert TOKEN not in str(caught.value)
    assert TOKEN not in " ".join(describe_errors(caught.value))


def test_a_misplaced_token_is_not_echoed_in_messages() -> None:
    # A token pasted at the wrong level is an unknown field; its message must not show it.
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(workload(token=TOKEN))
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert describe_errors(caught.value) == [
        "token: is not a field here: remove it or correct its spelling"
    ]


def test_token_from_yaml_is_hidden_in_errors() -> None:
    text = f"name: Bad_Name\nmodel: a/b\nhf_access: {{type: token, token: {TOKEN}}}\n"
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.from_yaml(text)
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.json()


def test_token_survives_json_mode_validation(access: dict[str, Any]) -> None:
    spec = InferenceWorkload.model_validate_json(json.dumps(workload(hf_access=access)))
    assert _secret(spec) == TOKEN


@pytest.mark.parametrize("other", OTHER_PROBLEMS)
def test_token_is_not_in_json_mode_validation_errors(
    access: dict[str, Any], other: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate_json(json.dumps(workload(other, hf_access=access)))
    error = caught.value
    shown = [str(error), error.json(), repr(error.errors()), *describe_errors(error)]
    assert not any(TOKEN in text for text in shown)


def test_masked_errors_keep_their_type_path_and_message() -> None:
    data = workload(replicas={"min": 1, "max": 2}, hf_access=TOKEN_ACCESS)
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(data)
    (item,) = caught.value.errors()
    assert (item["type"], item["loc"]) == ("value_error", ())
    assert item["msg"].startswith("Value error, autoscaling is missing")
    assert item["input"]["hf_access"] == {"type": "token", "token": "**********"}
    assert item["input"]["replicas"] == {"min": 1, "max": 2}  # the rest stays readable
