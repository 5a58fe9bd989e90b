"""HFInferenceRequestOperator in trouble: late errors, cancelling, templates, leaks, routing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from fake_vllm import FakeVLLM
from test_request import MODEL, NAME, NS, request_op

Answer = Any


def _wrap(server: FakeVLLM, handler: Any) -> None:
    """Answer with ``handler(real_answer, method, path, body, headers)``."""
    real = server.answer

    def answer(method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        return handler(real, method, path, body, headers)

    server.answer = answer  # type: ignore[method-assign]


def test_a_late_transient_error_is_retried_after_the_warmup_ran_out(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    calls = {"n": 0}

    def second_request_503(real: Any, *args: Any) -> Answer:
        calls["n"] += 1
        if calls["n"] == 2:
            return 503, {"detail": "Service Unavailable"}
        return real(*args)

    _wrap(vllm, second_request_503)
    result = request_op(
        fake_kube_conn_id,
        prompts=["a b c", "d e f"],
        batch_size=1,
        max_concurrency=1,
        warmup_timeout=0,
    ).execute({})
    assert [c["text"] for c in result["completions"]] == ["echo: a b c", "echo: d e f"]
    assert calls["n"] == 3


def test_after_a_final_failure_no_new_request_is_sent(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    def slow_when_fine(real: Any, method: str, path: str, body: bytes, *rest: Any) -> Answer:
        if b"prompt " in body:
            time.sleep(0.3)  # a good request takes a while; the bad one fails at once
        return real(method, path, body, *rest)

    _wrap(vllm, slow_when_fine)
    prompts = ["x" * 300] + [f"prompt {i}" for i in range(20)]
    with pytest.raises(AirflowFailException, match=r"request for prompt 0: .*too long"):
        request_op(fake_kube_conn_id, prompts=prompts, batch_size=1, max_concurrency=2).execute({})
    # The failed request and the one the second worker had in flight; none after.
    assert len(vllm.generation_requests()) <= 2


def test_a_failed_batch_names_its_prompt_range(vllm: FakeVLLM, fake_kube_conn_id: str) -> None:
    prompts = [f"prompt {i}" for i in range(8)]
    prompts[5] = "y" * 300
    with pytest.raises(AirflowFailException, match=r"request for prompts 4-7: "):
        request_op(fake_kube_conn_id, prompts=prompts, batch_size=4, max_concurrency=1).execute({})


def test_a_templated_list_of_prompts_is_sent_as_that_list(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    operator = request_op(fake_kube_conn_id, prompts="{{ params.prompts }}")
    operator.prompts = "['first prompt', 'second prompt']"  # what Jinja renders
    result = operator.execute({})
    texts = [c["text"] for c in result["completions"]]
    assert texts == ["echo: first prompt", "echo: second prompt"]


def test_a_literal_prompt_that_looks_like_a_list_stays_one_prompt(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    result = request_op(fake_kube_conn_id, prompts="['not', 'a', 'template']").execute({})
    assert result["prompts"] == 1


def test_server_messages_echoing_the_request_do_not_leak_prompts(
    vllm: FakeVLLM, fake_kube_conn_id: str
) -> None:
    secret_prompt = "PATIENT 1234-5678 has condition X"

    def validation_error(real: Any, method: str, path: str, body: bytes, *rest: Any) -> Answer:
        echoed = json.loads(body)
        return 400, {
            "object": "error",
            "message": f"1 validation error: {{'type': 'value_error', 'input': {echoed!r}}}",
        }

    _wrap(vllm, validation_error)
    with pytest.raises(AirflowFailException) as failed:
        request_op(fake_kube_conn_id, prompts=[secret_prompt]).execute({})
    assert "PATIENT" not in str(failed.value)
    assert "request input not shown" in str(failed.value)


def test_scale_to_zero_workloads_are_refused_through_the_proxy_with_the_fix(
    fake_kube_conn_id: str,
) -> None:
    xcom = {
        "name": NAME,
        "namespace": NS,
        "endpoint_url": "http://keda-interceptor.keda:8080/v1",
        "endpoint_host": "llama.ml.svc.cluster.local",
    }
    with pytest.raises(ValueError, match=r"scales to zero.*via='url'"):
        request_op(fake_kube_conn_id, workload_xcom=xcom).execute({})


def test_url_mode_sends_the_interceptor_host_header(vllm: FakeVLLM) -> None:
    seen: list[str | None] = []

    def record_host(real: Any, method: str, path: str, body: bytes, headers: Any) -> Answer:
        seen.append({k.lower(): v for k, v in headers.items()}.get("host"))
        return real(method, path, body, headers)

    _wrap(vllm, record_host)
    with vllm.serve_http() as url:
        xcom = {
            "name": NAME,
            "namespace": NS,
            "served_model_name": MODEL,
            "endpoint_url": f"{url}/v1",
            "endpoint_host": "llama.ml.svc.cluster.local",
        }
        request_op("unused", workload_xcom=xcom, via="url").execute({})
    assert seen == ["llama.ml.svc.cluster.local"]


def test_redirects_are_not_followed_with_the_token(vllm: FakeVLLM, monkeypatch: Any) -> None:
    followed: list[str] = []

    def redirect(real: Any, method: str, path: str, *rest: Any) -> Answer:
        if path.startswith("/elsewhere"):
            followed.append(path)
        return 307, {"location": "/elsewhere"}

    _wrap(vllm, redirect)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LLAMA_ENDPOINT", json.dumps({"conn_type": "http", "password": "tok-123"})
    )
    with vllm.serve_http() as url:
        with pytest.raises(AirflowFailException, match=r"HTTP 307"):
            request_op(
                "unused", via="url", endpoint_url=url, auth_conn_id="llama_endpoint"
            ).execute({})
    assert followed == []
