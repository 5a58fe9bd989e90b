"""Reading a model's metadata from the Hugging Face Hub, in two bounded requests.

This module owns every network call of the pre-flight checks:

1. ``GET {endpoint}/api/models/{model}[/revision/{rev}]?expand=...``, the
   request ``HfApi.model_info`` sends, for the safetensors parameter counts
   per dtype, the gated/private flags and the commit sha;
2. ``GET {endpoint}/{model}/resolve/{sha}/config.json``, pinned to the commit
   the first answer named so both facts describe the same commit.

Both go through huggingface_hub's shared session (``get_session()``: its
offline-mode guard, request ids and token-masking debug log) and its
``hf_raise_for_status`` (its error classes), but not through ``HfApi`` or
``hf_hub_download``, measured against the fake Hub in the tests:
``HfApi.model_info`` builds its headers with ``build_hf_headers``, which in
huggingface_hub 2.4 fetches ``/api/agent-harnesses`` (telemetry, 3 s timeout,
at the endpoint fixed at import) once per process, and ``hf_hub_download``
sends a HEAD before its GET and writes to the local cache. We build the two
headers we need (user agent, bearer token) ourselves.

Results are cached per (endpoint, model, revision, token digest) for the life
of the process; failures are not cached so that a user who fixes their access
sees it at once. Errors come out
as :class:`~airflow_provider_hfinfer.exceptions.HubAccessError` with a
message meant for a person; the token never appears in a message or a log.

``huggingface_hub`` and its HTTP client are imported inside the functions so
that importing this package stays cheap for DAG parsing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_hfinfer.exceptions import HubAccessError

if TYPE_CHECKING:
    from huggingface_hub.errors import HfHubHTTPError

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT = 10.0
"""Seconds allowed for each of connect, read, write and pool wait, per request."""

_CACHE_SIZE = 256


@dataclass(frozen=True)
class HubModel:
    """What the Hub told us about one model at one revision.

    Attributes:
        model_id: The repository id, e.g. ``meta-llama/Llama-3.1-8B``.
        revision: The revision the caller asked for (``None``: the default branch).
        sha: The commit the answers describe, when the Hub named it.
        gated: ``"auto"`` or ``"manual"`` for a gated model, ``None`` otherwise.
        private: Whether the repository is private, when known.
        parameters: Safetensors parameter counts per dtype (e.g. ``{"BF16": 8030261248}``);
            empty when the Hub has no safetensors metadata for the model.
        total_parameters: The Hub's total parameter count, when known.
        config: The parsed ``config.json``.
    """

    model_id: str
    revision: str | None
    sha: str | None
    gated: str | None
    private: bool | None
    parameters: Mapping[str, int] = field(default_factory=dict)
    total_parameters: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HubFetch:
    """A :class:`HubModel` and how many HTTP requests it took (0 from the cache).

    Attributes:
        model: What the Hub said about the model at the requested revision.
        requests: HTTP requests sent to the Hub for this answer: 0 when it came
            from the process cache, otherwise 2 (model info, then
            ``config.json``); reported so the checks' network cost is visible.
    """

    model: HubModel
    requests: int


@dataclass(frozen=True)
class _Call:
    """The context a Hub error is translated in (never holds the token itself)."""

    model_id: str
    revision: str | None
    endpoint: str
    timeout: float
    token_given: bool


_CacheKey = tuple[str, str, str, str]
_CACHE: OrderedDict[_CacheKey, HubModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def resolve_endpoint(endpoint: str | None = None) -> str:
    """Return the Hub base URL to use, without a trailing slash.

    Args:
        endpoint: An explicit endpoint; wins over ``HF_ENDPOINT``.

    Returns:
        ``endpoint``, else ``$HF_ENDPOINT`` read at call time (huggingface_hub
        reads it only at import), else ``https://huggingface.co``.
    """
    chosen = endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    return chosen.rstrip("/")


def clear_cache() -> None:
    """Forget every cached Hub answer (for tests and long-lived workers)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def fetch_model(
    model_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> HubFetch:
    """Fetch a model's info and ``config.json`` from the Hub, at most two requests.

    Args:
        model_id: The repository id.
        revision: A branch, tag or commit; ``None`` for the default branch.
        token: A Hugging Face access token, or ``None`` to send none (a token
            saved on the machine is deliberately not used: the deployment will
            only have the token it is given).
        endpoint: The Hub base URL; see :func:`resolve_endpoint`.
        timeout: Seconds for each of connect/read/write/pool, per request.

    Returns:
        The model's metadata and the number of HTTP requests made.

    Raises:
        HubAccessError: The Hub could not be reached or refused the request;
            the message says why and what to do.
    """
    base = resolve_endpoint(endpoint)
    key: _CacheKey = (base, model_id, revision or "", _token_digest(token))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
    if cached is not None:
        logger.debug("Hub metadata of %s@%s served from the cache", model_id, revision or "default")
        return HubFetch(model=cached, requests=0)

    call = _Call(model_id, revision, base, timeout, token is not None)
    sent = [0]
    try:
        model = _fetch_uncached(call, token, sent)
    except HubAccessError as error:
        error.requests = sent[0]
        raise
    with _CACHE_LOCK:
        _CACHE[key] = model
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return HubFetch(model=model, requests=sent[0])


def _token_digest(token: str | None) -> str:
    # A digest, not the token, so the cache never keeps the secret as a key.
    if token is None:
        return ""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fetch_uncached(call: _Call, token: str | None, sent: list[int]) -> HubModel:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    logger.debug(
        "fetching Hub metadata of %s@%s from %s",
        call.model_id,
        call.revision or "default",
        call.endpoint,
    )
    try:
        info = _model_info(call, token, sent)
        config = _config_json(call, token, info.sha or call.revision or "main", sent)
    except HfHubHTTPError as error:
        raise _translate_http(error, call) from None
    except OfflineModeIsEnabled:
        raise HubAccessError(
            "hub_unreachable",
            f"could not reach the Hugging Face Hub at {call.endpoint}: offline mode is enabled "
            f"(HF_HUB_OFFLINE)",
        ) from None
    except (httpx2.HTTPError, httpx2.InvalidURL) as error:
        raise _translate_transport(error, call, token) from None
    return HubModel(
        model_id=call.model_id,
        revision=call.revision,
        sha=info.sha,
        gated=info.gated,
        private=info.private,
        parameters=MappingProxyType(dict(info.parameters)),
        total_parameters=info.total_parameters,
        config=MappingProxyType(config),
    )


@dataclass(frozen=True)
class _Info:
    sha: str | None
    gated: str | None
    private: bool | None
    parameters: Mapping[str, int]
    total_parameters: int | None


def _headers(token: str | None) -> dict[str, str]:
    from huggingface_hub import __version__ as hub_version

    from airflow_provider_hfinfer import __version__

    headers = {"user-agent": f"airflow-provider-hfinfer/{__version__}; hf_hub/{hub_version}"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _get(
    url: str, call: _Call, token: str | None, params: Mapping[str, Any], sent: list[int]
) -> Any:
    """One GET through huggingface_hub's session; returns the parsed JSON body."""
    import httpx2
    from huggingface_hub import get_session, hf_raise_for_status

    sent[0] += 1
    response = get_session().get(
        url,
        headers=_headers(token),
        params=dict(params),
        timeout=httpx2.Timeout(call.timeout),
    )
    hf_raise_for_status(response)
    try:
        return response.json()
    except ValueError:
        return None


def _model_info(call: _Call, token: str | None, sent: list[int]) -> _Info:
    url = f"{call.endpoint}/api/models/{call.model_id}"
    if call.revision is not None:
        url += f"/revision/{quote(call.revision, safe='')}"
    # Only what the checks read: the Hub then answers with these fields and the id.
    body = _get(url, call, token, {"expand": ["safetensors", "gated", "private", "sha"]}, sent)
    if not isinstance(body, dict) or "id" not in body:
        raise HubAccessError(
            "hub_error",
            f"the Hugging Face Hub at {call.endpoint} answered with no model info for "
            f"{call.model_id}; retry later",
        )
    return _parse_info(body)


def _parse_info(body: Mapping[str, Any]) -> _Info:
    """Read the fields we asked for, shaped as ``huggingface_hub.ModelInfo`` reads them."""
    parameters: dict[str, int] = {}
    total: int | None = None
    safetensors = body.get("safetensors")
    if isinstance(safetensors, Mapping):
        counts = safetensors.get("parameters")
        if isinstance(counts, Mapping):
            parameters = {
                str(dtype): count
                for dtype, count in counts.items()
                if isinstance(count, int) and count > 0
            }
        raw_total = safetensors.get("total")
        total = raw_total if isinstance(raw_total, int) and raw_total > 0 else None
    gated = body.get("gated")
    sha = body.get("sha")
    private = body.get("private")
    return _Info(
        sha=sha if isinstance(sha, str) else None,
        gated=gated if isinstance(gated, str) else None,
        private=private if isinstance(private, bool) else None,
        parameters=parameters,
        total_parameters=total,
    )


def _config_json(call: _Call, token: str | None, revision: str, sent: list[int]) -> dict[str, Any]:
    url = f"{call.endpoint}/{call.model_id}/resolve/{quote(revision, safe='')}/config.json"
    config = _get(url, call, token, {}, sent)
    if not isinstance(config, dict):
        raise HubAccessError(
            "config_invalid",
            f"config.json of {call.model_id} at {revision} is not a JSON object: "
            "vLLM 0.6.4 needs a transformers-style config.json",
        )
    return config


def _translate_transport(error: Exception, call: _Call, token: str | None) -> HubAccessError:
    import httpx2

    if isinstance(error, httpx2.TimeoutException):
        detail = f"no answer within {call.timeout:g} s ({type(error).__name__})"
    else:
        detail = f"{type(error).__name__}: {error}"
    if token:
        # Transport errors can echo request details; never let the secret through.
        detail = detail.replace(token, "***")
    return HubAccessError(
        "hub_unreachable",
        f"could not reach the Hugging Face Hub at {call.endpoint}: {detail}",
    )


def _translate_http(error: HfHubHTTPError, call: _Call) -> HubAccessError:
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    model, endpoint = call.model_id, call.endpoint
    status = error.response.status_code
    # GatedRepoError subclasses RepositoryNotFoundError: test it first.
    if isinstance(error, GatedRepoError):
        return _gated(call)
    if isinstance(error, RevisionNotFoundError):
        return HubAccessError(
            "revision_not_found",
            f"revision {call.revision or 'main'!r} of model {model} was not found at {endpoint}: "
            "use an existing branch, tag or commit hash",
        )
    if isinstance(error, RemoteEntryNotFoundError):
        return HubAccessError(
            "config_not_found",
            f"model {model} has no config.json: vLLM 0.6.4 needs a transformers-style "
            "repository (GGUF-only and adapter-only repositories cannot be served this way)",
        )
    if isinstance(error, RepositoryNotFoundError):
        return _not_found(call)
    if status == 401:
        return HubAccessError(
            "token_rejected",
            f"the token was rejected by {endpoint} (invalid credentials): "
            "set hf_access to a valid, unexpired token",
        )
    if status == 403:
        return HubAccessError(
            "access_denied",
            f"the token lacks access to {model}: {_server_message(error)}; "
            "use a token with read access to it",
        )
    return HubAccessError(
        "hub_error",
        f"the Hugging Face Hub at {endpoint} answered HTTP {status} for {model}: "
        f"{_server_message(error)}; retry later",
    )


def _gated(call: _Call) -> HubAccessError:
    request_at = f"{call.endpoint}/{call.model_id}"
    if call.token_given:
        return HubAccessError(
            "access_denied",
            f"the token lacks access to {call.model_id}: the model is gated and the token's "
            f"account is not on its authorized list; request access at {request_at} "
            "or use another token",
        )
    return HubAccessError(
        "token_required",
        f"no token was given: the model {call.model_id} is gated; set hf_access to a token "
        f"whose account has been granted access (request it at {request_at})",
    )


def _not_found(call: _Call) -> HubAccessError:
    if call.token_given:
        hint = "or the token lacks access to it (private repository): check the model id and "
        hint += "the token's permissions"
    else:
        hint = "or it is private and no token was given: check the model id, or set hf_access "
        hint += "to a token with read access"
    return HubAccessError(
        "model_not_found", f"model {call.model_id} was not found at {call.endpoint}, {hint}"
    )


def _server_message(error: HfHubHTTPError) -> str:
    message = error.server_message or error.response.reason_phrase or "no details"
    return message.strip().rstrip(".")
