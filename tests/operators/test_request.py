"""HFInferenceRequestOperator against a fake vLLM, through the fake API server's proxy or a URL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow_fixtures import task_instance
from fake_vllm import FakeVLLM
from fakekube import FakeKubeServer

from airflow_provider_hfinfer.operators import HFInferenceRequestOperator

NS = "ml"
NAME = "llama"
MODEL = "llama3-8b-chat"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.endpointTokenThatMustNotLeak.sig"


def request_op(conn_id: str, **kwargs: Any) -> HFInferenceRequestOperator:
    params: dict[str, Any] = {
        "task_id": "ask",
        "prompts": ["Say hello"],
        "workload_xcom": {"name": NAME, "namespace": NS, "served_model_name": MODEL},
        "kubernetes_conn_id": conn_id,
        "warmup_timeout": 5,
    }
    params.update(kwargs)
    return HFInferenceRequestOperator(**params)


def test_smoke_request_through_the_proxy_returns_text_usage_and_latency(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    result = request_op(fake_kube_conn_id, expect="hello").execute({})
    assert result["completions"] == [
        {"index": 0, "text": "echo: Say hello", "finish_reason": "stop"}
    ]
    assert result["usage"] == {"prompt_tokens": 2, "completion_tokens": 3}
    assert result["requests"] == 1 and result["model"] == MODEL
    assert set(result["latency_ms"]) == {"p50", "p95", "max"}
    [body] = vllm.generation_requests()
    assert body == {"model": MODEL, "max_tokens": 64, "temperature": 0.0, "prompt": "Say hello"}


def test_completions_batch_prompts_per_request_and_keep_prompt_order(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    prompts = [f"prompt number {i}" for i in range(10)]
    result = request_op(
        fake_kube_conn_id, prompts=prompts, batch_size=4, max_concurrency=3
    ).execute({})
    assert result["requests"] == 3
    assert [c["text"] for c in result["completions"]] == [f"echo: {p}" for p in prompts]
    sizes = sorted(len(body["prompt"]) for body in vllm.generation_requests())
    assert sizes == [2, 4, 4]


def test_chat_api_sends_one_user_message_per_prompt(vllm: FakeVLLM, fake_kube_conn_id: str) -> None:
    result = request_op(fake_kube_conn_id, prompts=["a b", "c"], api="chat").execute({})
    assert [c["text"] for c in result["completions"]] == ["echo: a b", "echo: c"]
    bodies = vllm.generation_requests()
    assert len(bodies) == 2
    assert all(
        len(body["messages"]) == 1 and body["messages"][0]["role"] == "user" for body in bodies
    )
    assert sorted(body["messages"][0]["content"] for body in bodies) == ["a b", "c"]


def test_requests_are_repeated_while_the_model_loads(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    vllm.unavailable = 2
    result = request_op(fake_kube_conn_id).execute({})
    assert result["completions"][0]["text"] == "echo: Say hello"
    assert len(vllm.requests) == 3


def test_still_unavailable_after_warmup_timeout_fails_so_that_airflow_retries(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    vllm.unavailable = 1000
    with pytest.raises(
        AirflowException, match=r"\[ServerError\].*prompt 0.*last HTTP 503.*warmup_timeout"
    ) as failed:
        request_op(fake_kube_conn_id, warmup_timeout=2).execute({})
    # Not AirflowFailException: the server may recover before the task's next try.
    assert not isinstance(failed.value, AirflowFailException)
    assert 1 < len(vllm.requests) < 10


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"served_model_name": "other-model"},
            r"\[ModelNotFound\].*'other-model'.*served_model_name",
        ),
        (
            {"prompts": ["x" * 300]},
            r"\[ContextLengthExceeded\].*maximum context length.*max_model_len",
        ),
        ({"extra_body": {"top_k": 5}}, None),
        (
            {"expect": "goodbye"},
            r"\[UnexpectedAnswer\] the answer to prompt 0 does not match expect",
        ),
        ({"prompts": [""]}, r"\[EmptyAnswer\] prompt 0 got an empty answer"),
        ({"extra_body": {"model": "x"}}, r"extra_body sets model.*operator's parameters"),
    ],
    ids=["wrong-model", "too-long", "accepted-extra", "expect", "empty", "reserved-extra"],
)
def test_final_failures_fail_at_once_with_cause_and_fix(
    vllm: FakeVLLM, fake_kube_conn_id: str, kwargs: dict[str, Any], pattern: str | None
) -> None:
    operator = request_op(fake_kube_conn_id, **kwargs)
    if pattern is None:
        operator.execute({})
        assert vllm.generation_requests()[0]["top_k"] == 5  # extra fields reach vLLM
        return
    with pytest.raises(AirflowFailException, match=pattern) as failed:
        operator.execute({})
    assert "x" * 50 not in str(failed.value)  # prompts never quoted
    assert len(vllm.requests) <= 1  # no retry of a final failure


def test_forbidden_proxy_names_the_rbac_fix(
    vllm: FakeVLLM, fake_kube: FakeKubeServer, fake_kube_conn_id: str
) -> None:
    fake_kube.deny("create", "services/proxy", namespace=NS)
    with pytest.raises(
        AirflowFailException, match=r"\[ProxyForbidden\].*'create' on 'services/proxy'"
    ):
        request_op(fake_kube_conn_id).execute({})


def test_url_mode_sends_the_bearer_token_and_never_logs_it(
    vllm: FakeVLLM,
    run_task: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    vllm.token = TOKEN
    monkeypatch.setenv(
        "AIRFLOW_CONN_LLAMA_ENDPOINT", json.dumps({"conn_type": "http", "password": TOKEN})
    )
    with vllm.serve_http() as url:
        run = run_task(
            lambda: request_op(
                "unused", via="url", endpoint_url=f"{url}/v1", auth_conn_id="llama_endpoint"
            )
        )
    assert run.state == "success"
    result = task_instance(run, "ask").xcom_pull(task_ids="ask")
    assert result["completions"][0]["text"] == "echo: Say hello"
    logged = capsys.readouterr().out + caplog.text
    assert TOKEN not in logged


def test_url_mode_without_the_token_says_how_to_send_one(vllm: FakeVLLM) -> None:
    vllm.token = TOKEN
    with vllm.serve_http() as url:
        with pytest.raises(AirflowFailException, match=r"\[Unauthorized\].*auth_conn_id"):
            request_op("unused", via="url", endpoint_url=url).execute({})


def test_no_server_at_all_is_reported_as_not_serving() -> None:
    operator = request_op("unused", via="url", endpoint_url="http://127.0.0.1:9", warmup_timeout=0)
    with pytest.raises(AirflowException, match=r"\[NoAnswer\].*InferenceReadySensor"):
        operator.execute({})


def test_dry_run_sends_nothing() -> None:
    result = request_op("unused", prompts=["a", "b", "c"], batch_size=2, dry_run=True).execute({})
    assert result["dry_run"] is True and result["requests"] == 2 and result["completions"] == []


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"via": "grpc"}, r"via \('grpc'\) must be 'proxy' or 'url'"),
        ({"auth_conn_id": "x"}, r"auth_conn_id needs via='url'"),
        ({"api": "embeddings"}, r"api \('embeddings'\) must be 'completions'.*or 'chat'"),
        ({"max_tokens": 0}, r"max_tokens \(0\) must be at least 1"),
        ({"workload_xcom": None}, r"name \+ namespace, or as workload_xcom"),
    ],
)
def test_bad_parameters_are_refused_when_the_dag_is_parsed(
    kwargs: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        request_op("unused", **kwargs)
