"""The thin executor: sends planned requests with bounded retries, nothing more.

This module owns the only calls into the ``kubernetes`` client's transport.
It knows no business rules: it sends a :class:`KubeRequest`, retries 429, 5xx
and dropped connections with exponential backoff and jitter (honouring
``Retry-After``) under the retry policy given with the call (or the client's
default), and turns failures into the errors of ``kube.errors``. Raw reads
(service proxy, pod logs) go through :meth:`KubeClient.exchange`, which hands
the status and body back to the caller that judges them.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_hfinfer.exceptions import KubeAPIError
from airflow_provider_hfinfer.kube.errors import error_for, is_retryable
from airflow_provider_hfinfer.kube.requests import KubeRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures.

    Attributes:
        attempts: Tries in all, the first included.
        base_delay: Delay before the second try, in seconds; doubles each time.
        max_delay: Longest single delay.
        timeout: Per-request (connect, read) timeout in seconds.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 10.0
    timeout: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try ``attempt + 1`` (full jitter, capped)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class KubeClient:
    """Executes planned requests over a ``kubernetes.client.ApiClient``.

    Args:
        api_client: A configured ``kubernetes.client.ApiClient``.
        retry: The retry policy for transient failures.
        sleep: Injected for tests; ``time.sleep`` by default.
    """

    def __init__(
        self,
        api_client: Any,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_client = api_client
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random()

    def send(self, request: KubeRequest, retry: RetryPolicy | None = None) -> dict[str, Any]:
        """Send one request, retrying transient failures; return the decoded answer.

        Args:
            request: The planned call.
            retry: This call's retry policy (default: the client's).

        Raises:
            KubeAPIError: The request failed for good (the subclass says why).
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        policy = retry or self.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                return _decode(self._send_once(request, policy.timeout))
            except ApiException as err:
                status, body, retry_after = err.status or 0, err.body, _retry_after(err.headers)
            except (Urllib3Error, ConnectionError) as err:
                status, body, retry_after = 0, str(err).encode(), None
            if not is_retryable(status) or attempt == policy.attempts:
                raise error_for(request, status, body)
            wait = policy.delay(attempt, retry_after, self._rng)
            log.warning(
                "%s: %s, retrying in %.1fs (attempt %d/%d)",
                request.describe(),
                f"HTTP {status}" if status else "connection dropped",
                wait,
                attempt + 1,
                policy.attempts,
            )
            self._sleep(wait)
        raise KubeAPIError(  # pragma: no cover - the loop always returns or raises
            "retry loop ended unexpectedly",
            status=0,
            verb=request.verb,
            resource=request.resource.label,
        )

    def exchange(self, request: KubeRequest, *, timeout: float = 10) -> tuple[int, bytes]:
        """Send once and return ``(HTTP status, raw body)`` whatever the status.

        For calls whose caller judges the answer itself (service proxy, log reads):
        status 0 and an empty body when no answer came (refused, reset, timed out).
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            response = self._send_once(request, timeout)
        except ApiException as err:
            body = err.body if isinstance(err.body, bytes) else str(err.body or "").encode()
            return int(err.status or 0), body
        except (Urllib3Error, OSError):
            return 0, b""
        return int(response.status), bytes(response.data)

    def _send_once(self, request: KubeRequest, timeout: float) -> Any:
        return self.api_client.call_api(**request.call_arguments(timeout))

    def get_or_none(
        self, request: KubeRequest, retry: RetryPolicy | None = None
    ) -> dict[str, Any] | None:
        """Send a GET; return None for 404 (object or kind absent)."""
        try:
            return self.send(request, retry)
        except KubeAPIError as err:
            if err.status == 404:
                return None
            raise

    def list_items(
        self, request: KubeRequest, retry: RetryPolicy | None = None
    ) -> list[dict[str, Any]]:
        """Send a list; a kind whose CRD is not installed (404) lists as empty."""
        answer = self.get_or_none(request, retry)
        items = (answer or {}).get("items") or []
        return [item for item in items if isinstance(item, dict)]


def _decode(response: Any) -> dict[str, Any]:
    """The JSON object of an answer (a bare list becomes ``{"items": [...]}``)."""
    raw = response.data
    if not raw:
        return {}
    decoded = json.loads(raw)
    return decoded if isinstance(decoded, dict) else {"items": decoded}
