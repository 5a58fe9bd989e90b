"""The vLLM Deployment: container, arguments, probes, volumes and resources.

This module owns how one replica of the workload runs vLLM 0.6.4: the OpenAI
server flags derived from the spec, the token from a ``secretKeyRef``, the
model cache on ``HF_HOME``, ``/dev/shm`` sized for tensor parallelism, and
probes on ``/health`` (never ``/v1/models``, which ``--api-key`` guards).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from airflow_provider_hfinfer.render import metadata as md
from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.render.records import spec_record
from airflow_provider_hfinfer.render.scheduling import (
    pin_to_pool,
    render_affinity,
    render_tolerations,
)
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.kube_syntax import format_bytes, parse_quantity
from airflow_provider_hfinfer.spec.models import SCRAPE_ANNOTATIONS
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION, PREVIOUS_SPEC_ANNOTATION

CACHE_MOUNT = "/models"
HF_HOME = f"{CACHE_MOUNT}/huggingface"
STARTUP_PERIOD_SECONDS = 10


def number_text(value: float) -> str:
    """Write a number for a flag or a KEDA threshold without losing precision.

    ``f"{value:g}"`` keeps only 6 significant digits (1234567.5 -> ``1.23457e+06``);
    ``repr`` is the shortest text that reads back as the same float.
    """
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def startup_window_seconds(workload: InferenceWorkload, options: RenderOptions) -> int:
    """How long a replica may take to load the model before it is restarted.

    Larger models need more GPUs and load longer, so the GPU count scales the
    window: 15 minutes for one GPU, 5 more per extra GPU, at most 30 minutes.
    """
    if options.startup_timeout_seconds is not None:
        return options.startup_timeout_seconds
    return min(900 + 300 * (workload.compute.gpus - 1), 1800)


def vllm_args(workload: InferenceWorkload) -> list[str]:
    """The ``vllm serve`` (OpenAI API server) arguments for the workload."""
    model, vllm = workload.model, workload.vllm
    args = [
        "--model",
        model.id,
        "--served-model-name",
        model.served_model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(md.CONTAINER_PORT),
        "--tensor-parallel-size",
        str(workload.compute.gpus),
        "--dtype",
        vllm.dtype,
        "--gpu-memory-utilization",
        number_text(vllm.gpu_memory_utilization),
    ]
    if model.revision:
        args += ["--revision", model.revision]
    if vllm.max_model_len:
        args += ["--max-model-len", str(vllm.max_model_len)]
    if vllm.task != "auto":
        args += ["--task", vllm.task]
    return args + list(vllm.extra_args)


def _env(workload: InferenceWorkload) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HF_HOME", "value": HF_HOME},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    name = md.secret_name(workload)
    if name:
        env.append(
            {
                "name": "HF_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": name, "key": md.secret_key(workload)}},
            }
        )
    return env


def _resources(workload: InferenceWorkload, options: RenderOptions) -> dict[str, Any]:
    compute = workload.compute
    gpus = str(compute.gpus)
    requests: dict[str, str] = {options.gpu_resource_name: gpus}
    limits: dict[str, str] = {options.gpu_resource_name: gpus}
    for target, key, value in (
        (requests, "cpu", compute.cpu),
        (requests, "memory", compute.memory),
        (limits, "cpu", compute.cpu_limit),
        (limits, "memory", compute.memory_limit),
    ):
        if value:
            target[key] = value
    return {"requests": requests, "limits": limits}


def _probes(workload: InferenceWorkload, options: RenderOptions) -> dict[str, Any]:
    def http_probe(period: int, failures: int, timeout: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": period,
            "failureThreshold": failures,
            "timeoutSeconds": timeout,
        }

    window = startup_window_seconds(workload, options)
    return {
        "startupProbe": http_probe(
            STARTUP_PERIOD_SECONDS, math.ceil(window / STARTUP_PERIOD_SECONDS), 5
        ),
        "readinessProbe": http_probe(5, 3, 5),
        "livenessProbe": http_probe(15, 4, 10),
    }


def _volumes(workload: InferenceWorkload, options: RenderOptions) -> list[dict[str, Any]]:
    cache = workload.cache
    if cache.type == "pvc":
        cache_volume: dict[str, Any] = {
            "name": "model-cache",
            "persistentVolumeClaim": {"claimName": cache.claim_name},
        }
    else:
        empty_dir: dict[str, Any] = {}
        if cache.size_limit:
            empty_dir["sizeLimit"] = cache.size_limit
        cache_volume = {"name": "model-cache", "emptyDir": empty_dir}
    shm_bytes = parse_quantity(options.shm_size_per_gpu) * workload.compute.gpus
    return [
        cache_volume,
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": _quantity(shm_bytes)}},
    ]


def _quantity(amount: Decimal) -> str:
    return format_bytes(amount)


def _pod_annotations(workload: InferenceWorkload, options: RenderOptions) -> dict[str, str]:
    """The pod template's annotations: the user's, plus Prometheus scrape annotations.

    A ``prometheus.io/*`` annotation the user wrote wins: the renderer only fills
    in the scrape keys the user left out (the spec already refused values that
    would point Prometheus away from vLLM's metrics). So a DAG author who sets
    ``prometheus.io/scrape: 'false'`` gets exactly that on the pod.
    """
    annotations = dict(workload.annotations)
    if options.prometheus_scrape_annotations:
        for key, value in SCRAPE_ANNOTATIONS.items():
            annotations.setdefault(key, value)
    return annotations


def render_container(workload: InferenceWorkload, options: RenderOptions) -> dict[str, Any]:
    """Render the vLLM container."""
    return {
        "name": md.CONTAINER_NAME,
        "image": workload.vllm.image or options.default_image,
        "args": vllm_args(workload),
        "ports": [{"name": "http", "containerPort": md.CONTAINER_PORT, "protocol": "TCP"}],
        "env": _env(workload),
        "resources": _resources(workload, options),
        "volumeMounts": [
            {"name": "model-cache", "mountPath": CACHE_MOUNT},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
        **_probes(workload, options),
    }


def render_pod_spec(
    workload: InferenceWorkload, options: RenderOptions, pinned_pool: str | None = None
) -> dict[str, Any]:
    """Render the pod spec: container, volumes and scheduling rules.

    ``pinned_pool`` (strict node-pool order) narrows the node-pool rule to that pool.
    """
    pod: dict[str, Any] = {
        "containers": [render_container(workload, options)],
        "volumes": _volumes(workload, options),
        # A Service named like an env var prefix (e.g. 'vllm') would inject VLLM_PORT
        # and break vLLM's own config parsing; the pods need no service links.
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 60,
    }
    affinity = render_affinity(workload, options)
    if pinned_pool:
        affinity = pin_to_pool(affinity, pinned_pool, options)
    if affinity:
        pod["affinity"] = affinity
    tolerations = render_tolerations(workload, options)
    if tolerations:
        pod["tolerations"] = tolerations
    return pod


def render_deployment(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> dict[str, Any]:
    """Render the Deployment.

    ``replicas`` is left out when a scaler owns it, so re-applying the spec never
    fights the autoscaler over the replica count.
    """
    if workload.update_strategy == "Recreate":
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": md.selector_labels(workload)},
        "strategy": strategy,
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": startup_window_seconds(workload, options) + 600,
        "template": {
            "metadata": {
                "labels": md.provider_labels(workload),
                "annotations": _pod_annotations(workload, options),
            },
            "spec": render_pod_spec(workload, options, stamp.context.pinned_pool),
        },
    }
    if not workload.autoscaled:
        spec = {"replicas": workload.replicas.min, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _deployment_meta(workload, namespace, stamp),
        "spec": spec,
    }


def _deployment_meta(workload: InferenceWorkload, namespace: str, stamp: Stamp) -> dict[str, Any]:
    """The Deployment's metadata, with the spec records its context asks for."""
    meta = md.object_meta(workload.name, namespace, workload, stamp)
    context = stamp.context
    if context.record_spec:
        meta["annotations"][APPLIED_SPEC_ANNOTATION] = spec_record(workload)
    if context.previous is not None:
        meta["annotations"][PREVIOUS_SPEC_ANNOTATION] = spec_record(context.previous)
    return meta
