"""The fake control plane's credential assets: generic secrets and the secrets they become.

:class:`Credentials` keeps the project-scoped generic-secret credentials the
fake serves under ``/api/v1/asset/credentials`` (list with ``name``, ``scope``,
``projectId`` filters; create, get, update, delete one ``generic-secret``) and
the Kubernetes secrets that exist in each project's namespace: a credential
adds one (its "Kubernetes name", reported as ``clusterInfo.resources[].name``),
deleting it removes it. Bodies are validated against :mod:`.schema`; answers
never carry a value back, as the real API does not.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from .schema import (
    GENERIC_SECRET_CREATION_REQUEST,
    GENERIC_SECRET_UPDATE_REQUEST,
    credential_rule_problems,
    problems,
)

CREDENTIALS = "/api/v1/asset/credentials"
GENERIC_SECRETS = f"{CREDENTIALS}/generic-secret"


@dataclass
class Credential:
    """One credential the fake keeps (its values stay here, never in an answer)."""

    id: str
    meta: dict[str, Any]
    values: dict[str, str]
    kube_name: str
    created_by: str
    created_at: str
    updates: int = 0

    def record(self, project_name: str) -> dict[str, Any]:
        meta = {
            **copy.deepcopy(self.meta),
            "id": self.id,
            "kind": "generic-secret",
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "updatedBy": self.created_by,
            "updatedAt": self.created_at,
            "projectName": project_name,
            "updateCount": self.updates,
        }
        return {
            "meta": meta,
            "spec": {"keyValuePairs": [{"key": key} for key in self.values], "keyId": 1},
            "clusterInfo": {"resources": [{"name": self.kube_name}]},
        }


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": status, "message": message}


@dataclass
class Credentials:
    """The credential store and the namespaces' secrets, keyed by project id."""

    projects: dict[str, str]
    client: str
    now: Any
    items: dict[str, Credential] = field(default_factory=dict)
    secrets: dict[str, set[str]] = field(default_factory=dict)
    kube_prefix: str = ""
    """Prepended to a credential's name to make its Kubernetes name (tests set it)."""

    def add_secret(self, project_id: str, name: str) -> None:
        """A Kubernetes secret that exists in the project's namespace (an existing_secret)."""
        self.secrets.setdefault(project_id, set()).add(name)

    def add_foreign(self, name: str, project_id: str) -> Credential:
        """A generic secret someone else created (no provider marker)."""
        return self._store(
            {"name": name, "scope": "project", "projectId": int(project_id)},
            {"TOKEN": "someone-elses"},
            "ana@example.com",
        )

    def named(self, name: str) -> list[Credential]:
        return [c for c in self.items.values() if c.meta["name"] == name]

    def _store(self, meta: dict[str, Any], values: dict[str, str], who: str) -> Credential:
        project_id = str(meta.get("projectId"))
        item = Credential(
            str(uuid.uuid4()), meta, values, self.kube_prefix + meta["name"], who, self.now()
        )
        self.items[item.id] = item
        self.add_secret(project_id, item.kube_name)
        return item

    def route(
        self, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        if path == CREDENTIALS and method == "GET":
            return 200, {"entries": self.list(query)}
        if path == GENERIC_SECRETS and method == "GET":
            return 200, {"entries": self.list(query)}
        if path == GENERIC_SECRETS and method == "POST":
            return self.create(body)
        if path.startswith(GENERIC_SECRETS + "/"):
            return self.one(method, path[len(GENERIC_SECRETS) + 1 :], body)
        return _error(404, f"no route {method} {path}")

    def list(self, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        wanted = dict(query)
        found = []
        for item in self.items.values():
            meta = item.meta
            if "name" in wanted and wanted["name"] not in meta["name"]:  # a contains filter
                continue
            if "projectId" in wanted and str(meta.get("projectId")) != wanted["projectId"]:
                continue
            if "scope" in wanted and meta["scope"] != wanted["scope"]:
                continue
            found.append(item.record(self.projects.get(str(meta.get("projectId")), "?")))
        return found

    def create(self, body: Any) -> tuple[int, Any]:
        found = problems(GENERIC_SECRET_CREATION_REQUEST, body)
        if found:
            return _error(400, "; ".join(found))
        rules = credential_rule_problems(body)
        if rules:
            return _error(422, "; ".join(rules))
        meta = body["meta"]
        if str(meta.get("projectId")) not in self.projects:
            return _error(404, f"project {meta.get('projectId')} not found")
        if any(
            c.meta["name"] == meta["name"] and c.meta.get("projectId") == meta.get("projectId")
            for c in self.items.values()
        ):
            return _error(409, f"a credential named {meta['name']} already exists in the scope")
        values = {pair["key"]: pair["value"] for pair in body["spec"]["keyValuePairs"]}
        item = self._store(copy.deepcopy(meta), values, self.client)
        return 202, item.record(self.projects[str(meta["projectId"])])

    def one(self, method: str, asset_id: str, body: Any) -> tuple[int, Any]:
        item = self.items.get(asset_id)
        if item is None:
            return _error(404, "asset not found")
        project_id = str(item.meta.get("projectId"))
        if method == "GET":
            return 200, item.record(self.projects.get(project_id, "?"))
        if method == "PUT":
            found = problems(GENERIC_SECRET_UPDATE_REQUEST, body)
            if found:
                return _error(400, "; ".join(found))
            item.meta.update((body or {}).get("meta") or {})
            item.updates += 1
            return 202, item.record(self.projects.get(project_id, "?"))
        if method == "DELETE":
            del self.items[asset_id]
            self.secrets.get(project_id, set()).discard(item.kube_name)
            return 202, {"code": 202, "message": "deletion requested"}
        return _error(405, "method not allowed")

    def missing_secrets(self, project_id: str, spec: dict[str, Any]) -> list[str]:
        """Env variables whose ``secret`` names no secret of the project's namespace."""
        known = self.secrets.get(project_id, set())
        return [
            f"environmentVariables[{var.get('name')}].secret.name: no secret "
            f"{var['secret'].get('name')!r} in the project's namespace"
            for var in spec.get("environmentVariables") or []
            if isinstance(var.get("secret"), dict) and var["secret"].get("name") not in known
        ]
