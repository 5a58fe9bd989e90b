"""Every rendered object validates: core objects against Kubernetes, custom ones against CRDs."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from airflow_provider_hfinfer.render import RenderOptions

from .builders import JWKS, REPO_ROOT, TOKEN, example_workload, options, render
from .schemas import K8S_VERSION, crd_problems, metadata_problems, require_crds

SCALED = {"replicas": {"min": 1, "max": 5}}
TO_ZERO = {"replicas": {"max": 3}, "scale_to_zero": {"idle_seconds": "10m"}}

CASES: dict[str, dict[str, Any]] = {
    "minimal": {},
    "metric-latency": {**SCALED, "autoscaling": {"metric": "latency", "threshold": 2500}},
    "metric-throughput": {**SCALED, "autoscaling": {"metric": "throughput", "threshold": 2.5}},
    "metric-concurrency": {**SCALED, "autoscaling": {"metric": "concurrency", "threshold": 8}},
    "to-zero-concurrency": {**TO_ZERO, "autoscaling": {"metric": "concurrency", "threshold": 4}},
    "to-zero-throughput": {**TO_ZERO, "autoscaling": {"metric": "throughput", "threshold": 2}},
    "access-public": {"endpoint_access": {"mode": "public"}},
    "access-authenticated": {"endpoint_access": {"mode": "authenticated"}},
    "access-groups": {"endpoint_access": {"mode": "groups", "groups": ["a", "b"]}},
    "access-users": {"endpoint_access": {"mode": "users", "users": ["ada@example.com"]}},
    "hf-none": {"hf_access": {"type": "none"}},
    "hf-token": {"hf_access": {"type": "token", "token": TOKEN}},
    "hf-existing": {"hf_access": {"type": "existing_secret", "secret_name": "hf", "key": "t"}},
    "hf-new": {"hf_access": {"type": "new_secret", "secret_name": "hf", "value": TOKEN}},
    "cache-emptydir": {"cache": {"size_limit": "200Gi"}},
    "cache-pvc": {"cache": {"type": "pvc", "claim_name": "hf-cache"}},
    "cache-pvc-prewarm": {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "v1.0"},
        "cache": {"type": "pvc", "claim_name": "hf-cache", "prewarm": True},
    },
    "scheduling": {
        "node_pools": ["a100", "h100", "default"],
        "node_type": "a100-80gb",
        "compute": {"gpus": 8, "gpu_memory": "80Gi", "cpu": "500m", "memory": "1.5Ti"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equals", "value": "ml", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists"},
            {"key": "drain", "operator": "Exists", "effect": "NoExecute", "toleration_seconds": 60},
        ],
    },
    "recreate-ttl": {"update_strategy": "Recreate", "auto_delete_after": 0},
}


def _cases() -> list[Any]:
    params = [
        pytest.param(lambda: render(example_workload()), id="example-workload"),
        pytest.param(
            lambda: render(
                example_workload(),
                opts=RenderOptions(
                    **yaml.safe_load(
                        (REPO_ROOT / "examples" / "cluster-options.yaml").read_text(
                            encoding="utf-8"
                        )
                    )
                ),
            ),
            id="example-with-cluster-options",
        ),
    ]
    for case_id, fields in CASES.items():
        params.append(
            pytest.param(
                lambda fields=fields: render(opts=options(jwks_uri=JWKS), **fields), id=case_id
            )
        )
    return params


@pytest.mark.parametrize("make", _cases())
def test_core_objects_pass_strict_kubernetes_validation(make: Any) -> None:
    core = [item for item in make() if item["apiVersion"] in ("v1", "apps/v1")]
    assert core
    for manifest in core:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert metadata_problems(manifest) == []


@pytest.mark.parametrize("make", _cases())
def test_custom_objects_validate_against_their_crds(make: Any) -> None:
    require_crds()
    for manifest in make():
        if manifest["apiVersion"] in ("v1", "apps/v1"):
            continue
        assert crd_problems(manifest) == [], manifest["kind"]
        assert metadata_problems(manifest) == []


def test_every_custom_kind_is_covered_by_the_cases() -> None:
    rendered = {item["kind"] for make in _cases() for item in make.values[0]()}
    assert {
        "ScaledObject",
        "HTTPScaledObject",
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Secret",
        "Service",
        "Deployment",
    } <= rendered


# --- the checkers themselves must catch what a server would reject -------------------------------


def _scaled_object() -> dict[str, Any]:
    manifests = render(**CASES["metric-latency"])
    return copy.deepcopy(next(item for item in manifests if item["kind"] == "ScaledObject"))


def test_crd_check_flags_fields_a_server_would_prune() -> None:
    require_crds()
    manifest = _scaled_object()
    manifest["spec"]["triggers"][0]["metricThreshold"] = "5"
    manifest["spec"]["minReplicas"] = 1
    problems = crd_problems(manifest)
    assert any("metricThreshold" in problem for problem in problems)
    assert any("minReplicas" in problem for problem in problems)


def test_crd_check_enforces_nested_required_fields_and_types() -> None:
    require_crds()
    manifest = _scaled_object()
    del manifest["spec"]["triggers"][0]["metadata"]
    manifest["spec"]["maxReplicaCount"] = "4"
    problems = crd_problems(manifest)
    assert any("'metadata' is a required property" in problem for problem in problems)
    assert any("maxReplicaCount" in problem for problem in problems)


def test_crd_check_flags_non_string_trigger_metadata_and_int32_overflow() -> None:
    require_crds()
    manifest = _scaled_object()
    manifest["spec"]["triggers"][0]["metadata"]["threshold"] = 2500
    manifest["spec"]["pollingInterval"] = 2**31
    problems = crd_problems(manifest)
    assert any("threshold" in problem for problem in problems)
    assert any("pollingInterval" in problem and "int32" in problem for problem in problems)


def test_strict_kubernetes_validation_rejects_unknown_fields() -> None:
    deployment = next(item for item in render() if item["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["argz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_metadata_check_flags_invalid_labels() -> None:
    deployment = next(item for item in render() if item["kind"] == "Deployment")
    deployment["metadata"]["labels"]["bad key!"] = "x" * 64
    assert len(metadata_problems(deployment)) == 2
