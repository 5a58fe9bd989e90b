"""The one plain-HTTP exchange with a served model's URL (``via="url"`` and endpoint checks).

This module owns calls to an endpoint URL outside the API server: a GET, or a
JSON POST, that never follows a redirect (a bearer token must not travel to
another host; urllib then reports the 3xx status) and hands back
``(status, body)`` with status 0 when no answer came. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _opener() -> Any:
    import urllib.request

    class Refuse(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # urllib then raises HTTPError with the 3xx status

    return urllib.request.build_opener(Refuse)


def url_exchange(
    url: str,
    *,
    body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """GET ``url`` (or POST ``body`` as JSON); ``(HTTP status, body)``, 0 when no answer came."""
    import http.client
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    method = "POST" if body is not None else "GET"
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - user's URL
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with _opener().open(request, timeout=timeout) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as err:
        return int(err.code), err.read() or b""
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return 0, b""
