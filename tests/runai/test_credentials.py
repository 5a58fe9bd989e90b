"""An inline token on Run:ai becomes a credential, through dag.test() against the fake."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from airflow_fixtures import task_instance
from fakerunai import FakeRunai

from airflow_provider_hfinfer.operators import HFInferenceDeleteOperator
from airflow_provider_hfinfer.runai.credential import credential_name
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import CREDENTIAL_ANNOTATION

from .test_operators import (
    PROJECT,
    WORKLOAD,
    annotations,
    create_op,
    output,
    rendered_fields,
    result_of,
    update_op,
    xcom_values,
)

TOKEN = "hf_RunaiInlineTokenNeverLeaves0123"
ROTATED = "hf_RunaiRotatedTokenNeverLeaves456"
GENERIC_SECRETS = "/api/v1/asset/credentials/generic-secret"
INLINE = {**WORKLOAD, "hf_access": {"type": "token", "token": "{{ var.value.runai_hf_token }}"}}


@pytest.fixture(autouse=True)
def _token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_RUNAI_HF_TOKEN", TOKEN)


def name_for(token: str, workload: dict[str, Any] = INLINE) -> str:
    data = {**workload, "hf_access": {"type": "token", "token": token}}
    return credential_name(InferenceWorkload.parse(data), PROJECT, token)


def hf_token_env(fake: FakeRunai) -> dict[str, Any]:
    variables = fake.by_name("llama").spec["environmentVariables"]
    [variable] = [v for v in variables if v["name"] == "HF_TOKEN"]
    return dict(variable)


def assert_token_only_in_the_credential(fake: FakeRunai, run: Any, text: str, *tokens: str) -> None:
    """The token reached the credential's POST body and its store, and no other sink."""
    values = json.dumps(xcom_values(run), default=str)
    rendered = json.dumps(rendered_fields(run), default=str)
    other = [
        r.text() for r in fake.requests if not (r.method == "POST" and r.path == GENERIC_SECRETS)
    ]
    specs = [json.dumps(w.spec) for w in fake.workloads.values()]
    for token in tokens:
        assert token not in text and token not in values and token not in rendered
        assert not any(token in item for item in other + specs)


def test_an_inline_token_becomes_a_credential_the_workload_references(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, workload=INLINE, wait_for_ready=True))
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    name = name_for(TOKEN)
    [credential] = fake_runai.credentials.named(name)
    assert credential.values == {"HF_TOKEN": TOKEN}
    assert credential.meta["scope"] == "project" and credential.meta["projectId"] == 4
    assert name.startswith("llama-hf-token-") and len(name) <= 63
    assert hf_token_env(fake_runai) == {
        "name": "HF_TOKEN",
        "secret": {"name": name, "key": "HF_TOKEN"},
    }
    assert annotations(fake_runai)[CREDENTIAL_ANNOTATION] == name
    assert f"Credential/{name}" in result_of(run)["objects"]
    methods = [(r.method, r.path) for r in fake_runai.requests]
    assert methods.index(("POST", GENERIC_SECRETS)) < methods.index(
        ("POST", "/api/v1/workloads/inferences")
    )
    assert f"created Run:ai credential {name}" in text
    assert_token_only_in_the_credential(fake_runai, run, text, TOKEN)


def test_hf_conn_id_becomes_a_credential_too(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HF_RUNAI", json.dumps({"conn_type": "generic", "password": ROTATED})
    )
    workload = {**WORKLOAD, "hf_access": {"type": "none"}}
    run = run_task(lambda: create_op(runai_conn_id, workload=workload, hf_conn_id="hf_runai"))
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    [credential] = fake_runai.credentials.items.values()
    assert credential.values == {"HF_TOKEN": ROTATED}
    assert hf_token_env(fake_runai)["secret"]["name"] == credential.meta["name"]
    assert_token_only_in_the_credential(fake_runai, run, text, ROTATED)


def test_the_kubernetes_name_run_ai_reports_is_what_the_workload_references(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    fake_runai.credentials.kube_prefix = "cred-"
    assert run_task(lambda: create_op(runai_conn_id, workload=INLINE)).state == "success"
    assert hf_token_env(fake_runai)["secret"]["name"] == "cred-" + name_for(TOKEN)


def test_a_retry_adopts_its_credential_and_creates_no_second_one(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Attempt 1 creates the credential, then the workload POST fails; attempt 2 adopts it."""
    fake_runai.fail("POST", "/api/v1/workloads/inferences", 409, times=1)  # a change in progress
    run = run_task(
        lambda: create_op(runai_conn_id, workload=INLINE, retries=1, retry_delay=timedelta(0))
    )
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    assert task_instance(run, "deploy").try_number == 2
    assert len(fake_runai.sent("POST", GENERIC_SECRETS)) == 1
    assert len(fake_runai.credentials.items) == 1
    assert f"reusing Run:ai credential {name_for(TOKEN)}" in text
    assert len(fake_runai.named("llama")) == 1


def test_a_credential_of_the_name_someone_else_made_is_a_name_taken_error(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = name_for(TOKEN)
    foreign = fake_runai.credentials.add_foreign(name, "4")
    run = run_task(lambda: create_op(runai_conn_id, workload=INLINE, retries=0))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert f"a Run:ai credential named {name!r} already exists in project 'team-a'" in text
    assert "delete or rename that credential" in text and "existing_secret" in text
    assert fake_runai.sent("POST") == [
        r for r in fake_runai.sent("POST") if r.path == "/api/v2/token"
    ]
    assert foreign.id in fake_runai.credentials.items  # left untouched
    assert TOKEN not in text


def test_a_rotated_token_rolls_out_a_new_credential_and_drops_the_old(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (
        run_task(lambda: create_op(runai_conn_id, workload=INLINE, wait_for_ready=True)).state
        == "success"
    )
    old, new = name_for(TOKEN), name_for(ROTATED)
    monkeypatch.setenv("AIRFLOW_VAR_RUNAI_HF_TOKEN", ROTATED)
    run = run_task(lambda: update_op(runai_conn_id, "main", workload=INLINE))
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    assert result_of(run, "rollout")["changed"] is True  # the same spec, a new token: a change
    assert hf_token_env(fake_runai)["secret"]["name"] == new
    assert [c.meta["name"] for c in fake_runai.credentials.items.values()] == [new]
    assert f"deleted Credential/{old}" in text
    assert len(fake_runai.sent("PATCH")) == 1
    # The same token again: nothing to write, nothing created.
    again = run_task(lambda: update_op(runai_conn_id, "main", workload=INLINE))
    assert again.state == "success" and result_of(again, "rollout")["changed"] is False
    assert len(fake_runai.sent("POST", GENERIC_SECRETS)) == 2
    assert_token_only_in_the_credential(fake_runai, run, text, TOKEN, ROTATED)


def test_a_create_run_again_with_a_rotated_token_replaces_the_credential(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, workload=INLINE)).state == "success"
    monkeypatch.setenv("AIRFLOW_VAR_RUNAI_HF_TOKEN", ROTATED)
    rerun = run_task(lambda: create_op(runai_conn_id, workload=INLINE, if_exists="update"))
    assert rerun.state == "success"
    assert hf_token_env(fake_runai)["secret"]["name"] == name_for(ROTATED)
    assert [c.values for c in fake_runai.credentials.items.values()] == [{"HF_TOKEN": ROTATED}]


def test_a_failed_rotation_rolls_back_to_the_old_credential(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (
        run_task(lambda: create_op(runai_conn_id, workload=INLINE, wait_for_ready=True)).state
        == "success"
    )
    old = name_for(TOKEN)
    fake_runai.script_update("llama", [{"phase": "Failed", "phaseMessage": "CrashLoopBackOff"}])
    monkeypatch.setenv("AIRFLOW_VAR_RUNAI_HF_TOKEN", ROTATED)
    run = run_task(lambda: update_op(runai_conn_id, "v2", workload=INLINE))
    text = output(capsys, caplog)
    assert run.state == "failed"
    assert "previous revision serving again" in text
    assert hf_token_env(fake_runai)["secret"]["name"] == old
    assert annotations(fake_runai)[CREDENTIAL_ANNOTATION] == old
    assert [c.meta["name"] for c in fake_runai.credentials.items.values()] == [old]


def test_a_deferred_rotation_drops_the_old_credential_when_it_serves(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (
        run_task(lambda: create_op(runai_conn_id, workload=INLINE, wait_for_ready=True)).state
        == "success"
    )
    monkeypatch.setenv("AIRFLOW_VAR_RUNAI_HF_TOKEN", ROTATED)
    run = run_task(lambda: update_op(runai_conn_id, "v2", workload=INLINE, deferrable=True))
    assert run.state == "success"
    assert [c.meta["name"] for c in fake_runai.credentials.items.values()] == [name_for(ROTATED)]


def test_delete_removes_the_workload_and_its_credential(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    assert run_task(lambda: create_op(runai_conn_id, workload=INLINE)).state == "success"
    foreign = fake_runai.credentials.add_foreign("team-token", "4")
    run = run_task(
        lambda: HFInferenceDeleteOperator(
            task_id="delete", name="llama", namespace=PROJECT, runai_conn_id=runai_conn_id
        )
    )
    assert run.state == "success"
    assert result_of(run, "delete") == ["InferenceWorkload/llama", f"Credential/{name_for(TOKEN)}"]
    assert fake_runai.named("llama") == []
    assert list(fake_runai.credentials.items) == [foreign.id]  # never ours: left untouched
    assert name_for(TOKEN) not in fake_runai.credentials.secrets["4"]


def test_a_failed_first_deploy_deleted_by_on_failure_takes_its_credential(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    fake_runai.script("llama", [{"phase": "Failed", "phaseMessage": "OOMKilled"}])
    workload = {**INLINE, "auto_delete_after": 0}
    run = run_task(
        lambda: create_op(runai_conn_id, workload=workload, wait_for_ready=True, retries=0)
    )
    assert run.state == "failed"
    assert fake_runai.named("llama") == []
    assert fake_runai.credentials.items == {}


def test_dry_run_shows_the_credential_request_redacted_and_writes_nothing(
    fake_runai: FakeRunai,
    runai_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create_op(runai_conn_id, workload=INLINE, dry_run=True))
    text = output(capsys, caplog)
    assert run.state == "success", text[-2000:]
    result = result_of(run)
    name = name_for(TOKEN)
    assert result["credential_request"] == {
        "meta": {
            "name": name,
            "description": "managed by airflow-provider-hfinfer: Hugging Face token of "
            "inference workload llama",
            "scope": "project",
            "projectId": 4,
            "workloadSupportedTypes": {"inference": True},
        },
        "spec": {"keyValuePairs": [{"key": "HF_TOKEN", "value": "<redacted>"}]},
    }
    assert result["request"]["spec"]["environmentVariables"][-1]["secret"]["name"] == name
    assert f"the real run would first send POST {GENERIC_SECRETS}" in text
    assert (
        f"the real run would create Credential/{name}, then create InferenceWorkload/llama" in text
    )
    assert {r.method for r in fake_runai.requests if r.path != "/api/v2/token"} == {"GET"}
    assert fake_runai.credentials.items == {}
    assert_token_only_in_the_credential(fake_runai, run, text, TOKEN)


def test_an_inline_token_adds_three_requests_to_a_create(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    """The README's figure: the credential lookup, its POST and the pruning listing."""
    assert run_task(lambda: create_op(runai_conn_id, workload=INLINE)).state == "success"
    workload_id = fake_runai.by_name("llama").id
    sent = [(r.method, r.path.replace(workload_id, "{id}")) for r in fake_runai.requests]
    assert sent == [
        ("POST", "/api/v2/token"),
        ("GET", "/api/v1/clusters"),
        ("GET", "/api/v1/org-unit/projects"),
        ("GET", "/api/v1/workloads"),
        ("GET", "/api/v1/asset/credentials"),
        ("POST", GENERIC_SECRETS),
        ("POST", "/api/v1/workloads/inferences"),
        ("GET", "/api/v1/asset/credentials"),
        ("GET", "/api/v1/workloads/{id}"),
    ]


def test_a_workload_the_api_refuses_leaves_no_credential_behind(
    fake_runai: FakeRunai, runai_conn_id: str, run_task: Any
) -> None:
    fake_runai.fail("POST", "/api/v1/workloads/inferences", 422, times=5)
    run = run_task(lambda: create_op(runai_conn_id, workload=INLINE, retries=0))
    assert run.state == "failed"
    assert len(fake_runai.sent("POST", GENERIC_SECRETS)) == 1
    assert fake_runai.credentials.items == {}
    assert fake_runai.named("llama") == []
