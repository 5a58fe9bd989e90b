"""render_manifests: apply order, determinism, backends and argument checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from airflow_provider_hfinfer.exceptions import RenderError
from airflow_provider_hfinfer.render import render_manifests

from .builders import TOKEN, example_workload, kinds, options, render, workload

FULL: dict[str, Any] = {
    "hf_access": {"type": "token", "token": TOKEN},
    "endpoint_access": {"mode": "groups", "groups": ["ml"]},
    "replicas": {"min": 1, "max": 4},
    "autoscaling": {"metric": "throughput", "threshold": 5},
}


def test_apply_order_secret_istio_service_deployment_scaler() -> None:
    assert kinds(render(**FULL)) == [
        "Secret",
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Service",
        "Deployment",
        "ScaledObject",
    ]


def test_scale_to_zero_scaler_is_applied_last() -> None:
    manifests = render(
        replicas={"max": 2},
        autoscaling={"metric": "concurrency", "threshold": 2},
        scale_to_zero={"idle_seconds": "15m"},
    )
    assert kinds(manifests) == ["Service", "Deployment", "HTTPScaledObject"]


def test_minimal_workload_renders_service_and_deployment_only() -> None:
    assert kinds(render()) == ["Service", "Deployment"]


def test_example_workload_renders_every_concern() -> None:
    assert kinds(render(example_workload())) == [
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Service",
        "Deployment",
        "ScaledObject",
    ]


def test_same_input_twice_gives_equal_json_serialisable_output() -> None:
    spec = workload(**FULL, node_pools=["a", "b", "c"], labels={"team": "x"})
    first = render_manifests(spec, namespace="team-a", options=options())
    second = render_manifests(spec, namespace="team-a", options=options())
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert json.loads(json.dumps(first)) == first


def test_rendering_does_not_depend_on_field_order() -> None:
    ordered = workload(labels={"a": "1", "b": "2"}, annotations={"x": "1", "y": "2"})
    reversed_ = workload(labels={"b": "2", "a": "1"}, annotations={"y": "2", "x": "1"})
    first, second = render(ordered), render(reversed_)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_rendered_objects_share_no_mutable_parts() -> None:
    manifests = render(
        **FULL, node_pools=["a", "b"], tolerations=[{"key": "k", "operator": "Exists"}]
    )
    seen: dict[int, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, (dict, list)):
            assert id(value) not in seen, f"{path} is the same object as {seen[id(value)]}"
            seen[id(value)] = path
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                walk(item, f"{path}.{key}")

    walk(manifests, "manifests")
    # So the YAML a user sees has no anchors and aliases.
    text = yaml.safe_dump_all(manifests)
    assert "&id" not in text and "*id" not in text


def test_rendering_leaves_the_caller_free_to_edit_the_output() -> None:
    spec = workload(**FULL)
    first = render(spec)
    pristine = copy.deepcopy(first)
    first[-1]["spec"]["maxReplicaCount"] = 99
    first[0]["metadata"]["labels"]["x"] = "y"
    assert render(spec) == pristine


@pytest.mark.parametrize("namespace", ["", "Team-A", "-team", "team-", "team_a", "a" * 64, "a.b"])
def test_invalid_namespace_is_a_render_error(namespace: str) -> None:
    with pytest.raises(RenderError, match="namespace"):
        render_manifests(workload(), namespace=namespace, options=options())


def test_unknown_backend_is_a_render_error_listing_the_known_ones() -> None:
    with pytest.raises(RenderError, match="kubernetes"):
        render_manifests(workload(), namespace="team-a", backend="knative")


def test_default_options_are_used_when_none_are_given() -> None:
    manifests = render_manifests(workload(), namespace="team-a")
    (deployment,) = [item for item in manifests if item["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "vllm/vllm-openai:v0.6.4"
    )
