"""The Hub's file listing of a model, with sizes: what a warm model cache will hold.

This module owns the one extra Hub request the model cache check makes (the
request ``HfApi.model_info(files_metadata=True)`` sends), through the same
session, headers and error translation as the other pre-flight requests
(:mod:`.hub`). Only a workload with a ``pvc`` cache asks for it.
"""

from __future__ import annotations

from urllib.parse import quote

from airflow_provider_hfinfer.checks.preflight.hub import (
    DEFAULT_TIMEOUT,
    _Call,
    _get,
    _translate_http,
    _translate_transport,
    resolve_endpoint,
)


def fetch_files(
    model_id: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[tuple[str, int | None]]:
    """List a model's files with their sizes, in one request (model info with ``blobs``).

    The request ``HfApi.model_info(files_metadata=True)`` sends; only the model
    cache check asks for it, to size the claim the cache lives on.

    Returns:
        ``(path, size in bytes)`` per file; the size is None when the Hub gave none.

    Raises:
        HubAccessError: The Hub could not be reached or refused the request.
    """
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    call = _Call(model_id, revision, resolve_endpoint(endpoint), timeout, token is not None)
    url = f"{call.endpoint}/api/models/{model_id}"
    if revision is not None:
        url += f"/revision/{quote(revision, safe='')}"
    try:
        body = _get(url, call, token, {"blobs": "true"}, [0])
    except HfHubHTTPError as error:
        raise _translate_http(error, call) from None
    except (httpx2.HTTPError, httpx2.InvalidURL) as error:
        raise _translate_transport(error, call, token) from None
    siblings = body.get("siblings") if isinstance(body, dict) else None
    files: list[tuple[str, int | None]] = []
    for item in siblings if isinstance(siblings, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("rfilename"), str):
            continue
        lfs = item.get("lfs") if isinstance(item.get("lfs"), dict) else {}
        size = item.get("size", lfs.get("size") if lfs else None)
        files.append((item["rfilename"], size if isinstance(size, int) else None))
    return files
