"""Cluster settings the renderer needs, with documented defaults.

This module owns :class:`RenderOptions`: facts about the target cluster that
are not part of a workload (Prometheus address, JWT issuer, node label keys,
default image, probe windows). The hook fills it from the Kubernetes
connection's extras; operators may override single fields. Settings that would
render objects a cluster rejects (label keys, Prometheus label, JWKS URL) fail
here, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.models import DEFAULT_IMAGE, Quantity

PROMETHEUS_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

EXTRA_PREFIX = "hfinfer_"
"""Connection-extra keys for these options are the field names with this prefix."""


class RenderOptions(BaseModel):
    """Settings of the target cluster, shared by every workload rendered for it.

    Attributes:
        default_image: vLLM image used when the workload names none.
        prometheus_url: Prometheus that scrapes vLLM; KEDA queries it for autoscaling.
        prometheus_namespace_label: Label carrying the pod namespace in Prometheus
            series (None: scope queries by model name only).
        jwt_issuer: Issuer of user tokens; required for non-public endpoint access.
        jwks_uri: Where Istio fetches the issuer's keys (default: OIDC discovery).
        jwt_audiences: Accepted token audiences (empty: any).
        groups_claim: Token claim listing the user's groups.
        user_claims: Token claims compared with the allowed users (any may match).
        unauthenticated_paths: Paths reachable without a token (probes, metrics scraping).
        node_pool_label_key: Node label naming the node pool.
        node_type_label_key: Node label naming the node type.
        gpu_memory_label_key: Node label with per-GPU memory in MiB (GPU feature
            discovery); None turns the GPU memory node selection off.
        gpu_resource_name: Extended resource name of a GPU.
        tolerate_gpu_taint: Tolerate the common ``<gpu resource>:NoSchedule`` taint.
        startup_timeout_seconds: How long a replica may load the model before it is
            restarted (None: 15 minutes for 1 GPU, plus 5 per extra GPU, at most 30).
        shm_size_per_gpu: ``/dev/shm`` size limit per GPU (tensor parallelism).
        keda_polling_interval: Seconds between KEDA metric queries.
        keda_cooldown_period: Seconds KEDA waits before scaling down.
        http_interceptor_url: The KEDA HTTP add-on interceptor (scale-to-zero endpoint).
        cluster_domain: The cluster's DNS domain.
        prometheus_scrape_annotations: Add ``prometheus.io/*`` scrape annotations to pods.
        service_port: Port of the workload's Service.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_image: str = DEFAULT_IMAGE
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    prometheus_namespace_label: str | None = "namespace"
    jwt_issuer: str | None = None
    jwks_uri: str | None = None
    jwt_audiences: tuple[str, ...] = ()
    groups_claim: str = "groups"
    user_claims: tuple[str, ...] = ("email", "preferred_username")
    unauthenticated_paths: tuple[str, ...] = ("/health", "/metrics")
    node_pool_label_key: str = "run.ai/node-pool"
    node_type_label_key: str = "run.ai/type"
    gpu_memory_label_key: str | None = "nvidia.com/gpu.memory"
    gpu_resource_name: str = "nvidia.com/gpu"
    tolerate_gpu_taint: bool = True
    startup_timeout_seconds: int | None = Field(default=None, ge=60, le=7200)
    shm_size_per_gpu: Quantity = "8Gi"
    keda_polling_interval: int = Field(default=15, ge=1)
    keda_cooldown_period: int = Field(default=300, ge=0)
    http_interceptor_url: str = (
        "http://keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local:8080"
    )
    cluster_domain: str = "cluster.local"
    prometheus_scrape_annotations: bool = True
    service_port: int = Field(default=80, ge=1, le=65535)

    @field_validator(
        "node_pool_label_key", "node_type_label_key", "gpu_memory_label_key", "gpu_resource_name"
    )
    @classmethod
    def _label_key(cls, value: str | None) -> str | None:
        # An invalid key renders a Deployment the API server rejects.
        problem = ks.qualified_name_error(value) if value is not None else None
        if problem:
            raise ValueError(
                f"{value!r} {problem}: use a Kubernetes label key such as 'run.ai/node-pool'"
            )
        return value

    @field_validator("prometheus_namespace_label")
    @classmethod
    def _prometheus_label(cls, value: str | None) -> str | None:
        if value is not None and not PROMETHEUS_LABEL.match(value):
            raise ValueError(
                f"{value!r} is not a Prometheus label name (letters, digits, '_'; no leading "
                "digit): use e.g. 'namespace' or 'kubernetes_namespace', or null to leave it out"
            )
        return value

    @field_validator("jwt_issuer", "jwks_uri", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # A connection form leaves unused extras as empty strings: read them as unset.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("jwks_uri")
    @classmethod
    def _jwks_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"jwks_uri ({value!r}) must start with http:// or https:// (Istio's rule): "
                "give the full URL of the issuer's keys"
            )
        return value

    @classmethod
    def from_extras(
        cls, extras: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> RenderOptions:
        """Build options from connection extras (``hfinfer_<field>`` keys) and overrides.

        Args:
            extras: The Kubernetes connection's extra dict; unrelated keys are ignored.
            overrides: Operator-level values that win over the connection's.

        Returns:
            The validated options.
        """
        values: dict[str, Any] = {
            key[len(EXTRA_PREFIX) :]: value
            for key, value in extras.items()
            if key.startswith(EXTRA_PREFIX) and key[len(EXTRA_PREFIX) :] in cls.model_fields
        }
        values.update(overrides or {})
        return cls.model_validate(values)
