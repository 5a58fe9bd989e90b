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


ENGINE_START_SECONDS = 300
"""vLLM's own start besides the weights: CUDA init, memory profiling, CUDA graphs."""
LOAD_BYTES_PER_SECOND = 100e6
"""Weights read into GPU memory; BentoML measured about 2 minutes for Llama-3.1-8B."""
DOWNLOAD_BYTES_PER_SECOND = 40e6
"""A conservative Hub download rate for vLLM 0.6.4's plain ``snapshot_download``."""
WINDOW_MARGIN = 1.5


def startup_window_seconds(
    workload: InferenceWorkload, options: RenderOptions, model_bytes: int | None = None
) -> int:
    """How long a replica may take to load the model before it is restarted.

    With the weights' size known (pre-flight measured it): 1.5 x (engine start +
    loading at 100 MB/s + downloading at 40 MB/s unless the cache is prewarmed),
    between 10 minutes and 2 hours, so a large model is not restarted mid-download.
    Otherwise the GPU count stands in for the size: 15 minutes for one GPU, 5
    more per extra GPU, at most 30 minutes.
    """
    if options.startup_timeout_seconds is not None:
        return options.startup_timeout_seconds
    if model_bytes:
        seconds = ENGINE_START_SECONDS + model_bytes / LOAD_BYTES_PER_SECOND
        if not workload.cache.prewarm:
            seconds += model_bytes / DOWNLOAD_BYTES_PER_SECOND
        return int(min(7200, max(600, math.ceil(WINDOW_MARGIN * seconds / 60) * 60)))
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


def token_env(workload: InferenceWorkload) -> list[dict[str, Any]]:
    """``HF_TOKEN`` from the workload's Secret (``secretKeyRef``), when it has a token."""
    name = md.secret_name(workload)
    if not name:
        return []
    return [
        {
            "name": "HF_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": name, "key": md.secret_key(workload)}},
        }
    ]


def image_pull_policy(image: str) -> str:
    """``IfNotPresent`` for a pinned image (a tag other than ``latest``, or a digest).

    A pinned tag names the same image on every node, so a node that already pulled
    it (a replica before, the prewarm Job) starts the next replica without a pull;
    ``latest`` or no tag may move, so it is pulled every time (``Always``).
    """
    if "@" in image:
        return "IfNotPresent"
    tail = image.rsplit("/", 1)[-1]
    tag = tail.partition(":")[2]
    return "IfNotPresent" if tag and tag != "latest" else "Always"


def _env(workload: InferenceWorkload) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HF_HOME", "value": HF_HOME},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]
    if workload.cache.prewarm:
        # The prewarm Job filled the cache: never ask the Hub, never write the cache.
        env += [
            {"name": "HF_HUB_OFFLINE", "value": "1"},
            {"name": "HF_MODULES_CACHE", "value": "/tmp/hf_modules"},
        ]
    return env + token_env(workload)


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


def _probes(
    workload: InferenceWorkload, options: RenderOptions, model_bytes: int | None
) -> dict[str, Any]:
    def http_probe(period: int, failures: int, timeout: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": period,
            "failureThreshold": failures,
            "timeoutSeconds": timeout,
        }

    window = startup_window_seconds(workload, options, model_bytes)
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
        claim: dict[str, Any] = {"claimName": cache.claim_name}
        if cache.prewarm:
            claim["readOnly"] = True
        cache_volume: dict[str, Any] = {"name": "model-cache", "persistentVolumeClaim": claim}
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


def render_container(
    workload: InferenceWorkload, options: RenderOptions, model_bytes: int | None = None
) -> dict[str, Any]:
    """Render the vLLM container (``model_bytes``: the weights' size, when known)."""
    image = workload.vllm.image or options.default_image
    cache_mount: dict[str, Any] = {"name": "model-cache", "mountPath": CACHE_MOUNT}
    if workload.cache.prewarm:
        cache_mount["readOnly"] = True
    return {
        "name": md.CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": image_pull_policy(image),
        "args": vllm_args(workload),
        "ports": [{"name": "http", "containerPort": md.CONTAINER_PORT, "protocol": "TCP"}],
        "env": _env(workload),
        "resources": _resources(workload, options),
        "volumeMounts": [cache_mount, {"name": "dshm", "mountPath": "/dev/shm"}],
        **_probes(workload, options, model_bytes),
    }


def render_pod_spec(
    workload: InferenceWorkload,
    options: RenderOptions,
    pinned_pool: str | None = None,
    model_bytes: int | None = None,
) -> dict[str, Any]:
    """Render the pod spec: container, volumes and scheduling rules.

    ``pinned_pool`` (strict node-pool order) narrows the node-pool rule to that pool.
    """
    pod: dict[str, Any] = {
        "containers": [render_container(workload, options, model_bytes)],
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
    fights the autoscaler over the replica count; it is 0 while the context holds
    the replicas back for the prewarm Job.
    """
    if workload.update_strategy == "Recreate":
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": md.selector_labels(workload)},
        "strategy": strategy,
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": startup_window_seconds(
            workload, options, stamp.context.model_bytes
        )
        + 600,
        "template": {
            "metadata": {
                "labels": md.provider_labels(workload),
                "annotations": _pod_annotations(workload, options),
            },
            "spec": render_pod_spec(
                workload, options, stamp.context.pinned_pool, stamp.context.model_bytes
            ),
        },
    }
    if stamp.context.hold:
        spec = {"replicas": 0, **spec}
    elif not workload.autoscaled:
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
