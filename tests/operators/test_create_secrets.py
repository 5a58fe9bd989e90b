"""Tokens in a spec never reach Airflow's stored rendered template fields, XCom or logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator
from airflow_provider_hfinfer.operators.create import mask_spec_tokens

TOKEN = "hf_RenderedFieldsSecret0123456789"
TOKEN_TEMPLATE = "{{ var.value.hf_rendered_fields_token }}"  # rendered when the task runs


@pytest.fixture(autouse=True)
def _token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # A literal token is refused in DAG code (it would be stored in the metadata DB).
    monkeypatch.setenv("AIRFLOW_VAR_HF_RENDERED_FIELDS_TOKEN", TOKEN)


def _rendered_fields(run: Any, task_id: str) -> Any:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
            .one()
        )
        return row.rendered_fields


@pytest.mark.parametrize(
    "access",
    [
        {"type": "new_secret", "secret_name": "hf-creds", "value": TOKEN_TEMPLATE},
        {"type": "token", "token": TOKEN_TEMPLATE},
    ],
    ids=["new_secret", "token"],
)
def test_an_inline_token_is_masked_in_rendered_template_fields_and_xcom(
    run_task: Any,
    access: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = {"name": "llama", "model": "Qwen/Qwen2.5-7B-Instruct", "hf_access": access}
    run = run_task(
        lambda: HFInferenceCreateOperator(
            task_id="deploy",
            workload=spec,
            namespace="ml",
            dry_run=True,
            preflight="off",
            kubernetes_conn_id="no_such_connection",
        )
    )
    assert run.state == "success"
    stored = json.dumps(_rendered_fields(run, "deploy"))
    assert "llama" in stored  # the fields were stored,
    assert TOKEN not in stored  # with the token masked
    from airflow_fixtures import task_instance

    result = task_instance(run, "deploy").xcom_pull(task_ids="deploy")
    assert TOKEN not in json.dumps(result)
    logged = capsys.readouterr().out + caplog.text
    assert TOKEN not in logged


def test_tokens_in_a_spec_that_does_not_parse_are_masked_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    masked: list[str] = []
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    broken = f"name: llama\nmodel: m/m\nhf_access: {{type: token, token: {TOKEN}}}\nbogus: 1\n"
    mask_spec_tokens(broken)
    assert masked == [TOKEN]
