"""The pure planning step of a deploy: spec in, everything an apply needs out.

This module owns :func:`prepare`: one render (the renderer is the only producer
of manifests; the owner, the spec records and a pinned node pool go in as its
:class:`~airflow_provider_hfinfer.render.RenderContext`), the spec hash computed
once, and the result a create or update task returns (XCom: where and what
serves). Create and update both start here. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_hfinfer.render import (
    Manifest,
    RenderContext,
    RenderOptions,
    endpoint_url,
    render_workload,
)
from airflow_provider_hfinfer.render.metadata import service_host
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import object_ref


def workload_result(
    workload: InferenceWorkload,
    namespace: str,
    options: RenderOptions,
    manifests: Sequence[Mapping[str, Any]],
    digest: str,
) -> dict[str, Any]:
    """What the create and update operators return (XCom): where and what serves.

    ``endpoint_host`` is set for scale-to-zero workloads: their ``endpoint_url``
    is the KEDA HTTP interceptor, which routes by this ``Host`` header.
    """
    return {
        "name": workload.name,
        "namespace": namespace,
        "endpoint_url": endpoint_url(workload, namespace, options),
        "endpoint_host": (
            service_host(workload, namespace, options) if workload.scale_to_zero else None
        ),
        "served_model_name": workload.model.served_model_name,
        "model": workload.model.id,
        "revision": workload.model.revision,
        "spec_hash": digest,
        "objects": [object_ref(item) for item in manifests],
    }


@dataclass(frozen=True)
class DeployPlan:
    """One planned deploy of a workload: what to apply and what the task returns.

    Attributes:
        workload: The validated spec (tokens in memory only).
        namespace: The project's namespace.
        options: The cluster settings it was rendered with.
        context: The render context (owner, records, pinned pool).
        manifests: The rendered objects, in apply order.
        spec_hash: The spec hash every object carries.
    """

    workload: InferenceWorkload
    namespace: str
    options: RenderOptions
    context: RenderContext
    manifests: list[Manifest]
    spec_hash: str

    @property
    def owner(self) -> str | None:
        """The task identity written on every object."""
        return self.context.owner

    @property
    def refs(self) -> list[str]:
        """``Kind/name`` of every object, in apply order."""
        return [object_ref(item) for item in self.manifests]

    @property
    def deployment(self) -> Manifest | None:
        """The Deployment manifest."""
        return next((item for item in self.manifests if item["kind"] == "Deployment"), None)

    def result(self, **extra: Any) -> dict[str, Any]:
        """The task's XCom result (a fresh dict), with ``owner`` and ``extra`` added."""
        result = workload_result(
            self.workload, self.namespace, self.options, self.manifests, self.spec_hash
        )
        result["owner"] = self.owner
        result.update(extra)
        return result

    def with_context(self, **changes: Any) -> DeployPlan:
        """The same deploy rendered again with some context fields changed."""
        return prepare(
            self.workload, self.namespace, self.options, replace(self.context, **changes)
        )


def prepare(
    workload: InferenceWorkload,
    namespace: str,
    options: RenderOptions,
    context: RenderContext,
) -> DeployPlan:
    """Render a workload for a deploy (pure).

    Args:
        workload: The validated spec.
        namespace: The project's namespace.
        options: Cluster settings (connection extras plus overrides).
        context: Owner, spec records and pinned pool.

    Returns:
        The plan: manifests in apply order, the spec hash, the result to return.
    """
    rendered = render_workload(workload, namespace=namespace, options=options, context=context)
    return DeployPlan(workload, namespace, options, context, rendered.manifests, rendered.spec_hash)
