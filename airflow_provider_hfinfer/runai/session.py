"""One task's conversation with Run:ai: names resolved to ids once, then the workload verbs.

This module owns :class:`RunaiSession`: it resolves the connection's cluster
(name or UUID) and the operator's project name to ids with the listing
endpoints, once per session (so once per task), failing with the names the
control plane knows when one does not exist; and it offers the verbs the
deploy steps need (find a workload by name, read it, create, update, delete;
list, create and delete a project's credentials) over one
:class:`~.client.RunaiClient`. No Airflow, no business rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_hfinfer.exceptions import RunaiNotFoundError
from airflow_provider_hfinfer.runai.body import RunaiTarget, update_request
from airflow_provider_hfinfer.runai.client import RunaiClient, server_now
from airflow_provider_hfinfer.runai.requests import (
    CLUSTERS,
    PROJECTS,
    plan_create,
    plan_create_credential,
    plan_delete,
    plan_delete_credential,
    plan_find_workloads,
    plan_get_inference,
    plan_get_workload,
    plan_list_clusters,
    plan_list_credentials,
    plan_list_projects,
    plan_list_workloads,
    plan_update,
)

MAX_LISTED = 20
"""Known names quoted in an unknown-project or unknown-cluster message."""


def _items(answer: Any, key: str) -> list[Mapping[str, Any]]:
    """The list in an answer: the answer itself, or its ``key`` field."""
    found = answer.get(key) if isinstance(answer, Mapping) else answer
    return [item for item in found or [] if isinstance(item, Mapping)]


def _known(names: Sequence[str]) -> str:
    shown = sorted(set(names))
    more = f" and {len(shown) - MAX_LISTED} more" if len(shown) > MAX_LISTED else ""
    return ", ".join(shown[:MAX_LISTED]) + more if shown else "none"


class RunaiSession:
    """A task's session with one control plane, on one cluster.

    Args:
        client: The HTTP client (token, retries, errors).
        cluster: The connection's cluster, by name or UUID.
    """

    def __init__(self, client: RunaiClient, cluster: str) -> None:
        self.client = client
        self.cluster = cluster
        self._cluster_id: str | None = None
        self._targets: dict[str, RunaiTarget] = {}

    # ------------------------------------------------------------ resolving

    def cluster_id(self) -> str:
        """The cluster's UUID (listed once)."""
        if self._cluster_id is None:
            request = plan_list_clusters()
            clusters = _items(self.client.send(request), "clusters")
            for item in clusters:
                if self.cluster in (item.get("uuid"), item.get("id"), item.get("name")):
                    self._cluster_id = str(item.get("uuid") or item.get("id"))
                    break
            else:
                known = [str(item.get("name")) for item in clusters if item.get("name")]
                raise RunaiNotFoundError(
                    f"the Run:ai control plane has no cluster {self.cluster!r} (known: "
                    f"{_known(known)}): set the runai connection's cluster extra to one of them",
                    status=404,
                    method=request.method,
                    path=CLUSTERS,
                    permission=request.permission,
                    reason="UnknownCluster",
                )
        return self._cluster_id

    def resolve(self, project: str) -> RunaiTarget:
        """Project and cluster ids for a project name (listed once per session).

        Raises:
            RunaiNotFoundError: The cluster or the project is unknown; the message
                lists the known names.
        """
        if project in self._targets:
            return self._targets[project]
        cluster_id = self.cluster_id()
        request = plan_list_projects(cluster_id)
        projects = _items(self.client.send(request), "projects")
        for item in projects:
            same_cluster = str(item.get("clusterId") or cluster_id) == cluster_id
            if same_cluster and project in (item.get("name"), str(item.get("id"))):
                target = RunaiTarget(project, str(item["id"]), self.cluster, cluster_id)
                self._targets[project] = target
                return target
        known = [str(item.get("name")) for item in projects if item.get("name")]
        raise RunaiNotFoundError(
            f"cluster {self.cluster!r} has no Run:ai project {project!r} (known: "
            f"{_known(known)}): pass one of them as namespace",
            status=404,
            method=request.method,
            path=PROJECTS,
            permission=request.permission,
            namespace=project,
            reason="UnknownProject",
        )

    # ---------------------------------------------------------------- verbs

    def find(self, name: str, target: RunaiTarget) -> Mapping[str, Any] | None:
        """The workload of that exact name in the project (any type), if any."""
        answer = self.client.send(
            plan_find_workloads(name, target.project_id), project=target.project, name=name
        )
        for item in _items(answer, "workloads"):
            if item.get("name") == name and str(item.get("projectId")) == target.project_id:
                return item
        return None

    def list_project(self, target: RunaiTarget, page: int = 500) -> list[Mapping[str, Any]]:
        """Every workload of the project (any type, any submitter), page by page."""
        found: list[Mapping[str, Any]] = []
        while True:
            request = plan_list_workloads(target.project_id, len(found), page)
            items = _items(self.client.send(request, project=target.project), "workloads")
            found += items
            if len(items) < page:
                return found

    def inference(self, workload_id: str) -> Mapping[str, Any] | None:
        """The inference and its spec; None when it is gone."""
        found = self.client.get_or_none(plan_get_inference(workload_id))
        return found if isinstance(found, Mapping) else None

    def workload(self, workload_id: str) -> Mapping[str, Any] | None:
        """The workload record (phase, pods, conditions, URLs); None when it is gone."""
        found = self.client.get_or_none(plan_get_workload(workload_id))
        return found if isinstance(found, Mapping) else None

    def create(
        self, body: Mapping[str, Any], target: RunaiTarget
    ) -> tuple[Mapping[str, Any], datetime]:
        """Submit an inference; its answer and the control plane's time of it."""
        name = str(body.get("name"))
        answer = self.client.answer(plan_create(body), project=target.project, name=name)
        parsed = answer.json()
        return (parsed if isinstance(parsed, Mapping) else {}), server_now(answer)

    def update(self, workload_id: str, spec: Mapping[str, Any], target: RunaiTarget) -> datetime:
        """Replace the inference's spec; the control plane's time of the change."""
        answer = self.client.answer(
            plan_update(workload_id, update_request(dict(spec))), project=target.project
        )
        return server_now(answer)

    def delete(self, workload_id: str, target: RunaiTarget | None = None) -> bool:
        """Delete an inference; False when it was already gone."""
        project = target.project if target else None
        try:
            self.client.send(plan_delete(workload_id), project=project)
        except RunaiNotFoundError:
            return False
        return True

    # ---------------------------------------------------------- credentials

    def credentials(self, target: RunaiTarget, name: str | None = None) -> list[Mapping[str, Any]]:
        """The project's credentials (exactly ``name`` when given), each with its ``meta``."""
        request = plan_list_credentials(target.project_id, name)
        found = _items(self.client.send(request, project=target.project), "entries")
        if name is not None:
            found = [item for item in found if _meta(item).get("name") == name]
        return [item for item in found if str(_meta(item).get("projectId")) == target.project_id]

    def create_credential(self, body: Mapping[str, Any], target: RunaiTarget) -> Mapping[str, Any]:
        """Create a generic-secret credential; the control plane's answer (no values)."""
        answer = self.client.send(plan_create_credential(body), project=target.project)
        return answer if isinstance(answer, Mapping) else {}

    def delete_credential(self, asset_id: str, target: RunaiTarget) -> bool:
        """Delete a generic-secret credential; False when it was already gone."""
        try:
            self.client.send(plan_delete_credential(asset_id), project=target.project)
        except RunaiNotFoundError:
            return False
        return True


def _meta(item: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = item.get("meta")
    return meta if isinstance(meta, Mapping) else {}
