"""Names, labels, annotations and the spec hash shared by every rendered object.

This module owns the provider's own labels (how a workload's objects are
found again), the object names derived from the workload name, and the hash
that tells whether a live workload already matches a spec.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.models import VLLM_PORT
from airflow_provider_hfinfer.spec.names import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    MODEL_ANNOTATION,
    NAME_LABEL,
    OWNER_ANNOTATION,
    REVISION_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    TTL_ANNOTATION,
    WORKLOAD_LABEL,
    workload_selector,
)

__all__ = [
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "SPEC_HASH_ANNOTATION",
    "TTL_ANNOTATION",
    "WORKLOAD_LABEL",
    "object_meta",
    "provider_labels",
    "selector_labels",
    "service_host",
    "spec_hash",
    "workload_selector",
]

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


def provider_labels(workload: InferenceWorkload) -> dict[str, str]:
    """The user's labels plus the provider's own ``app.kubernetes.io/*`` labels."""
    return {
        **workload.labels,
        NAME_LABEL: "vllm",
        INSTANCE_LABEL: workload.name,
        COMPONENT_LABEL: "inference-server",
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


def object_annotations(workload: InferenceWorkload, stamp: Stamp) -> dict[str, str]:
    """The user's annotations plus the provider's bookkeeping annotations."""
    annotations = {
        **workload.annotations,
        SPEC_HASH_ANNOTATION: stamp.digest,
        MODEL_ANNOTATION: workload.model.id,
    }
    if workload.model.revision:
        annotations[REVISION_ANNOTATION] = workload.model.revision
    if workload.auto_delete_after is not None:
        annotations[TTL_ANNOTATION] = str(workload.auto_delete_after)
    if stamp.context.owner:
        annotations[OWNER_ANNOTATION] = stamp.context.owner
    return annotations


def object_meta(
    name: str, namespace: str, workload: InferenceWorkload, stamp: Stamp
) -> dict[str, Any]:
    """``metadata`` for a top-level object of the workload."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": provider_labels(workload),
        "annotations": object_annotations(workload, stamp),
    }


def service_host(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """In-cluster DNS name of the workload's Service."""
    return f"{workload.name}.{namespace}.svc.{options.cluster_domain}"
