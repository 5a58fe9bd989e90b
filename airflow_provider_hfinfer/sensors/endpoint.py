"""Checking that a ready workload really serves: ``/health``, then ``/v1/models``.

This module owns endpoint verification for the readiness sensor (both modes)
and the create operator: through the Kubernetes API server's service proxy
(works from outside the cluster) or at a URL the worker can reach. vLLM
answers ``/health`` 200 only once the model is loaded, and ``/v1/models``
lists the served model name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from airflow_provider_hfinfer.serving.http import url_exchange

if TYPE_CHECKING:
    from airflow_provider_hfinfer.hooks.inference import HFInferenceHook

VerifyMode = Literal["none", "proxy", "url"]
VERIFY_MODES: tuple[str, ...] = ("none", "proxy", "url")


@dataclass(frozen=True)
class EndpointCheck:
    """The outcome of one verification.

    Attributes:
        ok: Both checks passed.
        detail: What was checked, or what failed and how.
    """

    ok: bool
    detail: str


def check_verify_mode(mode: str, endpoint_url: str | None) -> str:
    """Return ``mode`` when valid for the given URL; raise ``ValueError`` with the fix."""
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify_endpoint ({mode!r}) must be 'none', 'proxy' or 'url'")
    if mode == "url" and not endpoint_url:
        raise ValueError("verify_endpoint='url' needs endpoint_url (e.g. http://llama.ml.svc/v1)")
    return mode


def _served_names(body: bytes) -> list[str] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, list):
        return None
    return [str(item.get("id")) for item in data if isinstance(item, dict) and item.get("id")]


def _judge(
    health: tuple[int, bytes], models: tuple[int, bytes] | None, model: str | None, where: str
) -> EndpointCheck:
    status, _ = health
    if status != 200:
        return EndpointCheck(False, f"{where}/health answered {status or 'nothing'}")
    if models is None:
        return EndpointCheck(False, f"{where}/v1/models was not asked")
    status, body = models
    if status != 200:
        return EndpointCheck(False, f"{where}/v1/models answered {status or 'nothing'}")
    names = _served_names(body)
    if names is None:
        return EndpointCheck(False, f"{where}/v1/models did not answer a model list")
    if model and model not in names:
        listed = ", ".join(names) or "none"
        return EndpointCheck(False, f"{where}/v1/models lists {listed}, not {model!r}")
    if not names:
        return EndpointCheck(False, f"{where}/v1/models lists no model")
    return EndpointCheck(True, f"{where}: /health 200, serving {', '.join(names)}")


def verify_endpoint(
    mode: str,
    *,
    hook: HFInferenceHook,
    name: str,
    namespace: str,
    served_model_name: str | None,
    endpoint_url: str | None = None,
    timeout: float = 10,
) -> EndpointCheck:
    """GET ``/health`` then ``/v1/models`` and check the served model is listed.

    Args:
        mode: ``none`` (always ok), ``proxy`` (the Service ``name`` through the
            API server) or ``url`` (``endpoint_url``, with or without ``/v1``).
        hook: The hook of the cluster connection (for ``proxy``).
        name: The workload; its Service has the same name and a port ``http``.
        namespace: The workload's namespace.
        served_model_name: The name ``/v1/models`` must list (None: any model).
        endpoint_url: The base URL for ``url`` mode.
        timeout: Seconds per request.
    """
    if mode == "none":
        return EndpointCheck(True, "endpoint not verified")
    if mode == "proxy":
        where = f"service {namespace}/{name} (API proxy)"
        health = hook.service_proxy_get(name, namespace, "/health", timeout=timeout)
        models = (
            hook.service_proxy_get(name, namespace, "/v1/models", timeout=timeout)
            if health[0] == 200
            else None
        )
        return _judge(health, models, served_model_name, where)
    base = str(endpoint_url or "").rstrip("/").removesuffix("/v1")
    health = url_exchange(f"{base}/health", timeout=timeout)
    models = url_exchange(f"{base}/v1/models", timeout=timeout) if health[0] == 200 else None
    return _judge(health, models, served_model_name, base)
