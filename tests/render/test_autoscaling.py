"""Autoscaling: one KEDA ScaledObject on vLLM metrics, or one HTTPScaledObject for scale-to-zero."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .builders import kinds, of_kind, one, options, render

SCALERS = ("ScaledObject", "HTTPScaledObject")


def _scaled(metric: str, threshold: float = 8, **fields: Any) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "replicas": {"min": 1, "max": 4},
        "autoscaling": {"metric": metric, "threshold": threshold},
    }
    return render(**{**base, **fields})


def _trigger(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (trigger,) = one(manifests, "ScaledObject")["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    result: dict[str, Any] = trigger
    return result


def _to_zero(
    metric: str = "concurrency", threshold: int = 4, idle: Any = 600
) -> list[dict[str, Any]]:
    return render(
        replicas={"max": 3},
        autoscaling={"metric": metric, "threshold": threshold},
        scale_to_zero={"idle_seconds": idle},
    )


def test_fixed_replicas_render_no_scaler() -> None:
    manifests = render(replicas={"min": 2, "max": 2})
    assert not [kind for kind in kinds(manifests) if kind in SCALERS]


# --- ScaledObject --------------------------------------------------------------------------------


def test_scaled_object_targets_the_deployment_with_min_and_max() -> None:
    manifests = _scaled("concurrency", replicas={"min": 2, "max": 6})
    spec = one(manifests, "ScaledObject")["spec"]
    deployment = one(manifests, "Deployment")
    assert spec["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert spec["minReplicaCount"] == 2
    assert spec["maxReplicaCount"] == 6
    assert not of_kind(manifests, "HTTPScaledObject")


def test_trigger_reads_the_configured_prometheus() -> None:
    manifests = render(
        replicas={"min": 1, "max": 2},
        autoscaling={"metric": "throughput", "threshold": 5},
        opts=options(prometheus_url="http://prom.example:9090"),
    )
    assert _trigger(manifests)["metadata"]["serverAddress"] == "http://prom.example:9090"


def test_latency_query_is_the_mean_in_milliseconds_from_vllm_histogram() -> None:
    trigger = _trigger(_scaled("latency", 2500))
    query = trigger["metadata"]["query"]
    assert "vllm:e2e_request_latency_seconds_sum" in query
    assert "vllm:e2e_request_latency_seconds_count" in query
    assert re.search(r"1000\s*\*", query), "seconds must be turned into milliseconds"
    assert query.index("_sum") < query.index("/") < query.index("_count")
    # Replicas grow while the latency itself exceeds the threshold, not per replica.
    assert trigger["metricType"] == "Value"
    # An idle workload yields 0/0 = NaN, not an empty result: KEDA must read it as 0.
    assert trigger["metadata"]["ignoreNullValues"] == "true"


def test_throughput_query_is_the_rate_of_completed_requests() -> None:
    trigger = _trigger(_scaled("throughput", 5))
    query = trigger["metadata"]["query"]
    assert re.search(r"rate\(vllm:request_success_total\{[^}]*\}\[\d+[sm]\]\)", query)
    assert trigger["metricType"] == "AverageValue"


def test_concurrency_query_adds_running_and_waiting_requests() -> None:
    trigger = _trigger(_scaled("concurrency", 8))
    query = trigger["metadata"]["query"]
    assert "vllm:num_requests_running" in query
    assert "vllm:num_requests_waiting" in query
    assert re.search(r"num_requests_running\{[^}]*\}\)?\s*\+", query)
    assert trigger["metricType"] == "AverageValue"


@pytest.mark.parametrize("metric", ["latency", "throughput", "concurrency"])
def test_every_query_is_scoped_to_the_workload_and_reads_empty_as_zero(metric: str) -> None:
    manifests = _scaled(metric, model={"id": "org/model", "served_name": "my-chat"})
    query = _trigger(manifests)["metadata"]["query"]
    selectors = re.findall(r"vllm:[a-z0-9_]+(\{[^}]*\})?", query)
    assert selectors, query
    for selector in selectors:
        assert 'model_name="my-chat"' in selector
        assert 'namespace="runai-team-a"' in selector
    assert query.rstrip().endswith("or vector(0)")


def test_model_name_defaults_to_the_model_id_in_queries() -> None:
    query = _trigger(_scaled("throughput", model="Qwen/Qwen2.5-7B-Instruct"))["metadata"]["query"]
    assert 'model_name="Qwen/Qwen2.5-7B-Instruct"' in query


def test_namespace_label_comes_from_options_or_is_left_out() -> None:
    custom = _trigger(
        render(
            replicas={"min": 1, "max": 2},
            autoscaling={"metric": "concurrency", "threshold": 4},
            opts=options(prometheus_namespace_label="kubernetes_namespace"),
        )
    )["metadata"]["query"]
    assert 'kubernetes_namespace="runai-team-a"' in custom
    unscoped = _trigger(
        render(
            replicas={"min": 1, "max": 2},
            autoscaling={"metric": "concurrency", "threshold": 4},
            opts=options(prometheus_namespace_label=None),
        )
    )["metadata"]["query"]
    assert "runai-team-a" not in unscoped
    assert 'model_name="meta-llama/Llama-3.1-8B-Instruct"' in unscoped


def test_quotes_in_the_served_name_cannot_break_the_query() -> None:
    query = _trigger(_scaled("concurrency", model={"id": "org/m", "served_name": 'a"b\\c'}))[
        "metadata"
    ]["query"]
    assert 'model_name="a\\"b\\\\c"' in query


@pytest.mark.parametrize(
    ("threshold", "text"),
    [
        (2500, "2500"),
        (8.0, "8"),
        (0.5, "0.5"),
        (2.75, "2.75"),
        (0.1, "0.1"),
        (1234.5678, "1234.5678"),
        (9876.54321, "9876.54321"),
    ],
)
def test_threshold_is_a_string_that_keeps_its_value(threshold: float, text: str) -> None:
    value = _trigger(_scaled("throughput", threshold))["metadata"]["threshold"]
    assert value == text
    assert float(value) == threshold


def test_new_replicas_are_not_judged_while_they_load_the_model() -> None:
    spec = one(_scaled("latency", 2000, compute={"gpus": 4}), "ScaledObject")["spec"]
    assert spec["initialCooldownPeriod"] >= 600


def test_min_never_exceeds_max_as_the_crd_rule_demands() -> None:
    spec = one(_scaled("concurrency", replicas={"min": 5, "max": 6}), "ScaledObject")["spec"]
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"]


# --- scale to zero: HTTPScaledObject -------------------------------------------------------------


@pytest.mark.parametrize("metric", ["concurrency", "throughput"])
def test_scale_to_zero_renders_an_http_scaled_object_instead(metric: str) -> None:
    manifests = _to_zero(metric)
    assert [kind for kind in kinds(manifests) if kind in SCALERS] == ["HTTPScaledObject"]


def test_http_scaled_object_scales_from_zero_to_max() -> None:
    spec = one(_to_zero(), "HTTPScaledObject")["spec"]
    assert spec["replicas"] == {"min": 0, "max": 3}


@pytest.mark.parametrize(("idle", "seconds"), [(600, 600), ("10m", 600), ("1h30m", 5400)])
def test_scaledown_period_is_the_idle_time(idle: Any, seconds: int) -> None:
    assert one(_to_zero(idle=idle), "HTTPScaledObject")["spec"]["scaledownPeriod"] == seconds


def test_concurrency_scales_on_concurrent_requests() -> None:
    metric = one(_to_zero("concurrency", 6), "HTTPScaledObject")["spec"]["scalingMetric"]
    assert metric == {"concurrency": {"targetValue": 6}}


def test_throughput_scales_on_request_rate() -> None:
    metric = one(_to_zero("throughput", 3), "HTTPScaledObject")["spec"]["scalingMetric"]
    assert list(metric) == ["requestRate"]
    assert metric["requestRate"]["targetValue"] == 3


def test_http_scaled_object_routes_the_service_host_to_the_service_port() -> None:
    manifests = _to_zero()
    spec = one(manifests, "HTTPScaledObject")["spec"]
    service = one(manifests, "Service")
    target = spec["scaleTargetRef"]
    assert target["name"] == one(manifests, "Deployment")["metadata"]["name"]
    assert target["service"] == service["metadata"]["name"]
    # The CRD's rule: exactly one of port and portName.
    assert ("port" in target) != ("portName" in target)
    assert target["port"] in [port["port"] for port in service["spec"]["ports"]]
    assert spec["hosts"] == ["llama3-8b-chat.runai-team-a.svc.cluster.local"]


def test_interceptor_holds_the_first_request_for_the_startup_window() -> None:
    spec = one(_to_zero(), "HTTPScaledObject")["spec"]
    assert int(spec["timeouts"]["conditionWait"].rstrip("s")) >= 600
