"""The ClusterIP Service in front of the vLLM pods.

This module owns the in-cluster endpoint: the Service and the URL clients use.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.metadata import object_meta, selector_labels, service_host
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload


def render_service(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> dict[str, Any]:
    """Render the Service that routes port ``service_port`` to vLLM's port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(workload.name, namespace, workload, stamp),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(workload),
            "ports": [
                {
                    "name": "http",
                    "port": options.service_port,
                    "targetPort": "http",
                    "protocol": "TCP",
                }
            ],
        },
    }


def endpoint_url(workload: InferenceWorkload, namespace: str, options: RenderOptions) -> str:
    """The OpenAI-compatible base URL inside the cluster.

    With scale-to-zero, requests must go through the KEDA HTTP interceptor (which
    holds them while a replica starts) with the Service's host as ``Host`` header.
    """
    if workload.scale_to_zero is not None:
        return f"{options.http_interceptor_url.rstrip('/')}/v1"
    port = "" if options.service_port == 80 else f":{options.service_port}"
    return f"http://{service_host(workload, namespace, options)}{port}/v1"
