"""Pure rendering: an :class:`InferenceWorkload` to the Kubernetes objects that run it.

``render_workload`` (and its shorthand ``render_manifests``) returns plain dicts
in apply order and imports no client; the same input always gives the same
output. What is not part of the spec (owner, spec records, a pinned node pool)
comes in as a :class:`RenderContext`, so nothing patches the output afterwards.
A backend chooses the object family; ``kubernetes`` (Deployment, Service, KEDA,
Istio) is the one built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_hfinfer.exceptions import RenderError
from airflow_provider_hfinfer.render.access import render_access
from airflow_provider_hfinfer.render.autoscaling import render_scaler
from airflow_provider_hfinfer.render.context import RenderContext, Stamp
from airflow_provider_hfinfer.render.deployment import render_deployment
from airflow_provider_hfinfer.render.metadata import spec_hash, workload_selector
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.render.secret import render_secret
from airflow_provider_hfinfer.render.service import endpoint_url, render_service
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.kube_syntax import dns1123_label_error

Manifest = dict[str, Any]
Backend = Callable[[InferenceWorkload, str, RenderOptions, Stamp], list[Manifest]]


@dataclass(frozen=True)
class Rendered:
    """One render: the manifests in apply order and the spec hash they all carry.

    Attributes:
        manifests: Plain dicts, ready for server-side apply.
        spec_hash: The ``hfinfer.io/spec-hash`` of every object (computed once).
    """

    manifests: list[Manifest]
    spec_hash: str


def render_kubernetes(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> list[Manifest]:
    """Render the kubernetes backend's objects in apply order.

    Order matters: the Secret exists before pods reference it, and the access
    policies exist before the Deployment, so no pod ever serves unauthenticated.
    """
    manifests: list[Manifest] = []
    secret = render_secret(workload, namespace, stamp)
    if secret:
        manifests.append(secret)
    manifests += render_access(workload, namespace, options, stamp)
    manifests.append(render_service(workload, namespace, options, stamp))
    manifests.append(render_deployment(workload, namespace, options, stamp))
    scaler = None if stamp.context.hold else render_scaler(workload, namespace, options, stamp)
    if scaler:
        manifests.append(scaler)
    return manifests


BACKENDS: dict[str, Backend] = {"kubernetes": render_kubernetes}


def render_workload(
    workload: InferenceWorkload,
    *,
    namespace: str,
    options: RenderOptions | None = None,
    context: RenderContext | None = None,
    backend: str = "kubernetes",
) -> Rendered:
    """Render a workload into the manifests that run it, in apply order.

    Args:
        workload: The validated workload.
        namespace: The project's namespace.
        options: Cluster settings; defaults when None.
        context: Owner, spec records and pinned pool; none of them when None.
        backend: The object family; only ``kubernetes`` exists today.

    Returns:
        The manifests and their spec hash.

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
    settings = options or RenderOptions()
    digest = spec_hash(workload, namespace, settings)
    stamp = Stamp(digest, context or RenderContext())
    return Rendered(BACKENDS[backend](workload, namespace, settings, stamp), digest)


def render_manifests(
    workload: InferenceWorkload,
    *,
    namespace: str,
    options: RenderOptions | None = None,
    context: RenderContext | None = None,
    backend: str = "kubernetes",
) -> list[Manifest]:
    """The manifests of :func:`render_workload` (same arguments, same errors).

    Returns:
        Plain dicts in apply order, ready for server-side apply.
    """
    return render_workload(
        workload, namespace=namespace, options=options, context=context, backend=backend
    ).manifests


__all__ = [
    "BACKENDS",
    "Manifest",
    "RenderContext",
    "RenderOptions",
    "Rendered",
    "endpoint_url",
    "render_manifests",
    "render_workload",
    "spec_hash",
    "workload_selector",
]
