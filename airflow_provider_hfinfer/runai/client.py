"""The one HTTP client of the Run:ai control plane: token, retries with backoff, errors.

This module owns :class:`RunaiClient`, which sends the planned
:class:`~.requests.RunaiRequest` calls over HTTPS (standard library only, no
redirects followed: a bearer token must not travel to another host). It gets an
application token from the client id and secret (``POST /api/v2/token``, the
OAuth2 form; ``/api/v1/token`` on a control plane without it),
reuses it until shortly before it expires, and asks for a new one once when a
call answers 401. Answers 429 and 5xx (and dropped connections of idempotent
calls) are sent again with exponential backoff, honouring ``Retry-After``; every
other failure becomes the error :func:`.errors.error_for` builds. The client
secret and the token never reach a log or a message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_hfinfer.exceptions import RunaiAPIError
from airflow_provider_hfinfer.runai.errors import error_for, is_retryable
from airflow_provider_hfinfer.runai.requests import RunaiRequest, plan_token, plan_token_v2

TOKEN_MARGIN_SECONDS = 60
"""A token this close to expiry is replaced before the next call."""
DEFAULT_TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class Backoff:
    """How failed calls are sent again.

    Attributes:
        attempts: Sends in all (1: no retry).
        first_delay: Seconds before the second send; doubled each time.
        max_delay: Longest wait between sends (also caps ``Retry-After``).
        timeout: Seconds one send may take.
    """

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed send number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return float(min(self.first_delay * (2 ** (attempt - 1)), self.max_delay))


@dataclass(frozen=True)
class Answer:
    """One answer of the control plane.

    Attributes:
        status: HTTP status (0 when no answer came).
        body: The raw body.
        date: The answer's ``Date`` header (the control plane's clock), if any.
        retry_after: Seconds from ``Retry-After``, if any.
    """

    status: int
    body: bytes
    date: datetime | None = None
    retry_after: float | None = None

    def json(self) -> Any:
        """The body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


def _opener() -> Any:
    import urllib.request

    class Refuse(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError with the 3xx status

    return urllib.request.build_opener(Refuse)


def _headers_of(headers: Any) -> tuple[datetime | None, float | None]:
    date: datetime | None = None
    retry_after: float | None = None
    raw_date = headers.get("Date") if headers is not None else None
    if raw_date:
        try:
            date = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError):
            date = None
    raw_retry = headers.get("Retry-After") if headers is not None else None
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    return date, retry_after


def exchange(url: str, request: RunaiRequest, token: str | None, timeout: float) -> Answer:
    """Send one request once; the answer, status 0 when none came."""
    import http.client
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    data = None
    if request.body is not None:
        text = urlencode(request.body) if request.form else json.dumps(request.body)
        data = text.encode()
    sent = urllib.request.Request(url + request.url_path(), data=data, method=request.method)
    sent.add_header("Accept", "application/json")
    if data is not None:
        kind = "application/x-www-form-urlencoded" if request.form else "application/json"
        sent.add_header("Content-Type", kind)
    if token:
        sent.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener().open(sent, timeout=timeout) as answer:
            date, retry_after = _headers_of(answer.headers)
            return Answer(int(answer.status), bytes(answer.read()), date, retry_after)
    except urllib.error.HTTPError as err:
        date, retry_after = _headers_of(err.headers)
        return Answer(int(err.code), err.read() or b"", date, retry_after)
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return Answer(0, b"")


class RunaiClient:
    """Sends planned requests to one Run:ai control plane as one application.

    Args:
        base_url: The control plane, e.g. ``https://acme.run.ai`` (no trailing path).
        client_id: The application's (service account's) client id.
        client_secret: Its secret; kept in memory only.
        backoff: How failed calls are sent again.
        on_token: Called with every new token (the hook masks it in Airflow's logs).
        sleep: Injected for tests.
        clock: Injected for tests (epoch seconds).
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        backoff: Backoff | None = None,
        on_token: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.backoff = backoff or Backoff()
        self._on_token = on_token
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._token_v1 = False
        """The control plane has no ``/api/v2/token``: ask v1 (learnt once per client)."""
        self.sent = 0
        """Requests sent so far (token requests included), for the README's rate figures."""

    def __repr__(self) -> str:
        return f"RunaiClient({self.base_url!r}, client_id={self._client_id!r})"

    # ------------------------------------------------------------------ token

    def _token_answer(self) -> tuple[RunaiRequest, Answer]:
        """Ask ``/api/v2/token`` first; without it (404/405), v1 from then on."""
        if not self._token_v1:
            request = plan_token_v2(self._client_id, self._client_secret)
            answer = self._with_retries(request, token=None)
            if answer.status not in (404, 405):
                return request, answer
            self._token_v1 = True
        request = plan_token(self._client_id, self._client_secret)
        return request, self._with_retries(request, token=None)

    def _fetch_token(self) -> str:
        request, answer = self._token_answer()
        if answer.status != 200:
            raise error_for(request, answer.status, answer.body)
        parsed = answer.json() if answer.body else {}
        if not isinstance(parsed, dict):
            parsed = {}
        # v2 answers as OAuth2 does (access_token, expires_in); v1 in camel case.
        token = parsed.get("access_token") or parsed.get("accessToken")
        if not isinstance(token, str) or not token:
            raise RunaiAPIError(
                "the Run:ai token endpoint answered without an accessToken: check that the "
                "connection's host is the control plane's URL",
                status=answer.status,
                method=request.method,
                path=request.path,
                reason="NoToken",
            )
        lifetime = parsed.get("expires_in") or parsed.get("expiresIn")
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else None
        self._expires = self._clock() + (seconds or DEFAULT_TOKEN_LIFETIME)
        if self._on_token is not None:
            self._on_token(token)
        return token

    def token(self, *, renew: bool = False) -> str:
        """A valid application token (a new one when ``renew`` or near expiry)."""
        if renew or self._token is None or self._clock() >= self._expires - TOKEN_MARGIN_SECONDS:
            self._token = self._fetch_token()
        return self._token

    # ---------------------------------------------------------------- sending

    def _with_retries(self, request: RunaiRequest, token: str | None) -> Answer:
        attempt = 0
        while True:
            attempt += 1
            self.sent += 1
            answer = exchange(self.base_url, request, token, self.backoff.timeout)
            if not is_retryable(answer.status, request) or attempt >= self.backoff.attempts:
                return answer
            self._sleep(self.backoff.delay(attempt, answer.retry_after))

    def answer(
        self, request: RunaiRequest, *, project: str | None = None, name: str | None = None
    ) -> Answer:
        """Send ``request`` (retried, token renewed once on 401); the successful answer.

        Raises:
            RunaiAPIError: The most specific error for a failed request.
        """
        token = self.token() if request.authenticated else None
        answer = self._with_retries(request, token)
        if answer.status == 401 and request.authenticated:
            answer = self._with_retries(request, self.token(renew=True))
        if not 200 <= answer.status < 300:
            raise error_for(request, answer.status, answer.body, project=project, name=name)
        return answer

    def send(
        self, request: RunaiRequest, *, project: str | None = None, name: str | None = None
    ) -> Any:
        """Send ``request``; its JSON answer (None when the body is empty)."""
        return self.answer(request, project=project, name=name).json()

    def get_or_none(
        self, request: RunaiRequest, *, project: str | None = None, name: str | None = None
    ) -> Any:
        """Send a read; None when it answers 404."""
        try:
            return self.send(request, project=project, name=name)
        except RunaiAPIError as err:
            if err.status == 404:
                return None
            raise


def server_now(answer: Answer) -> datetime:
    """The control plane's time of an answer (its ``Date``), else this machine's."""
    return answer.date or datetime.now(timezone.utc)
