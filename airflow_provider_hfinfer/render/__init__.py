"""Pure rendering: an :class:`InferenceWorkload` to the Kubernetes objects that run it.

``render_manifests`` returns plain dicts in apply order and imports no client;
the same input always gives the same output. A backend chooses the object
family; ``kubernetes`` (Deployment, Service, KEDA, Istio) is the one built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_hfinfer.exceptions import RenderError
from airflow_provider_hfinfer.render.access import render_access
from airflow_provider_hfinfer.render.autoscaling import render_scaler
from airflow_provider_hfinfer.render.deployment import render_deployment
from airflow_provider_hfinfer.render.metadata import spec_hash, workload_selector
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.render.secret import render_secret
from airflow_provider_hfinfer.render.service import endpoint_url, render_service
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.kube_syntax import dns1123_label_error

Manifest = dict[str, Any]
Backend = Callable[[InferenceWorkload, str, RenderOptions], list[Manifest]]


def render_kubernetes(
    workload: InferenceWorkload, namespace: str, options: RenderOptions
) -> list[Manifest]:
    """Render the kubernetes backend's objects in apply order.

    Order matters: the Secret exists before pods reference it, and the access
    policies exist before the Deployment, so no pod ever serves unauthenticated.
    """
    digest = spec_hash(workload, namespace, options)
    manifests: list[Manifest] = []
    secret = render_secret(workload, namespace, digest)
    if secret:
        manifests.append(secret)
    manifests += render_access(workload, namespace, options, digest)
    manifests.append(render_service(workload, namespace, options, digest))
    manifests.append(render_deployment(workload, namespace, options, digest))
    scaler = render_scaler(workload, namespace, options, digest)
    if scaler:
        manifests.append(scaler)
    return manifests


BACKENDS: dict[str, Backend] = {"kubernetes": render_kubernetes}


def render_manifests(
    workload: InferenceWorkload,
    *,
    namespace: str,
    options: RenderOptions | None = None,
    backend: str = "kubernetes",
) -> list[Manifest]:
    """Render a workload into the manifests that run it, in apply order.

    Args:
        workload: The validated workload.
        namespace: The project's namespace.
        options: Cluster settings; defaults when None.
        backend: The object family; only ``kubernetes`` exists today.

    Returns:
        Plain dicts, ready for server-side apply.

    Raises:
        RenderError: The namespace is invalid, the backend unknown, or the cluster
            settings cannot express the spec (e.g. no JWT issuer for group access).
    """
    problem = dns1123_label_error(namespace)
    if problem:
        raise RenderError(
            f"namespace ({namespace!r}) {problem}: use the project's namespace, e.g. 'runai-team-a'"
        )
    if backend not in BACKENDS:
        raise RenderError(f"backend ({backend!r}) is unknown: use one of {sorted(BACKENDS)}")
    return BACKENDS[backend](workload, namespace, options or RenderOptions())


__all__ = [
    "BACKENDS",
    "Manifest",
    "RenderOptions",
    "endpoint_url",
    "render_manifests",
    "spec_hash",
    "workload_selector",
]
