"""Which request path each form field becomes on Run:ai, beside what Kubernetes renders.

This module owns :data:`FIELD_TABLE`, one row per field of the workload spec
(and the two operator arguments that pick the project and cluster): the paths
of the ``InferenceCreationRequest`` the field sets on the runai backend (empty
when Run:ai has no field for it, with the reason), and what the kubernetes
backend renders for it. The README's side-by-side is this table; a test sets
each field and checks that exactly those request paths change. It also owns
:func:`leaf_paths`, the flattening that names a request path
(``spec.environmentVariables[HF_TOKEN].secret.name``). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldRow:
    """One form field on both backends.

    Attributes:
        field: The spec field (or operator argument) as a DAG author writes it.
        runai: Request paths it sets on Run:ai (prefixes of :func:`leaf_paths` keys);
            empty when Run:ai has no field for it.
        kubernetes: What the kubernetes backend renders for it.
        note: Semantics worth knowing, or why the runai backend refuses it.
    """

    field: str
    runai: tuple[str, ...]
    kubernetes: str
    note: str = ""


FIELD_TABLE: tuple[FieldRow, ...] = (
    FieldRow(
        "cluster (connection)",
        ("clusterId",),
        "the Kubernetes connection",
        "the runai connection's cluster name or UUID, resolved with GET /api/v1/clusters",
    ),
    FieldRow(
        "namespace (project argument)",
        ("projectId",),
        "metadata.namespace of every object",
        "the project's name, resolved with GET /api/v1/org-unit/projects",
    ),
    FieldRow(
        "name",
        ("name", "spec.labels[app.kubernetes.io/instance]", "spec.labels[hfinfer.io/workload]"),
        "metadata.name of every object",
        "useGivenNameAsPrefix is false",
    ),
    FieldRow(
        "model.id",
        ("spec.args", "spec.annotations[hfinfer.io/model]"),
        "--model / --served-model-name",
    ),
    FieldRow(
        "model.revision", ("spec.args", "spec.annotations[hfinfer.io/revision]"), "--revision"
    ),
    FieldRow("model.served_name", ("spec.args",), "--served-model-name"),
    FieldRow(
        "hf_access existing_secret",
        ("spec.environmentVariables[HF_TOKEN].secret",),
        "env HF_TOKEN from a secretKeyRef",
    ),
    FieldRow(
        "hf_access token / new_secret, hf_conn_id",
        (
            "spec.environmentVariables[HF_TOKEN].secret",
            "spec.annotations[hfinfer.io/hf-credential]",
        ),
        "a new Secret, env HF_TOKEN from a secretKeyRef",
        "a new Run:ai credential (generic secret) `<name>-hf-token-<8 hex>`, created "
        "first; HF_TOKEN from its secret",
    ),
    FieldRow(
        "endpoint_access.mode",
        ("spec.servingPort.authorizationType",),
        "Istio RequestAuthentication + AuthorizationPolicy",
        "public, authenticatedUsers, authorizedGroups, authorizedUsers",
    ),
    FieldRow(
        "endpoint_access.groups",
        ("spec.servingPort.authorizedGroups",),
        "AuthorizationPolicy on the groups claim",
    ),
    FieldRow(
        "endpoint_access.users",
        ("spec.servingPort.authorizedUsers",),
        "AuthorizationPolicy on the user claims",
    ),
    FieldRow(
        "compute.gpus",
        (
            "spec.compute.gpuDevicesRequest",
            "spec.compute.largeShmRequest",
            "spec.args",
            "spec.servingConfiguration.initializationTimeoutSeconds",
        ),
        "nvidia.com/gpu, --tensor-parallel-size, /dev/shm, startup window",
    ),
    FieldRow(
        "compute.gpu_memory",
        (),
        "node selection on the GPU memory label",
        "refused: gpuMemoryRequest is a fraction of one shared GPU, not a node filter",
    ),
    FieldRow("compute.cpu", ("spec.compute.cpuCoreRequest",), "requests.cpu"),
    FieldRow("compute.cpu_limit", ("spec.compute.cpuCoreLimit",), "limits.cpu"),
    FieldRow("compute.memory", ("spec.compute.cpuMemoryRequest",), "requests.memory"),
    FieldRow("compute.memory_limit", ("spec.compute.cpuMemoryLimit",), "limits.memory"),
    FieldRow(
        "replicas.min",
        ("spec.autoscaling.minReplicas",),
        "Deployment replicas, or the scaler's minimum",
    ),
    FieldRow("replicas.max", ("spec.autoscaling.maxReplicas",), "the scaler's maximum"),
    FieldRow(
        "autoscaling.metric",
        ("spec.autoscaling.metric",),
        "KEDA ScaledObject Prometheus query on vLLM's metrics",
        "Run:ai's built-in latency (ms), throughput or concurrency",
    ),
    FieldRow(
        "autoscaling.threshold",
        ("spec.autoscaling.metricThreshold",),
        "the ScaledObject trigger's threshold",
        "an integer on Run:ai",
    ),
    FieldRow(
        "scale_to_zero.idle_seconds",
        ("spec.autoscaling.scaleToZeroRetentionSeconds", "spec.autoscaling.minReplicas"),
        "KEDA HTTP add-on HTTPScaledObject scaledownPeriod",
        "at most 3600 on Run:ai; throughput or concurrency only",
    ),
    FieldRow(
        "node_pools",
        ("spec.nodePools",),
        "required + preferred node affinity (steep weights)",
        "Run:ai's scheduler takes the list in priority order",
    ),
    FieldRow("node_type", ("spec.nodeType",), "required node affinity on run.ai/type"),
    FieldRow(
        "tolerations",
        ("spec.tolerations",),
        "pod tolerations",
        "Equals -> Equal; effect Any is Run:ai's own; seconds >= 1",
    ),
    FieldRow(
        "auto_delete_after",
        ("spec.annotations[hfinfer.io/auto-delete-after]",),
        "hfinfer.io/* TTL annotations; the complete/cleanup operators delete",
        "no auto-deletion in the inference API: the complete and cleanup operators delete",
    ),
    FieldRow(
        "annotations",
        ("spec.annotations",),
        "metadata.annotations of every object and pod",
        "keys of at most 63 characters on Run:ai",
    ),
    FieldRow(
        "labels",
        ("spec.labels",),
        "metadata.labels of every object and pod",
        "keys of at most 63 characters on Run:ai",
    ),
    FieldRow("vllm.image", ("spec.image",), "the container image"),
    FieldRow(
        "vllm.max_model_len, dtype, gpu_memory_utilization, task, extra_args",
        ("spec.args",),
        "vllm serve flags",
    ),
    FieldRow(
        "cache.type, cache.claim_name",
        ("spec.storage.pvc", "spec.storage.emptyDirVolume"),
        "the model-cache volume (emptyDir or PVC) at /models",
    ),
    FieldRow(
        "cache.size_limit",
        ("spec.storage.emptyDirVolume[model-cache].sizeLimit",),
        "emptyDir sizeLimit",
    ),
    FieldRow(
        "cache.prewarm",
        (),
        "a Job that downloads the model into the PVC before the Deployment scales up",
        "refused: the Run:ai backend submits the inference workload only",
    ),
    FieldRow(
        "update_strategy",
        (),
        "Deployment strategy",
        "RollingUpdate is what Run:ai does; Recreate is refused",
    ),
)


def _key(item: Any, index: int) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        return str(item["name"])
    return str(index)


def leaf_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a request body to ``path: value``; list items are named by their ``name``.

    ``{"spec": {"labels": [{"name": "team", "value": "ml"}]}}`` gives
    ``{"spec.labels[team].name": "team", "spec.labels[team].value": "ml"}``.
    """
    found: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            found.update(leaf_paths(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            found.update(leaf_paths(item, f"{prefix}[{_key(item, index)}]"))
    else:
        found[prefix] = value
    return found


def under(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or lies below one (``.`` or ``[``)."""
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def markdown_table() -> str:
    """:data:`FIELD_TABLE` as the README's side-by-side (one row per field)."""
    lines = [
        "| form field | kubernetes backend | runai backend (request path) | note |",
        "|---|---|---|---|",
    ]
    for row in FIELD_TABLE:
        runai = ", ".join(f"`{path}`" for path in row.runai) or "(no field)"
        lines.append(f"| `{row.field}` | {row.kubernetes} | {runai} | {row.note} |")
    return "\n".join(lines)
