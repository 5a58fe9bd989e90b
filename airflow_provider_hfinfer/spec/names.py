"""The provider's vocabulary on the cluster: every label and annotation key it writes.

This module owns the keys (``hfinfer.io/*``, the ``app.kubernetes.io/*`` labels
the provider sets, the owner and lifecycle-state keys) and the few helpers that
read them back from an object: its ``Kind/name`` reference, whether the provider
manages it for a given workload, who applied it. Everything that writes or reads
one of these keys imports it from here. Pure: no I/O, no client imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_hfinfer import PACKAGE_NAME
from airflow_provider_hfinfer.spec.models import PROVIDER_PREFIX

# --------------------------------------------------------------------- labels

WORKLOAD_LABEL = f"{PROVIDER_PREFIX}/workload"
"""Label naming the workload an object belongs to (also the pod selector)."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = PACKAGE_NAME
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
"""Label selector of every object this provider manages, in any workload."""
PREWARM_LABEL = f"{PROVIDER_PREFIX}/prewarm"
"""Label on a prewarm Job's pods naming the workload whose model cache they fill.

Not :data:`WORKLOAD_LABEL`: the workload's Service selects pods by that one, and a
download pod must never receive inference traffic.
"""

# ---------------------------------------------------------------- annotations

SPEC_HASH_ANNOTATION = f"{PROVIDER_PREFIX}/spec-hash"
MODEL_ANNOTATION = f"{PROVIDER_PREFIX}/model"
REVISION_ANNOTATION = f"{PROVIDER_PREFIX}/revision"
TTL_ANNOTATION = f"{PROVIDER_PREFIX}/auto-delete-after"
OWNER_ANNOTATION = f"{PROVIDER_PREFIX}/owner"
"""The task (``dag/task/run``) that applied an object: retries reconcile, others may not."""
PHASE_ANNOTATION = f"{PROVIDER_PREFIX}/phase"
FINISHED_AT_ANNOTATION = f"{PROVIDER_PREFIX}/finished-at"
FINISH_REASON_ANNOTATION = f"{PROVIDER_PREFIX}/finish-reason"
APPLIED_SPEC_ANNOTATION = f"{PROVIDER_PREFIX}/applied-spec"
"""The redacted spec a Deployment was applied from: the next rollout's way back."""
PREWARM_OF_ANNOTATION = f"{PROVIDER_PREFIX}/prewarm-of"
"""What a prewarm Job downloads (``model@revision into claim``): a retry reuses the Job
only for the same cache."""
CREDENTIAL_ANNOTATION = f"{PROVIDER_PREFIX}/hf-credential"
"""The Run:ai credential an inline token became, on the workload that uses it."""
PREVIOUS_SPEC_ANNOTATION = f"{PROVIDER_PREFIX}/previous-spec"
"""The redacted spec a Deployment ran before its last rollout: a deferred rollout's way back."""

# ------------------------------------------------------------ Airflow-side keys

STATE_KEY = "hfinfer_workload"
"""Task state store key recording which workload a deploy task applied."""
PENDING_RESULT_KEY = "hfinfer_pending_result"
"""XCom key carrying a deferred task's result to its resumed half."""


# -------------------------------------------------------------------- helpers


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's annotations (empty when it has none)."""
    meta = obj.get("metadata")
    found = meta.get("annotations") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """An object's labels (empty when it has none)."""
    meta = obj.get("metadata")
    found = meta.get("labels") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def object_ref(obj: Mapping[str, Any]) -> str:
    """``Kind/name`` of a manifest or live object, for messages and bookkeeping."""
    return f"{obj['kind']}/{obj['metadata']['name']}"


def workload_selector(name: str) -> str:
    """Label selector string that finds every object of a workload this provider made."""
    return f"{WORKLOAD_LABEL}={name},{MANAGED_SELECTOR}"


def is_ours(obj: Mapping[str, Any], name: str) -> bool:
    """Whether the provider manages ``obj`` as part of workload ``name``."""
    labels = labels_of(obj)
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(WORKLOAD_LABEL) == name


def owner_of(obj: Mapping[str, Any]) -> str | None:
    """The task identity that applied ``obj`` (``hfinfer.io/owner``), if recorded."""
    owner = annotations_of(obj).get(OWNER_ANNOTATION)
    return str(owner) if owner else None
