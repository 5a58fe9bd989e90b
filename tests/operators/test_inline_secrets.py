"""The secret policy at DAG parse time: a literal token is refused, a template is not."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.operators import HFInferenceCreateOperator, HFInferenceUpdateOperator
from airflow_provider_hfinfer.operators.inline_secrets import refuse_literal_tokens, spec_tokens
from airflow_provider_hfinfer.spec import InferenceWorkload

TOKEN = "hf_LiteralInDagCode0123456789abc"
BASE = {"name": "llama", "model": "org/model"}


@pytest.mark.parametrize("operator", [HFInferenceCreateOperator, HFInferenceUpdateOperator])
@pytest.mark.parametrize(
    "workload",
    [
        {**BASE, "hf_access": {"type": "token", "token": TOKEN}},
        {**BASE, "hf_access": {"type": "new_secret", "secret_name": "s", "value": TOKEN}},
        f"name: llama\nmodel: org/model\nhf_access: {{type: token, token: {TOKEN}}}\n",
        f"{{{{ params.x }}}}\nhf_access: {{type: token, token: {TOKEN}}}\n",  # a templated spec
    ],
    ids=["dict-token", "dict-new-secret", "yaml", "templated-yaml-with-literal"],
)
def test_a_literal_token_is_refused_when_the_dag_is_parsed(operator: Any, workload: Any) -> None:
    with pytest.raises(SpecError, match="pass the token at run time instead") as caught:
        operator(task_id="deploy", workload=workload, namespace="ml")
    assert TOKEN not in str(caught.value)


def test_a_workload_object_with_a_token_is_refused_too() -> None:
    spec = InferenceWorkload.parse({**BASE, "hf_access": {"type": "token", "token": TOKEN}})
    with pytest.raises(SpecError, match=r"hf_access.token is written into the DAG"):
        refuse_literal_tokens(spec)


@pytest.mark.parametrize(
    "workload",
    [
        {**BASE, "hf_access": {"type": "token", "token": "{{ conn.huggingface.password }}"}},
        {
            **BASE,
            "hf_access": {"type": "new_secret", "secret_name": "s", "value": "{{ var.value.t }}"},
        },
        {**BASE, "hf_access": {"type": "existing_secret", "secret_name": "hf-credentials"}},
        "name: llama\nmodel: org/model\nhf_access: {type: token, token: '{{ conn.hf.password }}'}",
        "{{ ti.xcom_pull(task_ids='make_spec') }}",
        BASE,
    ],
)
def test_templates_existing_secrets_and_no_token_are_accepted(workload: Any) -> None:
    HFInferenceCreateOperator(task_id="deploy", workload=workload, namespace="ml")


def test_the_connection_route_is_accepted() -> None:
    HFInferenceCreateOperator(task_id="deploy", workload=BASE, namespace="ml", hf_conn_id="hf")


def test_tokens_to_mask_are_found_in_every_form() -> None:
    assert spec_tokens({**BASE, "hf_access": {"type": "token", "token": TOKEN}}) == (TOKEN,)
    broken = {**BASE, "bogus": 1, "hf_access": {"type": "token", "token": "plain-secret"}}
    assert spec_tokens(broken) == ("plain-secret",)
    assert spec_tokens(f"not: [yaml {TOKEN}") == (TOKEN,)


def test_finding_tokens_to_mask_is_bounded() -> None:
    layer: list[Any] = ["lol"] * 10
    for _ in range(9):
        layer = [layer] * 10  # 10**10 leaves when expanded
    found = spec_tokens({**BASE, "bogus": layer, "labels": {"x": TOKEN}})
    assert found == (TOKEN,)
