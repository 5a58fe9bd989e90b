"""Autoscaling: a KEDA ScaledObject on vLLM's metrics, or an HTTPScaledObject for scale-to-zero.

This module owns the choice of scaler and its rules. Exactly one scaler is
rendered per Deployment (two autoscalers on one Deployment fight): a KEDA
``ScaledObject`` with a Prometheus trigger for latency / throughput /
concurrency, or, with scale-to-zero, a KEDA HTTP add-on ``HTTPScaledObject``
whose interceptor holds requests while a replica starts.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.deployment import number_text, startup_window_seconds
from airflow_provider_hfinfer.render.metadata import object_meta, service_host
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload

KEDA_API = "keda.sh/v1alpha1"
KEDA_HTTP_API = "http.keda.sh/v1alpha1"

METRIC_TYPES = {"latency": "Value", "throughput": "AverageValue", "concurrency": "AverageValue"}
"""Latency is a per-workload value (replicas grow while it exceeds the threshold);
throughput and concurrency are totals divided across replicas."""


def _promql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def metric_selector(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """Label matchers that scope vLLM series to this workload."""
    matchers = [f"model_name={_promql_string(workload.model.served_model_name)}"]
    if options.prometheus_namespace_label:
        matchers.insert(0, f"{options.prometheus_namespace_label}={_promql_string(namespace)}")
    return "{" + ",".join(matchers) + "}"


def prometheus_query(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """The PromQL query for the workload's autoscaling metric.

    Every query ends in ``or vector(0)`` so an idle workload (no series yet) reads
    as 0 instead of an error. Throughput counts completed requests, so it levels
    off under overload; concurrency (running + waiting) keeps rising.
    """
    if workload.autoscaling is None:
        raise ValueError("prometheus_query needs a workload with autoscaling")
    sel = metric_selector(workload, namespace, options)
    metric = workload.autoscaling.metric
    if metric == "concurrency":
        query = f"sum(vllm:num_requests_running{sel}) + sum(vllm:num_requests_waiting{sel})"
    elif metric == "throughput":
        query = f"sum(rate(vllm:request_success_total{sel}[1m]))"
    else:
        query = (
            f"1000 * sum(rate(vllm:e2e_request_latency_seconds_sum{sel}[2m]))"
            f" / sum(rate(vllm:e2e_request_latency_seconds_count{sel}[2m]))"
        )
    return f"({query}) or vector(0)"


def render_scaled_object(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> dict[str, Any]:
    """Render the KEDA ScaledObject with one Prometheus trigger."""
    autoscaling = workload.autoscaling
    if autoscaling is None:
        raise ValueError("render_scaled_object needs a workload with autoscaling")
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": object_meta(workload.name, namespace, workload, stamp),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": workload.name,
            },
            "minReplicaCount": workload.replicas.min,
            "maxReplicaCount": workload.replicas.max,
            "pollingInterval": options.keda_polling_interval,
            "cooldownPeriod": options.keda_cooldown_period,
            # A new replica needs minutes to load the model; do not judge it before.
            "initialCooldownPeriod": startup_window_seconds(
                workload, options, stamp.context.model_bytes
            ),
            "triggers": [
                {
                    "type": "prometheus",
                    "name": f"vllm-{autoscaling.metric}",
                    "metricType": METRIC_TYPES[autoscaling.metric],
                    "metadata": {
                        "serverAddress": options.prometheus_url,
                        "query": prometheus_query(workload, namespace, options),
                        "threshold": number_text(autoscaling.threshold),
                        "ignoreNullValues": "true",
                    },
                }
            ],
        },
    }


def render_http_scaled_object(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> dict[str, Any]:
    """Render the KEDA HTTP add-on HTTPScaledObject (scale-to-zero)."""
    autoscaling, idle = workload.autoscaling, workload.scale_to_zero
    if autoscaling is None or idle is None:
        raise ValueError("render_http_scaled_object needs autoscaling and scale_to_zero")
    target = int(autoscaling.threshold)
    if autoscaling.metric == "concurrency":
        scaling_metric: dict[str, Any] = {"concurrency": {"targetValue": target}}
    else:
        scaling_metric = {
            "requestRate": {"targetValue": target, "window": "1m", "granularity": "1s"}
        }
    window = startup_window_seconds(workload, options, stamp.context.model_bytes)
    return {
        "apiVersion": KEDA_HTTP_API,
        "kind": "HTTPScaledObject",
        "metadata": object_meta(workload.name, namespace, workload, stamp),
        "spec": {
            "hosts": [service_host(workload, namespace, options)],
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": workload.name,
                "service": workload.name,
                "port": options.service_port,
            },
            "replicas": {"min": 0, "max": workload.replicas.max},
            "scaledownPeriod": idle.idle_seconds,
            "scalingMetric": scaling_metric,
            # Hold the first request while a replica loads the model from zero.
            "timeouts": {"conditionWait": f"{window}s", "responseHeader": "600s"},
        },
    }


def render_scaler(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> dict[str, Any] | None:
    """Render the workload's single scaler, or None for a fixed replica count."""
    if workload.autoscaling is None:
        return None
    if workload.scale_to_zero is not None:
        return render_http_scaled_object(workload, namespace, options, stamp)
    return render_scaled_object(workload, namespace, options, stamp)
