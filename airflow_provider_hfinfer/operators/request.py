"""The request operator: send prompts to a served model (smoke tests, batch inference).

This module owns :class:`HFInferenceRequestOperator`: which workload and model
to ask (explicit or from the create operator's XCom), how requests travel
(the API server's service proxy, or a URL with an optional bearer token from
an Airflow connection), repeating requests while the server is still starting
(bounded by ``warmup_timeout``), running several requests at once, checking
the answers (non-empty, optionally matching a pattern), and the XCom result.
Bodies, answer parsing and failure messages live in
:mod:`airflow_provider_hfinfer.serving.completions`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hfinfer.deploy.target import resolve_target
from airflow_provider_hfinfer.exceptions import InferenceRequestError
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.serving.completions import (
    Api,
    Reply,
    check_answers,
    check_api,
    check_extra_body,
    failure,
    is_retryable,
    is_transient,
    latency_summary,
    parse_reply,
    plan_batches,
    prompt_list,
    request_body,
)
from airflow_provider_hfinfer.serving.http import url_exchange

if TYPE_CHECKING:
    from airflow.sdk import Context

Send = Callable[[str, Mapping[str, Any]], tuple[int, bytes]]
VIA_MODES = ("proxy", "url")
MAX_BACKOFF_SECONDS = 10.0
CANCELLED = "Cancelled"
"""Reason of a request not sent because another one failed (never the task's error)."""
RETRY_AFTER_SERVING_SECONDS = 30.0
"""Once the model answered, how long one request keeps retrying a transient failure."""


class HFInferenceRequestOperator(BaseOperator):
    """Send prompts to a served model and return what it generated.

    Use it as the smoke test after a deployment (one prompt, ``expect`` a
    pattern) or for batch inference (many prompts; map it over chunks with
    ``.partial(...).expand(prompts=...)``). With ``api="completions"`` the
    prompts go ``batch_size`` per request to ``/v1/completions``, which vLLM
    schedules together; with ``api="chat"`` each prompt is one user message to
    ``/v1/chat/completions``. Up to ``max_concurrency`` requests are in flight.

    Until the model first answers, a request answered with "not ready" (no
    answer, 429, 5xx) is sent again with backoff until ``warmup_timeout`` has
    passed; after that each request retries such answers for up to 30 seconds,
    then the task fails in a way Airflow's ``retries`` retry. Any other failure
    fails the task at once, without retries, naming the cause, the prompts of
    the failed request and the fix (wrong served model name, prompt longer than
    the context, refused proxy or endpoint access). On the first failure no new
    request is sent. Prompts and generated text are never logged, and prompts a
    server echoes in its error are cut out. Redirects are not followed.

    A workload with scale-to-zero serves through the KEDA HTTP interceptor:
    use ``via="url"`` with the create operator's XCom, which carries the
    interceptor URL and the ``Host`` header to send (``endpoint_host``); the API
    proxy would bypass the interceptor and never wake the workload.

    The result (XCom) holds ``name``, ``namespace``, ``model``, ``api``,
    ``prompts``, ``requests``, ``completions`` (``index``, ``text``,
    ``finish_reason`` per prompt, in prompt order), ``usage`` (prompt and
    completion tokens) and ``latency_ms`` (``p50``, ``p95``, ``max``).

    Args:
        prompts: The prompts (templated); a single string is one prompt, and a
            template that renders a list (``"{{ ti.xcom_pull(...) }}"``) is read back
            as that list.
        name: The workload name (templated); or use ``workload_xcom``.
        namespace: Its namespace (templated).
        workload_xcom: The create operator's (or readiness sensor's) XCom,
            e.g. ``deploy.output``; gives name, namespace, served model name and URL.
        served_model_name: The model name to ask for (default: from
            ``workload_xcom``, else the workload name).
        api: ``completions`` (default) or ``chat``.
        max_tokens: Tokens to generate per prompt.
        temperature: Sampling temperature (0: greedy, repeatable answers).
        extra_body: More OpenAI/vLLM request fields (templated), e.g.
            ``{"stop": ["###"], "top_p": 0.9}``; may not set what the operator sets.
        expect: A regular expression every generated text must match
            (``re.search``); the task fails naming the prompt index when one does not.
        allow_empty: Accept empty generated text (default: an empty answer fails).
        via: ``proxy`` (default: the Service through the Kubernetes API
            server, works from outside the cluster) or ``url``.
        endpoint_url: Base URL for ``via="url"`` (templated; default: the
            ``endpoint_url`` in ``workload_xcom``), with or without ``/v1``.
        auth_conn_id: Airflow connection whose password is a bearer token for
            endpoints with restricted access (``via="url"`` only: the API server
            does not forward an ``Authorization`` header).
        kubernetes_conn_id: The Airflow Kubernetes connection (``via="proxy"``).
        batch_size: Prompts per ``/v1/completions`` request.
        max_concurrency: Requests in flight at once.
        request_timeout: Seconds one request may take.
        warmup_timeout: Seconds to keep repeating requests answered "not ready".
        dry_run: Log what would be sent; send nothing.
    """

    template_fields: Sequence[str] = (
        "prompts",
        "name",
        "namespace",
        "workload_xcom",
        "served_model_name",
        "extra_body",
        "endpoint_url",
        "kubernetes_conn_id",
    )
    template_fields_renderers = {"extra_body": "json"}
    ui_color = "#ffd21e"

    def __init__(
        self,
        *,
        prompts: Sequence[str] | str,
        name: str | None = None,
        namespace: str | None = None,
        workload_xcom: Mapping[str, Any] | str | None = None,
        served_model_name: str | None = None,
        api: str = "completions",
        max_tokens: int = 64,
        temperature: float = 0.0,
        extra_body: Mapping[str, Any] | None = None,
        expect: str | None = None,
        allow_empty: bool = False,
        via: str = "proxy",
        endpoint_url: str | None = None,
        auth_conn_id: str | None = None,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        batch_size: int = 16,
        max_concurrency: int = 4,
        request_timeout: float = 120.0,
        warmup_timeout: float = 120.0,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if name is None and workload_xcom is None:
            raise ValueError("give the workload as name + namespace, or as workload_xcom")
        if via not in VIA_MODES:
            raise ValueError(f"via ({via!r}) must be 'proxy' or 'url'")
        if auth_conn_id and via != "url":
            raise ValueError(
                "auth_conn_id needs via='url': the Kubernetes API server does not forward "
                "an Authorization header through its service proxy"
            )
        for field, value, low in (
            ("max_tokens", max_tokens, 1),
            ("batch_size", batch_size, 1),
            ("max_concurrency", max_concurrency, 1),
        ):
            if value < low:
                raise ValueError(f"{field} ({value}) must be at least {low}")
        if expect is not None:
            re.compile(expect)
        self.prompts = prompts
        self._prompts_is_template = isinstance(prompts, str) and "{{" in prompts
        self.name = name
        self.namespace = namespace
        self.workload_xcom = workload_xcom
        self.served_model_name = served_model_name
        self.api: Api = check_api(api)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.extra_body = extra_body
        self.expect = expect
        self.allow_empty = allow_empty
        self.via = via
        self.endpoint_url = endpoint_url
        self.auth_conn_id = auth_conn_id
        self.kubernetes_conn_id = kubernetes_conn_id
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.request_timeout = request_timeout
        self.warmup_timeout = warmup_timeout
        self.is_dry_run = dry_run
        self.endpoint_host: str | None = None
        self._stop = threading.Event()
        self._served = threading.Event()

    @cached_property
    def hook(self) -> HFInferenceHook:
        """The hook of the Kubernetes connection (service proxy transport)."""
        return HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)

    # ------------------------------------------------------------ the target

    def _resolve(self) -> tuple[str, str, str, list[str]]:
        """``(name, namespace, model, prompts)`` after templating, checked."""
        target = resolve_target(self.name, self.namespace, self.workload_xcom)
        name, namespace = target.name, target.namespace
        self.served_model_name = self.served_model_name or target.get("served_model_name")
        if not self.endpoint_url:
            self.endpoint_url = target.get("endpoint_url")
            self.endpoint_host = target.get("endpoint_host")
        if self.via == "url" and not self.endpoint_url:
            raise ValueError("via='url' needs endpoint_url (e.g. http://llama.ml.svc/v1)")
        if self.via == "proxy" and self.endpoint_host:
            raise ValueError(
                f"workload {namespace}/{name} scales to zero and serves through the KEDA HTTP "
                "interceptor, which the API proxy bypasses (it would never wake up): use "
                "via='url' with the create operator's XCom, from a worker that reaches the "
                "interceptor"
            )
        prompts = prompt_list(self.prompts, self._prompts_is_template)
        bad = [i for i, prompt in enumerate(prompts) if not isinstance(prompt, str)]
        if bad:
            raise ValueError(f"prompts[{bad[0]}] is not a string: give prompts as a list of text")
        return str(name), str(namespace), str(self.served_model_name or name), prompts

    def _sender(self, name: str, namespace: str) -> tuple[Send, str]:
        """How a request travels, and where to, for messages."""
        if self.via == "proxy":
            # Connect the client now, so its set-up does not eat into warmup_timeout.
            _ = self.hook.kube_hook.api_client

            def via_proxy(path: str, body: Mapping[str, Any]) -> tuple[int, bytes]:
                return self.hook.service_proxy_post(
                    name, namespace, path, body, timeout=self.request_timeout
                )

            return via_proxy, f"service {namespace}/{name} (API proxy)"
        base = str(self.endpoint_url).rstrip("/").removesuffix("/v1")
        headers: dict[str, str] = {}
        if self.endpoint_host:
            headers["Host"] = self.endpoint_host  # the interceptor routes by it
        if self.auth_conn_id:
            from airflow.sdk import BaseHook
            from airflow.sdk.log import mask_secret

            token = BaseHook.get_connection(self.auth_conn_id).password
            if not token:
                raise ValueError(
                    f"connection {self.auth_conn_id!r} has no password: store the endpoint's "
                    "bearer token as the connection's password"
                )
            mask_secret(token)
            headers["Authorization"] = f"Bearer {token}"

        def via_url(path: str, body: Mapping[str, Any]) -> tuple[int, bytes]:
            return url_exchange(
                f"{base}{path}", body=body, headers=headers, timeout=self.request_timeout
            )

        return via_url, base

    # -------------------------------------------------------------- sending

    def _send_until_answered(
        self, send: Send, path: str, body: Mapping[str, Any], warmup_deadline: float
    ) -> tuple[int, bytes, float]:
        """Send once, then again with backoff while the answer says "not ready yet".

        Before the model first answered, retries last until ``warmup_deadline``;
        after that, up to :data:`RETRY_AFTER_SERVING_SECONDS` per request. Nothing
        is sent again once another request failed for good or the task is killed.
        """
        delay = 0.5
        own_deadline = time.monotonic() + RETRY_AFTER_SERVING_SECONDS
        while True:
            started = time.monotonic()
            status, answer = send(path, body)
            elapsed_ms = (time.monotonic() - started) * 1000
            if status == 200:
                self._served.set()
            deadline = own_deadline if self._served.is_set() else warmup_deadline
            if (
                not is_retryable(status)
                or time.monotonic() + delay > deadline
                or self._stop.is_set()
            ):
                return status, answer, elapsed_ms
            self.log.info("%s answered %s; trying again in %.1fs", path, status or "nothing", delay)
            if self._stop.wait(delay):
                return status, answer, elapsed_ms
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _run_batch(
        self,
        send: Send,
        where: str,
        model: str,
        prompts: list[str],
        indexes: range,
        deadline: float,
    ) -> tuple[Reply, float]:
        if self._stop.is_set():
            raise InferenceRequestError("not sent: another request failed", reason=CANCELLED)
        batch = [prompts[i] for i in indexes]
        body = request_body(
            self.api,
            model,
            batch,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            extra=self.extra_body,
        )
        path = "/v1/chat/completions" if self.api == "chat" else "/v1/completions"
        status, answer, elapsed_ms = self._send_until_answered(send, path, body, deadline)
        if status != 200:
            self._stop.set()  # no new request after a failure
            error = failure(status, answer, model=model, where=where, via=self.via, prompts=batch)
            which = (
                f"prompt {indexes[0]}"
                if len(indexes) == 1
                else (f"prompts {indexes[0]}-{indexes[-1]}")
            )
            error.message = f"request for {which}: {error.message}"
            raise error
        return parse_reply(self.api, answer, indexes, where=where), elapsed_ms

    def execute(self, context: Context) -> dict[str, Any]:
        """Send every prompt; fail with the cause on a final error or a failed check."""
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        name, namespace, model, prompts = self._resolve()
        try:
            check_extra_body(self.extra_body)
        except ValueError as err:
            raise AirflowFailException(str(err)) from err
        batches = plan_batches(len(prompts), self.api, self.batch_size)
        result: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "model": model,
            "api": self.api,
            "prompts": len(prompts),
            "requests": len(batches),
        }
        if self.is_dry_run:
            self.log.info(
                "dry run: would send %d prompts in %d %s requests to model %r of %s/%s via %s",
                len(prompts),
                len(batches),
                self.api,
                model,
                namespace,
                name,
                self.via,
            )
            return {**result, "dry_run": True, "completions": [], "usage": {}, "latency_ms": {}}
        if not prompts:
            self.log.info("no prompts: nothing to send")
            return {**result, "completions": [], "usage": {}, "latency_ms": latency_summary([])}
        send, where = self._sender(name, namespace)
        deadline = time.monotonic() + self.warmup_timeout
        self._stop.clear()
        self._served.clear()
        try:
            replies = self._run_all(send, where, model, prompts, batches, deadline)
        except InferenceRequestError as err:
            err.name, err.namespace = name, namespace
            if is_transient(err.reason):
                # The server may recover: let the task's retries have a go.
                raise AirflowException(str(err)) from err
            raise AirflowFailException(str(err)) from err
        generations = [g for reply, _ in replies for g in reply.generations]
        latencies = [elapsed for _, elapsed in replies]
        summary = latency_summary(latencies)
        usage = {
            "prompt_tokens": sum(reply.prompt_tokens for reply, _ in replies),
            "completion_tokens": sum(reply.completion_tokens for reply, _ in replies),
        }
        self.log.info(
            "%s: %d prompts answered in %d requests; %d completion tokens; latency p50 %.0f ms, "
            "max %.0f ms",
            where,
            len(generations),
            len(batches),
            usage["completion_tokens"],
            summary["p50"],
            summary["max"],
        )
        try:
            check_answers(generations, allow_empty=self.allow_empty, expect=self.expect)
        except InferenceRequestError as err:
            err.name, err.namespace = name, namespace
            raise AirflowFailException(str(err)) from err
        return {
            **result,
            "completions": [g.to_xcom() for g in sorted(generations, key=lambda g: g.index)],
            "usage": usage,
            "latency_ms": summary,
        }

    def _run_all(
        self,
        send: Send,
        where: str,
        model: str,
        prompts: list[str],
        batches: list[range],
        deadline: float,
    ) -> list[tuple[Reply, float]]:
        if self.max_concurrency == 1 or len(batches) == 1:
            return [self._run_batch(send, where, model, prompts, b, deadline) for b in batches]
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(batches)))
        futures = [
            pool.submit(self._run_batch, send, where, model, prompts, b, deadline) for b in batches
        ]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors: list[BaseException] = [
                error for f in futures if f in done for error in [f.exception()] if error
            ]
            if errors:
                self._stop.set()  # requests in flight finish; nothing new is sent
                # The failure itself, not a request that was cancelled because of it.
                real = [e for e in errors if getattr(e, "reason", None) != CANCELLED]
                raise (real or errors)[0]
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def on_kill(self) -> None:
        """Send no further request (those in flight end with their timeout)."""
        self._stop.set()
