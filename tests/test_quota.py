"""Quota pre-check: the figures a user sees before anything is created."""

from __future__ import annotations

from typing import Any

from airflow_provider_hfinfer.checks.quota import check_quotas, pod_usage
from airflow_provider_hfinfer.render import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload


def quota(
    hard: dict[str, str], used: dict[str, str], name: str = "project-quota"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }


def workload(**compute: Any) -> InferenceWorkload:
    return InferenceWorkload.model_validate({"name": "w", "model": "org/m", "compute": compute})


def test_gpu_quota_exceeded_reports_requested_used_hard() -> None:
    usage = pod_usage(workload(gpus=4), RenderOptions())
    problems = check_quotas(
        [quota({"requests.nvidia.com/gpu": "12"}, {"requests.nvidia.com/gpu": "12"})], usage, 1
    )
    assert problems == [
        "quota 'project-quota' requests.nvidia.com/gpu: requested 4, used 12, hard 12 (short by 4)"
    ]


def test_fits_when_there_is_room_and_counts_replicas() -> None:
    usage = pod_usage(workload(gpus=2, cpu="4", memory="16Gi"), RenderOptions())
    roomy = quota(
        {"requests.nvidia.com/gpu": "8", "requests.cpu": "32", "pods": "10", "memory": "128Gi"},
        {"requests.nvidia.com/gpu": "2", "requests.cpu": "4", "pods": "1", "memory": "16Gi"},
    )
    assert check_quotas([roomy], usage, 3) == []
    problems = check_quotas([roomy], usage, 4)
    assert len(problems) == 1 and "requested 8, used 2, hard 8" in problems[0]


def test_memory_figures_are_readable_and_aliases_understood() -> None:
    usage = pod_usage(workload(memory="64Gi"), RenderOptions())
    problems = check_quotas([quota({"memory": "100Gi"}, {"memory": "40Gi"})], usage, 1)
    assert problems == [
        "quota 'project-quota' memory: requested 64.0Gi, used 40.0Gi, hard 100.0Gi (short by 4.0Gi)"
    ]


def test_quota_on_limits_requires_the_pod_to_declare_them() -> None:
    usage = pod_usage(workload(), RenderOptions())
    problems = check_quotas([quota({"limits.cpu": "64"}, {})], usage, 1)
    assert problems == [
        "quota 'project-quota' limits limits.cpu, so every pod must declare it: "
        "set compute.cpu_limit"
    ]


def test_unrelated_quota_keys_are_ignored() -> None:
    usage = pod_usage(workload(), RenderOptions())
    assert (
        check_quotas(
            [quota({"count/configmaps": "1", "services.loadbalancers": "0"}, {})], usage, 1
        )
        == []
    )
