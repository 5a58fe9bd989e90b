"""Rules for labels, annotations and credentials outside their Secret.

This module owns the checks a whole workload runs over its label and annotation
maps (key syntax, reserved keys, the ``prometheus.io/scrape`` value), the search
for a credential-looking value outside the token fields, and the scale-to-zero
metric rule. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import kube_syntax as ks
from airflow_provider_hfinfer.spec.models import (
    PROVIDER_PREFIX,
    SCRAPE_ANNOTATIONS,
    Autoscaling,
)
from airflow_provider_hfinfer.spec.redact import path_part, secret_format
from airflow_provider_hfinfer.spec.rules import _fail

if TYPE_CHECKING:
    from airflow_provider_hfinfer.spec.workload import InferenceWorkload

SCRAPE_KEY = "prometheus.io/scrape"


def credential_outside_secrets(workload: InferenceWorkload) -> tuple[str, str] | None:
    """The first field path and value, outside the secret fields, holding a credential."""
    data = workload.model_dump(mode="json", exclude={"hf_access": {"token", "value"}})
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if secret_format(item):
                return path, item
        elif isinstance(item, dict):
            for key, part in item.items():
                inner = f"{path}[{path_part(key)}]" if path in _MAPS else _join(path, key)
                if secret_format(key):
                    return f"{path} key", key
                stack.append((inner, part))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", part) for index, part in enumerate(item))
    return None


_MAPS = ("labels", "annotations")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_scrape_annotation(key: str, value: str) -> None:
    """Refuse a ``prometheus.io/*`` annotation vLLM's metrics cannot be scraped with."""
    # The user's prometheus.io/* annotations win over the renderer's; a port or path
    # other than vLLM's would make Prometheus scrape nothing, so refuse it here.
    if key == SCRAPE_KEY and value not in ("true", "false"):
        raise _fail(
            f"annotations[{key}]",
            value,
            "must be 'true' or 'false' (Prometheus' scrape rule matches 'true' exactly)",
            "write 'true' or 'false', or remove it to let the provider set it",
        )
    if key != SCRAPE_KEY and key in SCRAPE_ANNOTATIONS and value != SCRAPE_ANNOTATIONS[key]:
        raise _fail(
            f"annotations[{key}]",
            value,
            f"must be {SCRAPE_ANNOTATIONS[key]!r} (vLLM serves its metrics only there; any "
            "other value makes Prometheus scrape nothing and autoscaling see no load)",
            "remove it to let the provider set it",
        )


def check_key(field: str, key: str) -> None:
    """Refuse a label or annotation key that is invalid or under the provider's prefix."""
    problem = ks.qualified_name_error(key) or ks.reserved_prefix_error(key, (PROVIDER_PREFIX,))
    if problem:
        raise _fail(
            f"{field} key",
            key,
            problem,
            "use a key like 'team' or 'example.com/team' outside reserved prefixes",
        )


def check_scale_to_zero(autoscaling: Autoscaling | None) -> None:
    """Scale-to-zero needs a concurrency or throughput rule to wake the workload."""
    if autoscaling is None:
        raise SpecError(
            "scale_to_zero needs autoscaling: add autoscaling with metric concurrency "
            "or throughput and a threshold, which drive scaling up from zero"
        )
    if autoscaling.threshold != int(autoscaling.threshold):
        raise SpecError(
            f"autoscaling.threshold ({autoscaling.threshold}) must be a whole number with "
            "scale_to_zero (the KEDA HTTP add-on counts whole requests): round it"
        )
    if autoscaling.metric == "latency":
        raise SpecError(
            "scale_to_zero cannot use autoscaling.metric 'latency': with zero replicas "
            "there is no latency to measure, so nothing would scale it back up; use "
            "metric concurrency or throughput"
        )
