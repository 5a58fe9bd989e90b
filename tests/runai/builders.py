"""Builders shared by the Run:ai backend tests: a workload with every field set, a target."""

from __future__ import annotations

import copy
from typing import Any

from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.runai.body import RunaiTarget
from airflow_provider_hfinfer.runai.plan import RunaiPlan, prepare
from airflow_provider_hfinfer.spec import InferenceWorkload

TARGET = RunaiTarget("team-a", "4", "gpu-cluster", "71f69d83-ba66-4822-adf5-55ce55efd210")

FULL: dict[str, Any] = {
    "name": "llama",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main", "served_name": "chat"},
    "hf_access": {"type": "existing_secret", "secret_name": "hf-token", "key": "HF_TOKEN"},
    "endpoint_access": {"mode": "groups", "groups": ["ml"]},
    "compute": {"gpus": 1, "cpu": "4", "cpu_limit": "8", "memory": "16Gi", "memory_limit": "32Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "node_pools": ["a100-pool"],
    "node_type": "a100",
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "auto_delete_after": 600,
    "annotations": {"team": "ml"},
    "labels": {"team": "ml"},
    "vllm": {"max_model_len": 8192},
}
"""A workload that sets (nearly) every field the Run:ai backend maps."""


def spec(**changes: Any) -> dict[str, Any]:
    """``FULL`` with top-level fields replaced (None removes one)."""
    data = copy.deepcopy(FULL)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def plan_of(data: dict[str, Any], target: RunaiTarget = TARGET, **kwargs: Any) -> RunaiPlan:
    """The Run:ai plan of a spec dict."""
    return prepare(InferenceWorkload.parse(data), target, RenderOptions(), **kwargs)
