"""Requests to a served model: bodies, answers, failures, batching and latency figures.

This module owns what the request operator sends to vLLM's OpenAI-compatible
API (``/v1/completions`` and ``/v1/chat/completions``) and how it reads the
answer: the request bodies, the split of prompts into requests, the parse of a
reply into :class:`Generation` entries, the decision whether a failed request
is worth repeating (the server is still starting) or is final, and the message
for a final failure, naming the cause and the fix. It is pure: no I/O, no
client imports; the operator sends the requests.

Prompts and generated text never appear in error messages: they may hold data
a DAG author does not want in logs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_hfinfer.exceptions import InferenceRequestError
from airflow_provider_hfinfer.spec.literal import read_back

Api = Literal["completions", "chat"]
APIS: tuple[str, ...] = ("completions", "chat")
PATHS: dict[str, str] = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}

# Statuses a starting, restarting or busy server answers; a later attempt may succeed.
# 0 stands for "no HTTP answer at all" (refused, reset, timed out).
RETRYABLE_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})
# Body keys the operator sets itself; ``extra_body`` may not override them.
RESERVED_BODY_KEYS = frozenset(
    {"model", "prompt", "messages", "max_tokens", "temperature", "stream", "n"}
)
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Generation:
    """What the model generated for one prompt.

    Attributes:
        index: Position of the prompt in the operator's ``prompts`` list.
        text: The generated text (for chat: the assistant message's content).
        finish_reason: Why generation stopped: ``stop``, ``length`` (hit
            ``max_tokens``) or None when the server did not say.
    """

    index: int
    text: str
    finish_reason: str | None

    def to_xcom(self) -> dict[str, Any]:
        """The generation as JSON primitives."""
        return {"index": self.index, "text": self.text, "finish_reason": self.finish_reason}


@dataclass(frozen=True)
class Reply:
    """One parsed answer of the server.

    Attributes:
        generations: One entry per prompt of the request, by prompt index.
        prompt_tokens: Prompt tokens the server counted (0 when not reported).
        completion_tokens: Generated tokens the server counted (0 when not reported).
    """

    generations: tuple[Generation, ...]
    prompt_tokens: int
    completion_tokens: int


def check_api(api: str) -> Api:
    """Return ``api`` when it is one of :data:`APIS`; raise ``ValueError`` with the fix."""
    if api == "completions":
        return "completions"
    if api == "chat":
        return "chat"
    raise ValueError(
        f"api ({api!r}) must be 'completions' (/v1/completions, prompts sent in batches) "
        "or 'chat' (/v1/chat/completions, one user message per prompt)"
    )


def check_extra_body(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The extra body fields, refusing those the operator sets itself."""
    fields = dict(extra or {})
    clash = sorted(RESERVED_BODY_KEYS & set(fields))
    if clash:
        raise ValueError(
            f"extra_body sets {', '.join(clash)}, which the operator sets itself: use the "
            "operator's parameters (served_model_name, prompts, max_tokens, temperature) instead"
        )
    return fields


def plan_batches(count: int, api: Api, batch_size: int) -> list[range]:
    """Prompt indexes per request: ``batch_size`` per request for completions, 1 for chat.

    vLLM accepts a list of prompts in one ``/v1/completions`` request and
    schedules them together; the chat API takes one conversation per request.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size ({batch_size}) must be at least 1")
    size = batch_size if api == "completions" else 1
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def request_body(
    api: Api,
    model: str,
    prompts: Sequence[str],
    *,
    max_tokens: int,
    temperature: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of one request for ``prompts`` (exactly one prompt for chat)."""
    body: dict[str, Any] = dict(extra or {})
    body.update({"model": model, "max_tokens": max_tokens, "temperature": temperature})
    if api == "chat":
        if len(prompts) != 1:
            raise ValueError(f"a chat request holds one prompt, not {len(prompts)}")
        body["messages"] = [{"role": "user", "content": prompts[0]}]
    else:
        body["prompt"] = prompts[0] if len(prompts) == 1 else list(prompts)
    return body


def is_retryable(status: int) -> bool:
    """Whether a request that got ``status`` may succeed when sent again later."""
    return status in RETRYABLE_STATUSES


TRANSIENT_REASONS = frozenset({"NoAnswer", "ServerError"})
"""Failure reasons a later task try may not meet (the others need a fix first)."""


def is_transient(reason: str | None) -> bool:
    """Whether a failure with ``reason`` is worth an Airflow task retry."""
    return reason in TRANSIENT_REASONS


_INPUT_ECHO = re.compile(r"""['"]?input['"]?\s*[:=]""")
MIN_REDACTED_PROMPT = 8
"""Prompts at least this long are cut out of server messages (shorter ones are too common)."""


def _redact(text: str, prompts: Sequence[str]) -> str:
    """The text without echoed request input: vLLM's validation errors quote the body."""
    echo = _INPUT_ECHO.search(text)
    if echo:
        text = text[: echo.start()].rstrip(" ,{[(") + " [request input not shown]"
    for prompt in sorted(prompts, key=len, reverse=True):
        if len(prompt) >= MIN_REDACTED_PROMPT:
            text = text.replace(prompt, "[prompt]")
    return text


def _error_text(body: bytes, prompts: Sequence[str] = ()) -> str:
    """The server's own error message, without request input, shortened; empty when none."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return _redact(body.decode(errors="replace").strip(), prompts)[:MAX_ERROR_CHARS]
    if isinstance(parsed, Mapping):
        for key in ("message", "detail", "error"):
            value = parsed.get(key)
            if isinstance(value, Mapping):
                value = value.get("message")
            if isinstance(value, str) and value:
                return _redact(value, prompts)[:MAX_ERROR_CHARS]
    return ""


def _is_kube_status(body: bytes) -> bool:
    """Whether the body is a Kubernetes ``Status``: the API server, not vLLM, answered."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, Mapping) and parsed.get("kind") == "Status"


def failure(
    status: int,
    body: bytes,
    *,
    model: str,
    where: str,
    via: str,
    prompts: Sequence[str] = (),
) -> InferenceRequestError:
    """The error for a request that failed for good, with the cause and the fix.

    Args:
        status: The last HTTP status (0: no answer).
        body: The last answer's body.
        model: The served model name the request asked for.
        where: Where the request went, for the message (service or URL).
        via: ``proxy`` or ``url``: how the request was sent.
        prompts: The request's prompts, cut out of the server's message if echoed.
    """
    said = _error_text(body, prompts)
    quoted = f" (it said: {said})" if said else ""
    if via == "proxy" and _is_kube_status(body):
        from_kube = _kube_failure(status, quoted, where)
        if from_kube is not None:
            return from_kube
    if 300 <= status < 400:
        return InferenceRequestError(
            f"{where} redirected the request (HTTP {status}): redirects are not followed, so "
            "that a token never travels to another host; give the final URL as endpoint_url",
            reason="Redirected",
        )
    if 400 <= status < 500:
        return _client_failure(status, said, quoted, model=model, where=where)
    if status == 0:
        return InferenceRequestError(
            f"no answer from {where}: the workload is not serving; wait for it with "
            "InferenceReadySensor before sending requests, or raise warmup_timeout",
            reason="NoAnswer",
        )
    return InferenceRequestError(
        f"{where} kept failing (last HTTP {status}){quoted}: check the serving pods' logs; "
        "raise warmup_timeout if the model was still loading",
        reason="ServerError",
    )


def _kube_failure(status: int, quoted: str, where: str) -> InferenceRequestError | None:
    """The API server itself answered the proxied request (not the model server)."""
    if status == 403:
        return InferenceRequestError(
            f"the Kubernetes API server refused to proxy to {where} (HTTP {status}){quoted}: "
            "grant 'create' on 'services/proxy' in the namespace (see deploy/rbac.yaml)",
            reason="ProxyForbidden",
        )
    if status == 401:
        return InferenceRequestError(
            f"the Kubernetes API server did not accept the connection's credentials (HTTP 401)"
            f"{quoted}: renew the token or kubeconfig of the Kubernetes connection",
            reason="ProxyUnauthorized",
        )
    if status == 404:
        return InferenceRequestError(
            f"{where} does not exist{quoted}: deploy the workload first, or check its name "
            "and namespace (a TTL cleanup may have deleted it)",
            reason="ServiceNotFound",
        )
    return None


def _client_failure(
    status: int, said: str, quoted: str, *, model: str, where: str
) -> InferenceRequestError:
    """A 4xx from the model server (or the mesh in front of it)."""
    if status in (401, 403):
        return InferenceRequestError(
            f"{where} refused the request (HTTP {status}){quoted}: the endpoint's access is "
            "restricted (endpoint_access); send a token with auth_conn_id and via='url', "
            "or make the request as an allowed user",
            reason="Unauthorized",
        )
    if status == 404 and "does not exist" in said:
        return InferenceRequestError(
            f"{where} does not serve the model {model!r}{quoted}: use the workload's "
            "served model name (served_model_name in the create task's result)",
            reason="ModelNotFound",
        )
    if status == 404:
        return InferenceRequestError(
            f"{where} answered 404{quoted}: it is not a vLLM OpenAI-compatible server, or "
            "endpoint_url is wrong (give the base URL, with or without /v1)",
            reason="NotFound",
        )
    if status == 400 and "context length" in said:
        return InferenceRequestError(
            f"{where} rejected a prompt as too long{quoted}: shorten the prompt or lower "
            "max_tokens, or serve a longer context (vllm.max_model_len)",
            reason="ContextLengthExceeded",
        )
    return InferenceRequestError(
        f"{where} rejected the request (HTTP {status}){quoted}: check max_tokens, "
        "temperature and extra_body against the vLLM OpenAI API",
        reason="BadRequest",
    )


def _usage(parsed: Mapping[str, Any]) -> tuple[int, int]:
    usage = parsed.get("usage")
    if not isinstance(usage, Mapping):
        return 0, 0
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


def _choice_text(api: Api, choice: Mapping[str, Any]) -> str | None:
    if api == "chat":
        message = choice.get("message")
        content = message.get("content") if isinstance(message, Mapping) else None
        return content if isinstance(content, str) else None
    text = choice.get("text")
    return text if isinstance(text, str) else None


def parse_reply(api: Api, body: bytes, indexes: range, *, where: str) -> Reply:
    """Read a 200 answer into one :class:`Generation` per prompt of the request.

    Raises:
        InferenceRequestError: The answer is not JSON, or its choices do not
            match the prompts sent (reason ``BadAnswer``).
    """

    def bad(rule: str) -> InferenceRequestError:
        return InferenceRequestError(
            f"{where} answered 200 but {rule}: is it a vLLM OpenAI-compatible server?",
            reason="BadAnswer",
        )

    try:
        parsed = json.loads(body)
    except ValueError:
        raise bad("the body is not JSON") from None
    choices = parsed.get("choices") if isinstance(parsed, Mapping) else None
    if not isinstance(choices, list) or len(choices) != len(indexes):
        got = len(choices) if isinstance(choices, list) else "no"
        raise bad(f"with {got} choices for {len(indexes)} prompts")
    generations: list[Generation] = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, Mapping):
            raise bad("a choice is not an object")
        text = _choice_text(api, choice)
        if text is None:
            raise bad("a choice has no text")
        at = choice.get("index", position)
        if not isinstance(at, int) or not 0 <= at < len(indexes):
            raise bad(f"a choice has index {at!r}, not one of 0..{len(indexes) - 1}")
        reason = choice.get("finish_reason")
        generations.append(
            Generation(indexes[at], text, reason if isinstance(reason, str) else None)
        )
    if len({g.index for g in generations}) != len(generations):
        raise bad("two choices answer the same prompt")
    prompt_tokens, completion_tokens = _usage(parsed)
    ordered = tuple(sorted(generations, key=lambda item: item.index))
    return Reply(ordered, prompt_tokens, completion_tokens)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile and maximum request latency, in milliseconds."""
    return {
        "p50": round(percentile(latencies_ms, 0.5), 1),
        "p95": round(percentile(latencies_ms, 0.95), 1),
        "max": round(max(latencies_ms, default=0.0), 1),
    }


def prompt_list(rendered: Any, was_template: bool) -> list[Any]:
    """The prompts as a list; a template that rendered a list to text is read back."""
    if not isinstance(rendered, str):
        return list(rendered)
    if was_template and rendered.lstrip().startswith("["):
        parsed = read_back(rendered, what="prompts")
        if isinstance(parsed, list):
            return parsed
    return [rendered]


def check_answers(
    generations: Sequence[Generation], *, allow_empty: bool, expect: str | None
) -> None:
    """Fail on an empty answer (unless allowed) or one that does not match ``expect``.

    Raises:
        InferenceRequestError: ``EmptyAnswer`` or ``UnexpectedAnswer``, naming the prompt
            by its index (never its text).
    """
    for generation in generations:
        if not generation.text.strip() and not allow_empty:
            raise InferenceRequestError(
                f"prompt {generation.index} got an empty answer (finish_reason "
                f"{generation.finish_reason}): raise max_tokens, check the prompt, or "
                "set allow_empty=True",
                reason="EmptyAnswer",
            )
        if expect is not None and not re.search(expect, generation.text):
            raise InferenceRequestError(
                f"the answer to prompt {generation.index} does not match expect "
                f"({expect!r}); the model or its revision may be wrong",
                reason="UnexpectedAnswer",
            )
