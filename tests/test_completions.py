"""The pure request logic: bodies, batching, answers, failure messages, latency figures."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hfinfer.exceptions import InferenceRequestError
from airflow_provider_hfinfer.serving.completions import (
    check_api,
    check_extra_body,
    failure,
    is_retryable,
    latency_summary,
    parse_reply,
    percentile,
    plan_batches,
    request_body,
)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("count", "api", "size", "expected"),
    [
        (0, "completions", 4, []),
        (3, "completions", 4, [[0, 1, 2]]),
        (9, "completions", 4, [[0, 1, 2, 3], [4, 5, 6, 7], [8]]),
        (3, "chat", 4, [[0], [1], [2]]),
    ],
)
def test_plan_batches(count: int, api: str, size: int, expected: list[list[int]]) -> None:
    assert [list(r) for r in plan_batches(count, check_api(api), size)] == expected


def test_bodies_put_the_operator_fields_over_extra_fields() -> None:
    body = request_body(
        "completions", "m", ["a", "b"], max_tokens=8, temperature=0.5, extra={"top_p": 0.9}
    )
    assert body == {
        "top_p": 0.9,
        "model": "m",
        "max_tokens": 8,
        "temperature": 0.5,
        "prompt": ["a", "b"],
    }
    chat = request_body("chat", "m", ["hi"], max_tokens=8, temperature=0.0)
    assert chat["messages"] == [{"role": "user", "content": "hi"}] and "prompt" not in chat
    with pytest.raises(ValueError, match="one prompt, not 2"):
        request_body("chat", "m", ["a", "b"], max_tokens=8, temperature=0.0)


def test_extra_body_may_not_set_what_the_operator_sets() -> None:
    assert check_extra_body({"stop": ["\n"]}) == {"stop": ["\n"]}
    with pytest.raises(ValueError, match="extra_body sets max_tokens, prompt"):
        check_extra_body({"prompt": "x", "max_tokens": 3})


@pytest.mark.parametrize("status", [0, 429, 502, 503, 504])
def test_not_ready_answers_are_retryable(status: int) -> None:
    assert is_retryable(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 422])
def test_final_answers_are_not_retryable(status: int) -> None:
    assert not is_retryable(status)


@pytest.mark.parametrize(
    ("status", "body", "via", "reason", "fix"),
    [
        (
            403,
            _json({"kind": "Status", "reason": "Forbidden"}),
            "proxy",
            "ProxyForbidden",
            "rbac.yaml",
        ),
        (403, _json({"error": "RBAC: access denied"}), "url", "Unauthorized", "auth_conn_id"),
        (403, _json({"error": "RBAC: access denied"}), "proxy", "Unauthorized", "endpoint_access"),
        (
            404,
            _json({"object": "error", "message": "The model `x` does not exist."}),
            "url",
            "ModelNotFound",
            "served_model_name",
        ),
        (404, _json({"detail": "Not Found"}), "url", "NotFound", "endpoint_url"),
        (
            400,
            _json({"message": "This model's maximum context length is 8192 tokens."}),
            "url",
            "ContextLengthExceeded",
            "max_model_len",
        ),
        (
            400,
            _json({"message": "temperature must be non-negative"}),
            "url",
            "BadRequest",
            "extra_body",
        ),
        (0, b"", "url", "NoAnswer", "InferenceReadySensor"),
        (503, b"upstream connect error", "proxy", "ServerError", "warmup_timeout"),
    ],
)
def test_failures_name_the_cause_and_the_fix(
    status: int, body: bytes, via: str, reason: str, fix: str
) -> None:
    error = failure(status, body, model="x", where="svc", via=via)
    assert isinstance(error, InferenceRequestError)
    assert error.reason == reason
    assert fix in str(error)


def test_the_servers_own_message_is_quoted_but_shortened() -> None:
    error = failure(400, _json({"message": "y" * 1000}), model="m", where="svc", via="url")
    assert "y" * 300 in str(error) and "y" * 301 not in str(error)


def test_parse_reply_orders_choices_by_index_and_sums_usage() -> None:
    body = _json(
        {
            "choices": [
                {"index": 1, "text": "second", "finish_reason": "length"},
                {"index": 0, "text": "first", "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7},
        }
    )
    reply = parse_reply("completions", body, range(10, 12), where="svc")
    assert [(g.index, g.text, g.finish_reason) for g in reply.generations] == [
        (10, "first", "stop"),
        (11, "second", "length"),
    ]
    assert (reply.prompt_tokens, reply.completion_tokens) == (5, 7)


def test_parse_reply_reads_chat_messages() -> None:
    body = _json({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]})
    [generation] = parse_reply("chat", body, range(3, 4), where="svc").generations
    assert (generation.index, generation.text, generation.finish_reason) == (3, "hi", None)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"<html>", "not JSON"),
        (_json({"choices": []}), "0 choices for 2 prompts"),
        (_json({"data": []}), "no choices for 2 prompts"),
        (_json({"choices": [{"text": "a"}, {"index": 1}]}), "a choice has no text"),
    ],
)
def test_parse_reply_rejects_answers_that_are_not_completions(body: bytes, rule: str) -> None:
    with pytest.raises(InferenceRequestError, match=rule):
        parse_reply("completions", body, range(2), where="svc")


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert percentile([], 0.5) == 0.0
    assert latency_summary([3.0, 1.0, 2.0]) == {"p50": 2.0, "p95": 3.0, "max": 3.0}


def test_unknown_api_names_the_choices() -> None:
    with pytest.raises(ValueError, match="'completions'.*or 'chat'"):
        check_api("embeddings")
