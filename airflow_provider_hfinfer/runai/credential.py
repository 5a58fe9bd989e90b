"""The Run:ai credential an inline Hugging Face token becomes: its name, marker and request.

This module owns how an inline token (``hf_access`` ``token`` or ``new_secret``, or
the operator's ``hf_conn_id``) reaches a Run:ai inference workload without ever
being a plain environment variable: a project-scoped credential of type generic
secret (``POST /api/v1/asset/credentials/generic-secret``, ``meta`` and ``spec.
keyValuePairs`` as the API reference of versions 2.22 to 3.0 names them), which
Run:ai turns into a Kubernetes secret in the project's namespace; the workload's
``HF_TOKEN`` then comes from that secret (``environmentVariables[].secret``).

* **The name** is derived from the workload (``<name>-hf-token``, or the
  ``new_secret`` name) plus an 8-hex fingerprint of project, workload and token,
  so it is deterministic (a retry finds the credential its first try created)
  and a rotated token gets a new credential: the API updates a generic secret's
  description only, never its values. The fingerprint is a salted SHA-256
  prefix (32 bits) of a high-entropy token and reveals nothing usable about it.
* **The marker** is the credential's ``meta.description``, naming this provider
  and the workload: a credential of the name without it is someone else's.
* **The request** holds the token; :func:`redacted` is its form for dry runs and
  messages. The value lives only in :class:`CredentialPlan.body` (kept out of
  ``repr``). Pure: no I/O.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hfinfer.render.metadata import secret_key, secret_name
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import MANAGED_BY

KIND = "Credential"
"""How XCom and messages name a Run:ai credential (``Credential/<name>``)."""
MAX_NAME = 63
"""Longest credential name the provider writes (a DNS label: it names a Kubernetes secret)."""
FINGERPRINT_LENGTH = 8
REDACTED = "<redacted>"
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class CredentialRef:
    """Which secret the workload's ``HF_TOKEN`` comes from.

    Attributes:
        name: The Run:ai credential's name.
        key: The key inside it (``HF_TOKEN`` unless ``new_secret`` says otherwise).
        secret: The Kubernetes secret Run:ai made of it (its "Kubernetes name"),
            which ``environmentVariables[].secret.name`` references.
    """

    name: str
    key: str
    secret: str


@dataclass(frozen=True)
class CredentialPlan:
    """One credential to create (or adopt) before the workload is submitted.

    Attributes:
        ref: Its name, key and (assumed until the control plane says otherwise)
            Kubernetes secret name.
        description: The provider's marker (``meta.description``).
        body: The ``POST`` body, token included; never logged (see :meth:`redacted`).
    """

    ref: CredentialRef
    description: str
    body: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """The credential's name."""
        return self.ref.name

    @property
    def object_ref(self) -> str:
        """``Credential/<name>``."""
        return f"{KIND}/{self.ref.name}"

    def redacted(self) -> dict[str, Any]:
        """The request body with every value masked (for dry runs)."""
        return redacted(self.body)


def marker(workload_name: str) -> str:
    """The ``meta.description`` that marks a credential as this provider's, for one workload."""
    return f"managed by {MANAGED_BY}: Hugging Face token of inference workload {workload_name}"


def fingerprint(project: str, workload_name: str, token: str) -> str:
    """An 8-hex salted digest of the token: a new one per rotation, nothing usable about it."""
    salted = f"{MANAGED_BY}\n{project}\n{workload_name}\n{token}".encode()
    return hashlib.sha256(salted).hexdigest()[:FINGERPRINT_LENGTH]


def credential_name(workload: InferenceWorkload, project: str, token: str) -> str:
    """``<base>-<fingerprint>``, at most 63 characters, a DNS label.

    The base is what the kubernetes backend names its Secret: ``<name>-hf-token``
    for an inline token (and ``hf_conn_id``), the given ``secret_name`` for
    ``new_secret`` (dots become dashes: it names a Kubernetes secret too).
    """
    base = _NOT_DNS.sub("-", (secret_name(workload) or f"{workload.name}-hf-token").lower())
    room = MAX_NAME - FINGERPRINT_LENGTH - 1
    base = base[:room].strip("-") or "hf-token"
    return f"{base}-{fingerprint(project, workload.name, token)}"


def project_number(project_id: str) -> int | str:
    """``meta.projectId`` is an integer in the asset API (a dry run's marker stays text)."""
    return int(project_id) if project_id.isdigit() else project_id


def plan_credential(
    workload: InferenceWorkload, project: str, project_id: str
) -> CredentialPlan | None:
    """The credential an inline token needs; None when the spec has none (pure).

    Args:
        workload: The validated spec (``hf_conn_id`` already turned into a token).
        project: The project's name (salts the fingerprint).
        project_id: The project's id (``meta.projectId``).
    """
    token = workload.inline_token()
    if token is None:
        return None
    name = credential_name(workload, project, token)
    description = marker(workload.name)
    body = {
        "meta": {
            "name": name,
            "description": description,
            "scope": "project",
            "projectId": project_number(project_id),
            "workloadSupportedTypes": {"inference": True},
        },
        "spec": {"keyValuePairs": [{"key": secret_key(workload), "value": token}]},
    }
    return CredentialPlan(CredentialRef(name, secret_key(workload), name), description, body)


def redacted(body: dict[str, Any]) -> dict[str, Any]:
    """A credential request with every key-value pair's value masked."""
    masked = copy.deepcopy(body)
    for pair in (masked.get("spec") or {}).get("keyValuePairs") or []:
        if isinstance(pair, dict) and "value" in pair:
            pair["value"] = REDACTED
    return masked


def secret_name_of(credential: dict[str, Any]) -> str | None:
    """The Kubernetes secret Run:ai made of a credential (``clusterInfo.resources[].name``)."""
    info = credential.get("clusterInfo")
    resources = info.get("resources") if isinstance(info, dict) else None
    for item in resources if isinstance(resources, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            return str(item["name"])
    return None


def meta_of(credential: object) -> dict[str, Any]:
    """A credential's ``meta`` (empty when the answer has none)."""
    meta = credential.get("meta") if isinstance(credential, dict) else None
    return meta if isinstance(meta, dict) else {}


def is_ours(credential: object, workload_name: str) -> bool:
    """Whether this provider created the credential for that workload (its marker)."""
    return meta_of(credential).get("description") == marker(workload_name)
