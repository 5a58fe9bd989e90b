"""The asynchronous executor: the same planned requests, errors and retries, for the triggerer.

This module owns the only calls into the ``kubernetes_asyncio`` transport. Like
the synchronous :class:`~airflow_provider_hfinfer.kube.client.KubeClient` it
sends a :class:`~airflow_provider_hfinfer.kube.requests.KubeRequest`, maps a
failed answer with the one error mapping (:func:`~airflow_provider_hfinfer.
kube.errors.error_for`) and retries transient failures under a
:class:`~airflow_provider_hfinfer.kube.client.RetryPolicy` given with the call.
:meth:`AsyncKubeClient.open` hands back the open response of a list or watch for
its caller to stream; :meth:`AsyncKubeClient.exchange` returns status and raw
body (log tails). ``kubernetes_asyncio`` and ``aiohttp`` are imported lazily.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from airflow_provider_hfinfer.exceptions import KubeAPIError
from airflow_provider_hfinfer.kube.client import RetryPolicy
from airflow_provider_hfinfer.kube.errors import error_for, is_retryable
from airflow_provider_hfinfer.kube.requests import KubeRequest


def transport_errors() -> tuple[type[BaseException], ...]:
    """Failures of the connection itself (refused, reset, timed out, cut mid-stream)."""
    import aiohttp

    return (aiohttp.ClientError, TimeoutError, OSError)


class AsyncKubeClient:
    """Executes planned requests over a ``kubernetes_asyncio`` ``ApiClient``.

    Args:
        api_client: A configured ``kubernetes_asyncio.client.ApiClient``.
        retry: The default retry policy of :meth:`send`.
    """

    def __init__(self, api_client: Any, retry: RetryPolicy | None = None) -> None:
        self.api_client = api_client
        self.retry = retry or RetryPolicy()
        self._rng = random.Random()

    async def open(self, request: KubeRequest, *, timeout: float) -> Any:
        """Send once; return the open 200 response (the caller reads and releases it).

        Raises:
            KubeAPIError: Any other status, mapped by :func:`error_for`
                (410 is :class:`~airflow_provider_hfinfer.exceptions.WatchExpiredError`).
        """
        response = await self.api_client.call_api(**request.call_arguments(timeout))
        if response.status != 200:
            try:
                body = await response.read()
            finally:
                response.release()
            raise error_for(request, int(response.status), body)
        return response

    async def send(self, request: KubeRequest, retry: RetryPolicy | None = None) -> dict[str, Any]:
        """Send one request, retrying transient failures; return the decoded JSON answer.

        Raises:
            KubeAPIError: The request failed for good (the subclass says why).
        """
        policy = retry or self.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                response = await self.open(request, timeout=policy.timeout)
                try:
                    raw = await response.read()
                finally:
                    response.release()
                decoded = json.loads(raw) if raw else {}
                return decoded if isinstance(decoded, dict) else {"items": decoded}
            except KubeAPIError as err:
                if not is_retryable(err.status) or attempt == policy.attempts:
                    raise
            except transport_errors() as err:
                if attempt == policy.attempts:
                    raise error_for(request, 0, str(err).encode()) from err
            await asyncio.sleep(policy.delay(attempt, None, self._rng))
        raise error_for(request, 0, b"no attempt was made")  # attempts < 1

    async def exchange(self, request: KubeRequest, *, timeout: float) -> tuple[int, bytes]:
        """Send once; ``(status, raw body)``, status 0 when no answer came."""
        try:
            response = await self.open(request, timeout=timeout)
            try:
                return 200, bytes(await response.read())
            finally:
                response.release()
        except KubeAPIError as err:
            return err.status, b""
        except transport_errors():
            return 0, b""
