"""Names, labels, annotations and the spec hash shared by every rendered object.

This module owns the provider's own labels (how a workload's objects are
found again), the object names derived from the workload name, and the hash
that tells whether a live workload already matches a spec.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from airflow_provider_hfinfer import PACKAGE_NAME
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import PROVIDER_PREFIX, InferenceWorkload
from airflow_provider_hfinfer.spec.models import VLLM_PORT

WORKLOAD_LABEL = f"{PROVIDER_PREFIX}/workload"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = PACKAGE_NAME
SPEC_HASH_ANNOTATION = f"{PROVIDER_PREFIX}/spec-hash"
MODEL_ANNOTATION = f"{PROVIDER_PREFIX}/model"
REVISION_ANNOTATION = f"{PROVIDER_PREFIX}/revision"
TTL_ANNOTATION = f"{PROVIDER_PREFIX}/auto-delete-after"
CONTAINER_NAME = "vllm"
CONTAINER_PORT = VLLM_PORT


def secret_name(workload: InferenceWorkload) -> str | None:
    """Name of the Secret holding the token, or None when no token is used."""
    access = workload.hf_access
    if access.type == "token":
        return f"{workload.name}-hf-token"
    if access.type in ("existing_secret", "new_secret"):
        return access.secret_name
    return None


def secret_key(workload: InferenceWorkload) -> str:
    """Key of the token inside the Secret."""
    access = workload.hf_access
    if access.type in ("existing_secret", "new_secret"):
        return access.key
    return "HF_TOKEN"


def selector_labels(workload: InferenceWorkload) -> dict[str, str]:
    """Labels that select the workload's pods (immutable once created)."""
    return {WORKLOAD_LABEL: workload.name}


def workload_selector(name: str) -> str:
    """Label selector string that finds every object of a workload this provider made."""
    return f"{WORKLOAD_LABEL}={name},{MANAGED_BY_LABEL}={MANAGED_BY}"


def provider_labels(workload: InferenceWorkload) -> dict[str, str]:
    """The user's labels plus the provider's own ``app.kubernetes.io/*`` labels."""
    return {
        **workload.labels,
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": workload.name,
        "app.kubernetes.io/component": "inference-server",
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKLOAD_LABEL: workload.name,
    }


def spec_hash(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """Hash of everything that shapes the rendered objects, secrets excluded.

    The token is masked before hashing so the annotation reveals nothing about it;
    a token change alone is therefore not drift.
    """
    payload = {
        "spec": workload.redacted(),
        "namespace": namespace,
        "options": options.model_dump(mode="json"),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def object_annotations(workload: InferenceWorkload, digest: str) -> dict[str, str]:
    """The user's annotations plus the provider's bookkeeping annotations."""
    annotations = {
        **workload.annotations,
        SPEC_HASH_ANNOTATION: digest,
        MODEL_ANNOTATION: workload.model.id,
    }
    if workload.model.revision:
        annotations[REVISION_ANNOTATION] = workload.model.revision
    if workload.auto_delete_after is not None:
        annotations[TTL_ANNOTATION] = str(workload.auto_delete_after)
    return annotations


def object_meta(
    name: str, namespace: str, workload: InferenceWorkload, digest: str
) -> dict[str, Any]:
    """``metadata`` for a top-level object of the workload."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": provider_labels(workload),
        "annotations": object_annotations(workload, digest),
    }


def service_host(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """In-cluster DNS name of the workload's Service."""
    return f"{workload.name}.{namespace}.svc.{options.cluster_domain}"
