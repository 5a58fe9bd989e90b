"""The thin hook: the Airflow Kubernetes connection, cluster settings, and I/O verbs.

This module owns how the provider talks to a cluster from a worker: it reuses
the cncf-kubernetes ``KubernetesHook`` (same connection: kubeconfig, in-cluster,
context), reads the cluster settings from the connection's ``hfinfer_*``
extras, and offers apply / get / list / delete verbs. No business rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_hfinfer.checks.placement import ACTIVE_PODS_FIELD_SELECTOR, pool_selector
from airflow_provider_hfinfer.exceptions import KubeAPIError, PartialApplyError
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.requests import (
    plan_apply,
    plan_delete,
    plan_get,
    plan_list,
    plan_log,
    plan_merge_patch,
    plan_proxy,
)
from airflow_provider_hfinfer.kube.snapshot import workload_snapshot
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec.names import object_ref, workload_selector

if TYPE_CHECKING:
    from airflow_provider_hfinfer.kube.client import KubeClient, RetryPolicy

__all__ = ["HFInferenceHook", "object_ref"]


class HFInferenceHook(BaseHook):
    """Talks to the cluster behind an Airflow Kubernetes connection.

    Cluster settings come from the connection's extras as ``hfinfer_<option>``
    keys (see :class:`~airflow_provider_hfinfer.render.options.RenderOptions`),
    e.g. ``hfinfer_prometheus_url``, ``hfinfer_jwt_issuer``,
    ``hfinfer_node_pool_label_key``, ``hfinfer_default_image``.

    Args:
        kubernetes_conn_id: The Airflow Kubernetes connection (the cluster).
    """

    conn_name_attr = "kubernetes_conn_id"
    default_conn_name = "kubernetes_default"
    conn_type = "kubernetes"
    hook_name = "Hugging Face inference (Kubernetes)"

    def __init__(self, kubernetes_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.kubernetes_conn_id = kubernetes_conn_id

    @cached_property
    def kube_hook(self) -> Any:
        """The cncf-kubernetes ``KubernetesHook`` of the same connection."""
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=self.kubernetes_conn_id)

    @cached_property
    def client(self) -> KubeClient:
        """The request executor over the connection's API client."""
        from airflow_provider_hfinfer.kube.client import KubeClient

        return KubeClient(self.kube_hook.api_client)

    def connection_extras(self) -> dict[str, Any]:
        """The connection's extra dict (empty when the connection has none)."""
        extras = self.kube_hook.conn_extras
        return dict(extras) if isinstance(extras, Mapping) else {}

    def render_options(self, overrides: Mapping[str, Any] | None = None) -> RenderOptions:
        """Cluster settings: connection extras, then operator-level overrides."""
        return RenderOptions.from_extras(self.connection_extras(), overrides)

    def apply(
        self,
        manifests: Sequence[dict[str, Any]],
        *,
        dry_run: bool = False,
        retry: RetryPolicy | None = None,
    ) -> list[dict[str, Any]]:
        """Server-side apply each manifest in order with one field manager.

        ``retry`` is this call's retry policy (default: the client's).

        Returns:
            The objects as the API server returned them.

        Raises:
            PartialApplyError: One object failed after others were applied; it names
                both (the caller decides whether to roll back).
            KubeAPIError: The first object failed.
        """
        applied: list[dict[str, Any]] = []
        for manifest in manifests:
            try:
                applied.append(self.client.send(plan_apply(manifest, dry_run=dry_run), retry))
            except KubeAPIError as err:
                if not applied:
                    raise
                done = tuple(object_ref(item) for item in manifests[: len(applied)])
                raise PartialApplyError(
                    f"applied {', '.join(done)} but {object_ref(manifest)} failed: {err}",
                    applied=done,
                    failed=object_ref(manifest),
                    cause=err,
                    name=manifest["metadata"]["name"],
                    namespace=manifest["metadata"].get("namespace"),
                ) from err
        return applied

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        """Read one object; None when it (or its kind) does not exist."""
        resource = res.resource_for(api_version, kind)
        return self.client.get_or_none(plan_get(resource, name, namespace))

    def list_objects(
        self,
        resource: res.Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[dict[str, Any]]:
        """List objects of one kind (all namespaces when ``namespace`` is None)."""
        request = plan_list(
            resource, namespace, label_selector=label_selector, field_selector=field_selector
        )
        return self.client.list_items(request, retry)

    def list_workload_objects(
        self, name: str, namespace: str, kinds: Iterable[res.Resource] = res.WORKLOAD_KINDS
    ) -> list[dict[str, Any]]:
        """Every object of the workload this provider made, by its labels, in apply order."""
        found: list[dict[str, Any]] = []
        for resource in kinds:
            for item in self.list_objects(
                resource, namespace, label_selector=workload_selector(name)
            ):
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                found.append(item)
        return found

    def workload_snapshot(self, name: str, namespace: str) -> dict[str, Any]:
        """What the readiness model reads: Deployment, ReplicaSets, pods, events, scaler."""
        selector = workload_selector(name)
        scaler = self.client.get_or_none(
            plan_get(res.SCALED_OBJECT, name, namespace)
        ) or self.client.get_or_none(plan_get(res.HTTP_SCALED_OBJECT, name, namespace))
        return workload_snapshot(
            name,
            deployment=self.client.get_or_none(plan_get(res.DEPLOYMENT, name, namespace)),
            replica_sets=self.list_objects(res.REPLICA_SET, namespace, label_selector=selector),
            pods=self.list_objects(res.POD, namespace, label_selector=selector),
            events=self.list_objects(res.EVENT, namespace),
            scaler=scaler,
        )

    def service_proxy_get(
        self, service: str, namespace: str, path: str, *, port: str = "http", timeout: float = 10
    ) -> tuple[int, bytes]:
        """GET ``path`` on a Service through the API server's service proxy.

        Returns:
            ``(HTTP status, body)``; status 0 when no answer came.
        """
        return self.client.exchange(
            plan_proxy(service, namespace, path, port=port), timeout=timeout
        )

    def service_proxy_post(
        self,
        service: str,
        namespace: str,
        path: str,
        body: Mapping[str, Any],
        *,
        port: str = "http",
        timeout: float = 60,
    ) -> tuple[int, bytes]:
        """POST a JSON ``body`` to ``path`` on a Service through the API server's proxy.

        RBAC: ``create`` on ``services/proxy``.

        Returns:
            ``(HTTP status, body)``; status 0 when no answer came.
        """
        request = plan_proxy(service, namespace, path, port=port, body=dict(body))
        return self.client.exchange(request, timeout=timeout)

    def pod_log_tail(
        self, pod: str, namespace: str, lines: int = 20, *, timestamps: bool = False
    ) -> str | None:
        """The last ``lines`` lines of a pod's log (kubelet-dated with ``timestamps``).

        Returns None when the log cannot be read.
        """
        request = plan_log(pod, namespace, tail_lines=lines, timestamps=timestamps)
        status, body = self.client.exchange(request)
        return body.decode(errors="replace") if status == 200 else None

    def list_pool_nodes(self, label_key: str, pools: Sequence[str]) -> list[dict[str, Any]]:
        """Nodes of the listed node pools, cluster-wide (selector ``key in (pools)``)."""
        return self.list_objects(res.NODE, None, label_selector=pool_selector(label_key, pools))

    def list_active_pods(self) -> list[dict[str, Any]]:
        """Pods of every namespace that may hold node resources (not Succeeded or Failed)."""
        return self.list_objects(res.POD, None, field_selector=ACTIVE_PODS_FIELD_SELECTOR)

    def delete(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        """Delete one object; False when it was already gone."""
        resource = res.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        try:
            self.client.send(
                plan_delete(resource, meta["name"], meta.get("namespace"), dry_run=dry_run)
            )
        except KubeAPIError as err:
            if err.status == 404:
                return False
            raise
        return True

    def annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Merge-patch annotations onto an object (None removes a key)."""
        resource = res.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        patch = {"metadata": {"annotations": dict(annotations)}}
        return self.client.send(
            plan_merge_patch(resource, meta["name"], meta.get("namespace"), patch)
        )

    def list_selected(
        self,
        label_selector: str,
        namespaces: Sequence[str] | None = None,
        kinds: Iterable[res.Resource] = res.WORKLOAD_KINDS,
        *,
        retry: RetryPolicy | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of several kinds matching one label selector, ``kind`` set on each.

        One list call per kind and namespace, or per kind cluster-wide when
        ``namespaces`` is None; a kind whose CRD is not installed lists as empty.
        """
        scopes: Sequence[str | None] = list(namespaces) if namespaces is not None else [None]
        found: list[dict[str, Any]] = []
        for resource in kinds:
            for namespace in scopes:
                listed = self.list_objects(
                    resource, namespace, label_selector=label_selector, retry=retry
                )
                for item in listed:
                    item.setdefault("apiVersion", resource.api_version)
                    item.setdefault("kind", resource.kind)
                    found.append(item)
        return found
