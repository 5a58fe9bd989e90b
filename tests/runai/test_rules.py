"""What the Run:ai API cannot express is refused before any request, naming field, rule, fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.runai.rules import check_runai, runai_problems
from airflow_provider_hfinfer.spec import InferenceWorkload

from .builders import FULL, spec

TOKEN = "hf_RunaiRulesTokenValue0123456789"


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        (
            {"compute": {**FULL["compute"], "gpu_memory": "80Gi"}},
            "compute.gpu_memory (80Gi)",
            "node_type or node_pools",
        ),
        (
            {"autoscaling": {"metric": "latency", "threshold": 250.5}},
            "autoscaling.threshold (250.5)",
            "use 250 or 251",
        ),
        (
            {
                "scale_to_zero": {"idle_seconds": 7200},
                "autoscaling": {"metric": "concurrency", "threshold": 4},
            },
            "scale_to_zero.idle_seconds (7200)",
            "at most '1h'",
        ),
        (
            {
                "tolerations": [
                    {"key": "t", "effect": "NoExecute", "value": "v", "toleration_seconds": 0}
                ]
            },
            "tolerations[t].toleration_seconds is 0",
            "use 1",
        ),
        ({"labels": {"example.com/" + "k" * 60: "v"}}, "labels key", "shorter key"),
        ({"annotations": {"example.com/" + "k" * 60: "v"}}, "annotations key", "shorter key"),
        ({"update_strategy": "Recreate"}, "update_strategy 'Recreate'", "remove update_strategy"),
        (
            {
                "cache": {"type": "pvc", "claim_name": "models", "prewarm": True},
                "model": {**FULL["model"], "revision": "0123456789abcdef0123456789abcdef01234567"},
            },
            "cache.prewarm fills the claim with a Kubernetes Job",
            "remove cache.prewarm",
        ),
    ],
)
def test_each_field_run_ai_cannot_express_is_refused(
    changes: dict[str, Any], field: str, fix: str
) -> None:
    workload = InferenceWorkload.parse(spec(**changes))
    with pytest.raises(SpecError) as caught:
        check_runai(workload)
    message = str(caught.value)
    assert field in message and fix in message and "Run:ai" in message


@pytest.mark.parametrize(
    "access",
    [
        {"type": "token", "token": TOKEN},
        {"type": "new_secret", "secret_name": "hf-creds", "value": TOKEN},
    ],
)
def test_an_inline_token_is_not_refused_it_becomes_a_credential(access: dict[str, Any]) -> None:
    assert runai_problems(InferenceWorkload.parse(spec(hf_access=access))) == []


def test_every_problem_is_listed_not_only_the_first() -> None:
    data = spec(update_strategy="Recreate", compute={**FULL["compute"], "gpu_memory": "40Gi"})
    problems = runai_problems(InferenceWorkload.parse(data))
    assert len(problems) == 2


def test_the_full_workload_passes() -> None:
    assert runai_problems(InferenceWorkload.parse(spec())) == []
