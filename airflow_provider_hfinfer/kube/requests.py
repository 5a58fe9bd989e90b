"""Pure planning of API requests: what to send, before anything is sent.

This module owns the exact method, path, query and body of each call (server-
side apply with one field manager, list by label, delete with propagation), so
the executor stays a thin loop and tests can assert the plan without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hfinfer.kube.resources import POD, SERVICE, Resource, resource_for

FIELD_MANAGER = "airflow-provider-hfinfer"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class KubeRequest:
    """One planned API call.

    Attributes:
        method: The HTTP method: ``GET``, ``PATCH`` or ``DELETE``.
        path: The REST path without the query string, e.g.
            ``/apis/apps/v1/namespaces/team-a/deployments/llama``.
        resource: The kind the call is about; error messages name it as RBAC
            does (``deployments.apps``).
        namespace: The namespace of the object or collection; ``None`` for
            cluster-scoped kinds and for lists across all namespaces.
        name: The object's name; ``None`` when the call is about a collection.
        query: Query parameters as ``(key, value)`` pairs, in the order they are
            sent (field manager, dry run, selectors, propagation policy).
        body: The request body: the whole manifest for a server-side apply,
            the patch for a merge patch, ``None`` for reads and deletes.
        content_type: The ``Content-Type`` header of ``body``, which selects
            the kind of patch (apply or merge); ``None`` when nothing is sent.
        verb: The RBAC verb the call needs (``get``, ``list``, ``watch``, ``patch``,
            ``create``, ``delete``), used in logs and in access-denied messages.
        subresource: The subresource addressed (``proxy``, ``log``); ``None`` for
            the object or collection itself.
        accept: The ``Accept`` header (JSON, except for raw reads such as logs).
    """

    method: str
    path: str
    resource: Resource
    namespace: str | None = None
    name: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    content_type: str | None = None
    verb: str = field(default="get")
    subresource: str | None = None
    accept: str = "application/json"

    @property
    def is_write(self) -> bool:
        """Whether the call changes state on the server."""
        return self.method in ("POST", "PUT", "PATCH", "DELETE")

    def call_arguments(self, timeout: float) -> dict[str, Any]:
        """The keyword arguments of ``ApiClient.call_api`` for this call, raw answer.

        One mapping for the sync (``kubernetes``) and async (``kubernetes_asyncio``)
        clients, whose ``call_api`` take the same keywords.
        """
        headers = {"Accept": self.accept}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        return {
            "resource_path": self.path,
            "method": self.method,
            "query_params": list(self.query),
            "header_params": headers,
            "body": self.body,
            "auth_settings": ["BearerToken"],
            "_preload_content": False,
            "_return_http_data_only": True,
            "_request_timeout": timeout,
        }

    def describe(self) -> str:
        """Short text for logs: ``patch deployments.apps team-a/llama``."""
        where = "/".join(part for part in (self.namespace, self.name) if part)
        label = self.resource.label
        if self.subresource:
            label = f"{self.resource.plural}/{self.subresource}"
        return f"{self.verb} {label} {where}".rstrip()


def plan_apply(
    manifest: dict[str, Any], *, dry_run: bool = False, field_manager: str = FIELD_MANAGER
) -> KubeRequest:
    """Plan a server-side apply of one manifest (create or update in one call).

    ``force`` is on because this provider is the only intended owner of the
    fields it renders; objects it does not manage are refused before this point.
    """
    resource = resource_for(manifest["apiVersion"], manifest["kind"])
    meta = manifest["metadata"]
    query = [("fieldManager", field_manager), ("force", "true")]
    if dry_run:
        query.append(("dryRun", "All"))
    return KubeRequest(
        method="PATCH",
        path=resource.path(meta.get("namespace"), meta["name"]),
        resource=resource,
        namespace=meta.get("namespace"),
        name=meta["name"],
        query=tuple(query),
        body=manifest,
        content_type=APPLY_PATCH,
        verb="patch",
    )


def plan_get(resource: Resource, name: str, namespace: str | None = None) -> KubeRequest:
    """Plan reading one object."""
    return KubeRequest("GET", resource.path(namespace, name), resource, namespace, name)


def plan_list(
    resource: Resource,
    namespace: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> KubeRequest:
    """Plan listing objects of one kind (all namespaces when ``namespace`` is None).

    ``limit`` asks for one page of at most that many objects; the answer's
    ``metadata.continue`` is the ``continue_token`` of the next page.
    """
    query = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    if limit:
        query.append(("limit", str(limit)))
    if continue_token:
        query.append(("continue", continue_token))
    return KubeRequest(
        "GET", resource.path(namespace), resource, namespace, None, tuple(query), verb="list"
    )


def plan_merge_patch(
    resource: Resource, name: str, namespace: str | None, patch: dict[str, Any]
) -> KubeRequest:
    """Plan a JSON merge patch (used for bookkeeping annotations only)."""
    return KubeRequest(
        "PATCH",
        resource.path(namespace, name),
        resource,
        namespace,
        name,
        body=patch,
        content_type=MERGE_PATCH,
        verb="patch",
    )


def plan_delete(
    resource: Resource, name: str, namespace: str | None, *, dry_run: bool = False
) -> KubeRequest:
    """Plan deleting one object, its dependents (ReplicaSets, pods) in the background."""
    query = [("propagationPolicy", "Background")]
    if dry_run:
        query.append(("dryRun", "All"))
    return KubeRequest(
        "DELETE",
        resource.path(namespace, name),
        resource,
        namespace,
        name,
        tuple(query),
        verb="delete",
    )


def plan_watch(
    resource: Resource,
    namespace: str | None,
    *,
    resource_version: str,
    timeout_seconds: int,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> KubeRequest:
    """Plan a watch of one kind from ``resource_version`` (bookmarks on), ending server-side."""
    listed = plan_list(
        resource, namespace, label_selector=label_selector, field_selector=field_selector
    )
    query = (
        *listed.query,
        ("watch", "true"),
        ("resourceVersion", resource_version),
        ("timeoutSeconds", str(timeout_seconds)),
        ("allowWatchBookmarks", "true"),
    )
    return KubeRequest("GET", listed.path, resource, namespace, None, query, verb="watch")


def plan_proxy(
    service: str,
    namespace: str,
    path: str,
    *,
    port: str = "http",
    body: dict[str, Any] | None = None,
) -> KubeRequest:
    """Plan a call to ``path`` on a Service through the API server's service proxy.

    Works from outside the cluster (``/api/v1/namespaces/{ns}/services/{service}:
    {port}/proxy/{path}``); a ``body`` makes it a JSON POST (RBAC ``create`` on
    ``services/proxy``), otherwise a GET (``get``).
    """
    target = f"{service}:{port}"
    return KubeRequest(
        "POST" if body is not None else "GET",
        f"{SERVICE.path(namespace, target)}/proxy/{path.lstrip('/')}",
        SERVICE,
        namespace,
        target,
        body=body,
        content_type="application/json" if body is not None else None,
        verb="create" if body is not None else "get",
        subresource="proxy",
    )


def plan_log(pod: str, namespace: str, *, tail_lines: int, timestamps: bool = False) -> KubeRequest:
    """Plan reading the last ``tail_lines`` lines of a pod's log (RBAC ``get pods/log``).

    With ``timestamps`` the kubelet prefixes each line with the RFC 3339 time it was
    written, which dates the cold-start phases a log tail tells.
    """
    query: tuple[tuple[str, str], ...] = (("tailLines", str(tail_lines)),)
    if timestamps:
        query += (("timestamps", "true"),)
    return KubeRequest(
        "GET",
        f"{POD.path(namespace, pod)}/log",
        POD,
        namespace,
        pod,
        query,
        subresource="log",
        accept="*/*",
    )
