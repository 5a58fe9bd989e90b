"""Every Run:ai REST call the provider makes, planned as plain data.

This module owns :class:`RunaiRequest` and the ``plan_*`` functions: the method,
path, query and body of each call (token, clusters, projects, the workloads
list by name, one workload, create, update, delete an inference; list, create
and delete a generic-secret credential; the token from either token endpoint), with the
permission the application needs for it, named as Run:ai's roles name it, so a
403 can say which one is missing. Sending them is :mod:`.client`'s job. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

INFERENCES = "/api/v1/workloads/inferences"
WORKLOADS = "/api/v1/workloads"
TOKEN = "/api/v1/token"
"""The JSON token endpoint (marked deprecated in the 3.0 reference, which still serves it)."""
TOKEN_V2 = "/api/v2/token"
"""The OAuth2 token endpoint (a form body) that newer control planes document instead."""
CLUSTERS = "/api/v1/clusters"
PROJECTS = "/api/v1/org-unit/projects"
CREDENTIALS = "/api/v1/asset/credentials"
GENERIC_SECRETS = f"{CREDENTIALS}/generic-secret"


@dataclass(frozen=True)
class RunaiRequest:
    """One planned call to the Run:ai control plane.

    Attributes:
        method: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
        path: The API path, e.g. ``/api/v1/workloads/inferences``.
        permission: What the application must be allowed, for a 403's message.
        query: Query parameters in order (a key may repeat, e.g. ``filterBy``).
        body: The JSON body, if any; never logged.
        authenticated: Send the bearer token (every call but the token request).
        idempotent: Sending it twice does no harm (retried after a dropped answer).
        form: Send ``body`` as an ``application/x-www-form-urlencoded`` form, not JSON.
    """

    method: str
    path: str
    permission: str
    query: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = field(default=None, repr=False)
    authenticated: bool = True
    idempotent: bool = True
    form: bool = False

    def url_path(self) -> str:
        """The path with its query string."""
        return f"{self.path}?{urlencode(self.query)}" if self.query else self.path

    def describe(self) -> str:
        """``METHOD path`` for messages (no query values, no body)."""
        return f"{self.method} {self.path}"


def plan_token(client_id: str, client_secret: str) -> RunaiRequest:
    """``POST /api/v1/token``: an application token from the client id and secret."""
    return RunaiRequest(
        "POST",
        TOKEN,
        "a valid application (client id and secret)",
        body={
            "grantType": "client_credentials",
            "clientID": client_id,
            "clientSecret": client_secret,
        },
        authenticated=False,
    )


def plan_token_v2(client_id: str, client_secret: str) -> RunaiRequest:
    """``POST /api/v2/token``: the OAuth2 ``client_credentials`` grant, as a form."""
    return RunaiRequest(
        "POST",
        TOKEN_V2,
        "a valid application (client id and secret)",
        body={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
        authenticated=False,
        form=True,
    )


def plan_list_clusters() -> RunaiRequest:
    """``GET /api/v1/clusters``: the clusters, to resolve the connection's cluster name."""
    return RunaiRequest("GET", CLUSTERS, "view clusters")


def plan_list_projects(cluster_id: str) -> RunaiRequest:
    """``GET /api/v1/org-unit/projects`` of one cluster, to resolve the project name."""
    return RunaiRequest(
        "GET", PROJECTS, "view projects", query=(("filterBy", f"clusterId=={cluster_id}"),)
    )


def plan_find_workloads(name: str, project_id: str) -> RunaiRequest:
    """``GET /api/v1/workloads`` filtered to one name in one project."""
    return RunaiRequest(
        "GET",
        WORKLOADS,
        "view workloads in the project",
        query=(("filterBy", f"name=={name}"), ("filterBy", f"projectId=={project_id}")),
    )


def plan_list_workloads(project_id: str, offset: int = 0, limit: int = 500) -> RunaiRequest:
    """``GET /api/v1/workloads`` of one project, one page (the cleanup's listing)."""
    return RunaiRequest(
        "GET",
        WORKLOADS,
        "view workloads in the project",
        query=(
            ("filterBy", f"projectId=={project_id}"),
            ("offset", str(offset)),
            ("limit", str(limit)),
        ),
    )


def plan_get_workload(workload_id: str) -> RunaiRequest:
    """``GET /api/v1/workloads/{workloadId}``: phase, pods, conditions, URLs."""
    return RunaiRequest("GET", f"{WORKLOADS}/{quote(workload_id)}", "view workloads")


def plan_get_inference(workload_id: str) -> RunaiRequest:
    """``GET /api/v1/workloads/inferences/{workloadId}``: the inference and its spec."""
    return RunaiRequest("GET", f"{INFERENCES}/{quote(workload_id)}", "view inference workloads")


def plan_create(body: Mapping[str, Any]) -> RunaiRequest:
    """``POST /api/v1/workloads/inferences``: submit an inference workload.

    Not idempotent on a dropped answer: a retry could meet its own first try, which
    the create step tells apart by name and owner.
    """
    return RunaiRequest(
        "POST",
        INFERENCES,
        "create inference workloads in the project",
        body=body,
        idempotent=False,
    )


def plan_update(workload_id: str, body: Mapping[str, Any]) -> RunaiRequest:
    """``PATCH /api/v1/workloads/inferences/{workloadId}``: replace the spec's sections."""
    return RunaiRequest(
        "PATCH", f"{INFERENCES}/{quote(workload_id)}", "edit inference workloads", body=body
    )


def plan_delete(workload_id: str) -> RunaiRequest:
    """``DELETE /api/v1/workloads/inferences/{workloadId}``."""
    return RunaiRequest(
        "DELETE", f"{INFERENCES}/{quote(workload_id)}", "delete inference workloads"
    )


def plan_list_credentials(project_id: str, name: str | None = None) -> RunaiRequest:
    """``GET /api/v1/asset/credentials`` of one project (optionally filtered by name)."""
    query: tuple[tuple[str, str], ...] = (("scope", "project"), ("projectId", project_id))
    if name:
        query = (("name", name), *query)
    return RunaiRequest("GET", CREDENTIALS, "view credentials in the project", query=query)


def plan_create_credential(body: Mapping[str, Any]) -> RunaiRequest:
    """``POST /api/v1/asset/credentials/generic-secret``: a credential holding the token.

    Not idempotent on a dropped answer (a retry could meet its own first try, which
    the credential step tells apart by name and marker). The body is never logged.
    """
    return RunaiRequest(
        "POST",
        GENERIC_SECRETS,
        "create credentials in the project",
        body=body,
        idempotent=False,
    )


def plan_delete_credential(asset_id: str) -> RunaiRequest:
    """``DELETE /api/v1/asset/credentials/generic-secret/{AssetId}``."""
    return RunaiRequest(
        "DELETE", f"{GENERIC_SECRETS}/{quote(asset_id)}", "delete credentials in the project"
    )
