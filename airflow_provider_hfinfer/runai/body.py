"""The Run:ai request body a workload becomes: ``InferenceCreationRequest`` and its ``spec``.

This module owns the mapping of every form field to the NVIDIA Run:ai REST API
(``POST /api/v1/workloads/inferences``, field names and types as the API
reference of versions 2.22 to 3.0 publishes them): the vLLM flags as ``args``,
the token as an environment variable from a secret (an existing one, or the
Run:ai credential an inline token becomes, :mod:`.credential`), GPUs, CPU and
memory under ``compute``, the serving port and who may call it, autoscaling
(min/max, metric, threshold, scale-to-zero retention), node pools in order,
node type, tolerations, annotations and labels (the provider's bookkeeping
among them). Everything the API cannot express is refused earlier
(:mod:`.rules`); nothing here drops a field. Pure: no I/O.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from airflow_provider_hfinfer.render.deployment import (
    CACHE_MOUNT,
    HF_HOME,
    startup_window_seconds,
    vllm_args,
)
from airflow_provider_hfinfer.render.metadata import (
    CONTAINER_PORT,
    provider_labels,
    secret_key,
    secret_name,
)
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.render.records import spec_record
from airflow_provider_hfinfer.runai.credential import CredentialRef
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.kube_syntax import parse_quantity
from airflow_provider_hfinfer.spec.names import (
    APPLIED_SPEC_ANNOTATION,
    CREDENTIAL_ANNOTATION,
    MODEL_ANNOTATION,
    OWNER_ANNOTATION,
    PREVIOUS_SPEC_ANNOTATION,
    REVISION_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    TTL_ANNOTATION,
)

CACHE_VOLUME = "model-cache"
"""Name of the storage instance that holds ``HF_HOME``."""

_TOLERATION_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class RunaiTarget:
    """Where a workload is submitted: the project and cluster, by name and by id.

    Attributes:
        project: The project's name (the operator's ``namespace``/project argument).
        project_id: The project's id as the control plane lists it.
        cluster: The cluster's name (or id) from the connection.
        cluster_id: The cluster's UUID.
    """

    project: str
    project_id: str
    cluster: str
    cluster_id: str


@dataclass(frozen=True)
class Stamp:
    """What the provider records on a Run:ai workload besides the spec.

    Attributes:
        digest: The spec hash (``hfinfer.io/spec-hash``).
        owner: The task identity (``dag/task/run``); None writes none.
        record_spec: Record the redacted spec (``hfinfer.io/applied-spec``): the
            next update's way back.
        previous: The spec an update replaces, recorded redacted
            (``hfinfer.io/previous-spec``).
    """

    digest: str
    owner: str | None = None
    record_spec: bool = True
    previous: InferenceWorkload | None = None


def cpu_cores(quantity: str) -> float | int:
    """A Kubernetes CPU quantity as Run:ai's number of cores (``500m`` -> 0.5)."""
    return number(parse_quantity(quantity))


def _name_value(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": key, "value": value} for key, value in pairs.items()]


def workload_annotations(workload: InferenceWorkload, stamp: Stamp) -> dict[str, str]:
    """The user's annotations plus the provider's bookkeeping, as on a Kubernetes object."""
    found = {
        **workload.annotations,
        SPEC_HASH_ANNOTATION: stamp.digest,
        MODEL_ANNOTATION: workload.model.id,
    }
    if workload.model.revision:
        found[REVISION_ANNOTATION] = workload.model.revision
    if workload.auto_delete_after is not None:
        found[TTL_ANNOTATION] = str(workload.auto_delete_after)
    if stamp.owner:
        found[OWNER_ANNOTATION] = stamp.owner
    if stamp.record_spec:
        found[APPLIED_SPEC_ANNOTATION] = spec_record(workload)
    if stamp.previous is not None:
        found[PREVIOUS_SPEC_ANNOTATION] = spec_record(stamp.previous)
    return found


def environment(
    workload: InferenceWorkload, credential: CredentialRef | None = None
) -> list[dict[str, Any]]:
    """``environmentVariables``: the cache location, no telemetry, the token from a secret.

    The token is only ever a reference (``secret: {name, key}``): to the existing
    secret the spec names, or to the Kubernetes secret of the credential an inline
    token became (``credential``). An inline token without one is a caller's bug.

    Raises:
        ValueError: The spec holds an inline token and no credential is given.
    """
    env: list[dict[str, Any]] = [
        {"name": "HF_HOME", "value": HF_HOME},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    access = workload.hf_access
    if credential is not None:
        env.append(
            {"name": "HF_TOKEN", "secret": {"name": credential.secret, "key": credential.key}}
        )
    elif access.type == "existing_secret":
        secret = {"name": secret_name(workload), "key": secret_key(workload)}
        env.append({"name": "HF_TOKEN", "secret": secret})
    elif access.type != "none":
        raise ValueError(f"hf_access.type {access.type!r} needs the Run:ai credential it became")
    return env


def compute(workload: InferenceWorkload) -> dict[str, Any]:
    """``compute``: whole GPU devices, CPU cores and memory; a large /dev/shm for >1 GPU."""
    spec = workload.compute
    found: dict[str, Any] = {"gpuDevicesRequest": spec.gpus}
    if spec.cpu:
        found["cpuCoreRequest"] = cpu_cores(spec.cpu)
    if spec.cpu_limit:
        found["cpuCoreLimit"] = cpu_cores(spec.cpu_limit)
    if spec.memory:
        found["cpuMemoryRequest"] = spec.memory
    if spec.memory_limit:
        found["cpuMemoryLimit"] = spec.memory_limit
    if spec.gpus > 1:
        found["largeShmRequest"] = True  # tensor parallelism shares tensors through /dev/shm
    return found


_AUTHORIZATION = {
    "public": "public",
    "authenticated": "authenticatedUsers",
    "groups": "authorizedGroups",
    "users": "authorizedUsers",
}


def serving_port(workload: InferenceWorkload) -> dict[str, Any]:
    """``servingPort``: vLLM's port over HTTP and who may send requests to it."""
    access = workload.endpoint_access
    port: dict[str, Any] = {
        "container": CONTAINER_PORT,
        "protocol": "http",
        "authorizationType": _AUTHORIZATION[access.mode],
    }
    if access.mode == "groups":
        port["authorizedGroups"] = list(access.groups)
    if access.mode == "users":
        port["authorizedUsers"] = list(access.users)
    return port


def autoscaling(workload: InferenceWorkload) -> dict[str, Any]:
    """``autoscaling``: replicas, the metric and its threshold, scale-to-zero retention."""
    found: dict[str, Any] = {
        "minReplicas": workload.replicas.min,
        "maxReplicas": workload.replicas.max,
    }
    rule = workload.autoscaling
    if rule is not None:
        found["metric"] = rule.metric  # the built-in latency (ms), throughput, concurrency
        found["metricThreshold"] = int(rule.threshold)  # an integer in the API; rules.py
    if workload.scale_to_zero is not None:
        found["scaleToZeroRetentionSeconds"] = workload.scale_to_zero.idle_seconds
    return found


def tolerations(workload: InferenceWorkload) -> list[dict[str, Any]]:
    """``tolerations``: each with a name, Run:ai's ``Equal``/``Exists`` and its effect."""
    found: list[dict[str, Any]] = []
    for index, item in enumerate(workload.tolerations):
        slug = _TOLERATION_NAME.sub("-", item.key.lower()).strip("-")[:40] or "taint"
        entry: dict[str, Any] = {
            "name": f"{slug}-{index}",
            "operator": "Equal" if item.operator == "Equals" else "Exists",
            "key": item.key,
            "effect": item.effect,
        }
        if item.value is not None:
            entry["value"] = item.value
        if item.toleration_seconds is not None:
            entry["seconds"] = item.toleration_seconds
        found.append(entry)
    return found


def storage(workload: InferenceWorkload) -> dict[str, Any]:
    """``storage``: the model cache as an emptyDir or the named existing claim at /models."""
    cache = workload.cache
    if cache.type == "pvc":
        claim = {
            "name": CACHE_VOLUME,
            "path": CACHE_MOUNT,
            "existingPvc": True,
            "claimName": cache.claim_name,
        }
        return {"pvc": [claim]}
    empty: dict[str, Any] = {"name": CACHE_VOLUME, "path": CACHE_MOUNT}
    if cache.size_limit:
        empty["sizeLimit"] = cache.size_limit
    return {"emptyDirVolume": [empty]}


def probes() -> dict[str, Any]:
    """``probes``: readiness on vLLM's ``/health`` (200 only once the model loaded)."""
    return {
        "readiness": {
            "initialDelaySeconds": 0,
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 3,
            "handler": {"httpGet": {"path": "/health", "port": CONTAINER_PORT, "scheme": "HTTP"}},
        }
    }


def inference_spec(
    workload: InferenceWorkload,
    options: RenderOptions,
    stamp: Stamp,
    credential: CredentialRef | None = None,
) -> dict[str, Any]:
    """The request's ``spec``: everything the form says about how the workload runs.

    Args:
        workload: The validated spec (already checked by :func:`.rules.check_runai`).
        options: Cluster settings (the default image, the model-loading window).
        stamp: Spec hash, owner and spec records.
        credential: The secret ``HF_TOKEN`` comes from when the token was inline.

    Returns:
        A JSON-ready dict with the published field names.
    """
    annotations = workload_annotations(workload, stamp)
    if credential is not None:
        annotations[CREDENTIAL_ANNOTATION] = credential.name
    spec: dict[str, Any] = {
        "image": workload.vllm.image or options.default_image,
        "args": shlex.join(vllm_args(workload)),
        "environmentVariables": environment(workload, credential),
        "compute": compute(workload),
        "servingPort": serving_port(workload),
        "autoscaling": autoscaling(workload),
        "servingConfiguration": {
            "initializationTimeoutSeconds": startup_window_seconds(workload, options)
        },
        "probes": probes(),
        "storage": storage(workload),
        "annotations": _name_value(annotations),
        "labels": _name_value(provider_labels(workload)),
    }
    if workload.node_pools:
        spec["nodePools"] = list(workload.node_pools)
    if workload.node_type:
        spec["nodeType"] = workload.node_type
    if workload.tolerations:
        spec["tolerations"] = tolerations(workload)
    return spec


def creation_request(
    workload: InferenceWorkload,
    target: RunaiTarget,
    options: RenderOptions,
    stamp: Stamp,
    credential: CredentialRef | None = None,
) -> dict[str, Any]:
    """The whole ``InferenceCreationRequest``: name, project, cluster and spec.

    The name is used as given (``useGivenNameAsPrefix: false``): a retry must find
    the workload it created under the same name, never a second one.
    """
    return {
        "name": workload.name,
        "useGivenNameAsPrefix": False,
        "projectId": target.project_id,
        "clusterId": target.cluster_id,
        "spec": inference_spec(workload, options, stamp, credential),
    }


def update_request(spec: dict[str, Any]) -> dict[str, Any]:
    """The body of ``PATCH /api/v1/workloads/inferences/{workloadId}``: the whole spec.

    Run:ai replaces every section given in an update (it does not merge lists), so
    the full spec is sent: what it leaves out is what the new spec leaves out.
    """
    return {"spec": spec}


def pairs_of(items: object) -> dict[str, str]:
    """Run:ai's ``[{name, value}]`` annotations or labels as a plain mapping."""
    found: dict[str, str] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                found[item["name"]] = str(item.get("value") or "")
    return found


def number(value: Decimal) -> float | int:
    """A decimal as the JSON number Run:ai expects (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)
