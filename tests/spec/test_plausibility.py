"""Quantities of a magnitude nobody means, and loose user and group names, are refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.messages import describe_errors

from .builders import workload


def _line(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(data)
    (line,) = describe_errors(caught.value)
    return line


@pytest.mark.parametrize(
    ("compute", "fix"),
    [
        (
            {"gpu_memory": 80},
            "80 bytes (a number without a unit is bytes), but GPUs vLLM runs "
            "on have between 1Gi and 1Ti each: did you mean '80Gi'?",
        ),
        ({"gpu_memory": "80Mi"}, "did you mean '80Gi'?"),
        ({"gpu_memory": "80Ti"}, "did you mean '80Gi'?"),
        ({"gpu_memory": "81920Gi"}, "did you mean '81920Mi'?"),
        ({"memory": 64}, "did you mean '64Gi'?"),
        ({"memory": "64Mi"}, "did you mean '64Gi'?"),
        ({"memory": "500m"}, "is 0.5 bytes"),
        ({"memory": "64Gi", "memory_limit": 96}, "did you mean '96Gi'?"),
        ({"cpu": 8000}, "is 8000 cores, but a vLLM replica needs between 100m"),
        ({"cpu": "8m"}, "did you mean '8'?"),
        ({"cpu": 4, "cpu_limit": 4000}, "did you mean '4000m'?"),
    ],
)
def test_implausible_compute_quantities_suggest_the_unit(compute: dict[str, Any], fix: str) -> None:
    line = _line(workload(compute=compute))
    assert line.startswith("compute.") and fix in line, line


def test_the_cache_size_limit_needs_a_unit_too() -> None:
    assert "did you mean '200Gi'?" in _line(workload(cache={"size_limit": 200}))


@pytest.mark.parametrize(
    "compute",
    [
        {"gpu_memory": "16Gi", "cpu": "500m", "memory": "256Mi"},
        {"gpu_memory": "1Ti", "cpu": 1024, "memory": "64Ti"},
        {"gpu_memory": "80G", "cpu": "0.1", "memory": "1.5Ti", "memory_limit": "2Ti"},
    ],
)
def test_every_real_size_is_accepted(compute: dict[str, Any]) -> None:
    InferenceWorkload.model_validate(workload(compute=compute))


@pytest.mark.parametrize(
    ("mode", "entry", "rule"),
    [
        ("users", "alice@@example..com", "is not an e-mail address"),
        ("users", "@", "is not an e-mail address"),
        ("users", "ana@", "is not an e-mail address"),
        ("users", "ana@localhost", "is not an e-mail address"),
        ("users", "ana@exa mple.com", "is not an e-mail address"),
        ("users", "ana.@example.com", "is not an e-mail address"),
        ("users", "bob smith", "is not a user name"),
        ("users", "bob/smith", "is not a user name"),
        ("users", "*", "wildcard"),
        ("users", "ana*@example.com", "wildcard"),
        ("groups", "ml-*", "wildcard"),
        ("groups", "ml\tops", "control character"),
        ("groups", "x" * 257, "longer than 256"),
        ("groups", " ml", "surrounding spaces"),
    ],
)
def test_loose_principals_are_refused(mode: str, entry: str, rule: str) -> None:
    line = _line(workload(endpoint_access={"mode": mode, mode: [entry]}))
    assert line.startswith("endpoint_access: ") and rule in line, line


@pytest.mark.parametrize(
    ("mode", "entry"),
    [
        ("users", "ana@example.com"),
        ("users", "o'brien+ml@mail.example.co.uk"),
        ("users", "bob"),
        ("users", "auth0|5f7c8ec7c33c6c004bbafe82"),
        ("users", "system:serviceaccount:team-a:runner"),
        ("groups", "ML Platform"),
        ("groups", "/org/ml-research"),
    ],
)
def test_real_principals_are_accepted(mode: str, entry: str) -> None:
    spec = InferenceWorkload.model_validate(workload(endpoint_access={"mode": mode, mode: [entry]}))
    assert getattr(spec.endpoint_access, mode) == (entry,)


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["--api-key=k"], "carries a secret"),
        (["--api_key", "k"], "carries a secret"),
        (["--hf-token=x"], "carries a secret"),
        (["--ssl-certfile", "/c"], "HTTPS"),
        (["--ssl-keyfile=/k"], "HTTPS"),
        (["--ssl-ca-certs=/ca"], "HTTPS"),
        (["--ssl-cert-reqs=2"], "HTTPS"),
        (["--ssl=x"], "HTTPS"),
        (["--uvicorn-log-level=trace"], "'trace' log level"),
        (["--uvicorn-log-level", "trace"], "'trace' log level"),
    ],
)
def test_flags_that_carry_secrets_or_change_the_protocol_are_refused(
    args: list[str], rule: str
) -> None:
    assert rule in _line(workload(vllm={"extra_args": args}))


@pytest.mark.parametrize(
    "args",
    [
        ["--root-path=/llm"],
        ["--uvicorn-log-level=debug"],
        ["--allowed-origins", '["https://a.example.com"]'],
        ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"],
        ["--tokenizer-revision", "0123456789abcdef0123456789abcdef01234567"],
    ],
)
def test_other_server_flags_stay_allowed(args: list[str]) -> None:
    assert InferenceWorkload.model_validate(workload(vllm={"extra_args": args})).vllm.extra_args
