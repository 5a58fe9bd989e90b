"""Placement: node pools in priority order, node type, GPU memory, tolerations."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.render.scheduling import pin_to_pool, pool_weights
from airflow_provider_hfinfer.spec.models import MAX_NODE_POOLS

from .builders import node_affinity, options, pod_spec, render, required_expressions

POOL_KEY = "run.ai/node-pool"


def _expressions_by_key(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    expressions = required_expressions(manifests)
    by_key = {item["key"]: item for item in expressions}
    assert len(by_key) == len(expressions), "one rule per label key"
    return by_key


def _preferred(manifests: list[dict[str, Any]]) -> list[tuple[int, list[str]]]:
    """(weight, pools) of each preferred term, in order."""
    result = []
    for term in node_affinity(manifests).get("preferredDuringSchedulingIgnoredDuringExecution", []):
        (expression,) = term["preference"]["matchExpressions"]
        assert expression["key"] == POOL_KEY
        assert expression["operator"] == "In"
        result.append((term["weight"], expression["values"]))
    return result


# --- GPU memory ----------------------------------------------------------------------------------


# What GPU feature discovery reports as nvidia.com/gpu.memory (MiB) for common cards.
CARDS = {
    "A100 80GB": 81920,
    "H100 80GB": 81559,
    "H100 NVL": 95830,
    "A100 40GB": 40960,
    "L40S": 46068,
    "RTX A6000": 49140,
    "A10": 23028,
    "L4": 23034,
    "T4": 15360,
}


def _matching_cards(gpu_memory: str) -> set[str]:
    rule = _expressions_by_key(render(compute={"gpu_memory": gpu_memory}))["nvidia.com/gpu.memory"]
    assert rule["operator"] == "Gt" and len(rule["values"]) == 1
    return {card for card, mib in CARDS.items() if mib > int(rule["values"][0])}


@pytest.mark.parametrize(
    ("gpu_memory", "cards"),
    [
        ("80Gi", {"A100 80GB", "H100 80GB", "H100 NVL"}),
        ("48Gi", {"A100 80GB", "H100 80GB", "H100 NVL", "L40S", "RTX A6000"}),
        ("40Gi", {"A100 80GB", "H100 80GB", "H100 NVL", "L40S", "RTX A6000", "A100 40GB"}),
        ("24Gi", set(CARDS) - {"T4"}),
        ("16Gi", set(CARDS)),
        ("94Gi", {"H100 NVL"}),
    ],
)
def test_gpu_memory_matches_the_cards_of_that_size_as_their_drivers_report_it(
    gpu_memory: str, cards: set[str]
) -> None:
    # Drivers report up to 6.3% less than the size on the box (L40S, A10, T4); the rule
    # must accept those cards and still refuse the next smaller size.
    assert _matching_cards(gpu_memory) == cards


@pytest.mark.parametrize(
    ("gpu_memory", "gt"),
    [("80Gi", "76184"), ("24576Mi", "22854"), ("80G", "70952"), ("1Gi", "951")],
)
def test_gpu_memory_bound_is_93_percent_of_the_size_in_whole_mib(gpu_memory: str, gt: str) -> None:
    rule = _expressions_by_key(render(compute={"gpu_memory": gpu_memory}))["nvidia.com/gpu.memory"]
    assert rule == {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": [gt]}


def test_gpu_memory_node_selection_can_be_turned_off() -> None:
    manifests = render(compute={"gpu_memory": "80Gi"}, opts=options(gpu_memory_label_key=None))
    assert "affinity" not in pod_spec(manifests)


def test_no_constraints_render_no_affinity() -> None:
    assert "affinity" not in pod_spec(render())


# --- node pools ----------------------------------------------------------------------------------


def test_node_pools_are_required_and_preferred_in_order() -> None:
    pools = ["a100-pool", "h100-pool", "default"]
    manifests = render(node_pools=pools)
    assert _expressions_by_key(manifests)[POOL_KEY] == {
        "key": POOL_KEY,
        "operator": "In",
        "values": pools,
    }
    preferred = _preferred(manifests)
    assert [values for _, values in preferred] == [[pool] for pool in pools]


@pytest.mark.parametrize("count", [2, 3, 5, 11])
def test_pool_weight_ladder_is_steep_and_strictly_descending(count: int) -> None:
    pools = [f"pool-{index}" for index in range(count)]
    weights = [weight for weight, _ in _preferred(render(node_pools=pools))]
    assert len(weights) == count
    assert weights[0] == 100
    # Measured on kube-scheduler: 100/50 let spreading move a replica to the second pool.
    assert all(weight <= 10 for weight in weights[1:])
    assert all(high > low >= 1 for high, low in zip(weights, weights[1:], strict=False))


def test_the_longest_pool_list_the_spec_allows_keeps_a_steep_distinct_ladder() -> None:
    pools = [f"pool-{index}" for index in range(MAX_NODE_POOLS)]
    preferred = _preferred(render(node_pools=pools))
    weights = [weight for weight, _ in preferred]
    # Every pool gets its own term, in list order: none is left without a preference.
    assert [values for _, values in preferred] == [[pool] for pool in pools]
    assert weights[0] == 100
    assert all(1 <= weight <= 15 for weight in weights[1:])
    assert len(set(weights)) == len(weights)


@pytest.mark.parametrize("count", [60, 101, 150])
def test_pool_weights_stay_in_the_kubernetes_range_past_the_spec_cap(count: int) -> None:
    # The spec refuses more than MAX_NODE_POOLS pools; the function stays safe anyway.
    weights = pool_weights(count)
    assert weights[0] == 100
    assert all(1 <= weight <= 100 for weight in weights)
    assert all(high > low for high, low in zip(weights, weights[1:], strict=False))


def test_single_pool_is_required_without_preferences() -> None:
    manifests = render(node_pools=["a100-pool"])
    assert _expressions_by_key(manifests)[POOL_KEY]["values"] == ["a100-pool"]
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in node_affinity(manifests)


def test_pool_weights_give_the_minimal_strict_ladder() -> None:
    assert pool_weights(0) == []
    assert pool_weights(1) == [100]
    assert pool_weights(3) == [100, 2, 1]
    long = pool_weights(150)
    assert len(long) == 100 and long[1] == 99 and long[-1] == 1


def test_strict_mode_pins_one_pool_and_keeps_other_rules() -> None:
    manifests = render(node_pools=["a", "b"], node_type="a100", compute={"gpu_memory": "40Gi"})
    affinity = pod_spec(manifests)["affinity"]
    pinned = pin_to_pool(affinity, "b", options())
    expressions = pinned["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"]
    by_key = {item["key"]: item for item in expressions}
    assert by_key[POOL_KEY]["values"] == ["b"]
    assert by_key["run.ai/type"]["values"] == ["a100"]
    assert "nvidia.com/gpu.memory" in by_key
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in pinned["nodeAffinity"]
    # The rendered affinity itself is left untouched.
    assert _expressions_by_key(manifests)[POOL_KEY]["values"] == ["a", "b"]


# --- node type -----------------------------------------------------------------------------------


def test_node_type_is_a_required_rule_on_the_run_ai_type_label() -> None:
    rule = _expressions_by_key(render(node_type="a100-80gb"))["run.ai/type"]
    assert rule == {"key": "run.ai/type", "operator": "In", "values": ["a100-80gb"]}


def test_label_keys_come_from_options() -> None:
    opts = options(node_pool_label_key="example.com/pool", node_type_label_key="example.com/type")
    manifests = render(node_pools=["a", "b"], node_type="gpu", opts=opts)
    by_key = _expressions_by_key(manifests)
    assert set(by_key) == {"example.com/pool", "example.com/type"}
    terms = node_affinity(manifests)["preferredDuringSchedulingIgnoredDuringExecution"]
    assert {term["preference"]["matchExpressions"][0]["key"] for term in terms} == {
        "example.com/pool"
    }


def test_all_required_rules_share_one_term_so_they_are_anded() -> None:
    manifests = render(node_pools=["a", "b"], node_type="a100", compute={"gpu_memory": "80Gi"})
    keys = {item["key"] for item in required_expressions(manifests)}
    assert keys == {POOL_KEY, "run.ai/type", "nvidia.com/gpu.memory"}


# --- tolerations ---------------------------------------------------------------------------------


def _tolerations(*items: dict[str, Any], **opts: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = pod_spec(
        render(tolerations=list(items), opts=options(**opts))
    ).get("tolerations", [])
    return result


def test_equals_becomes_equal_with_the_value() -> None:
    found = _tolerations({"key": "dedicated", "operator": "Equals", "value": "inference"})
    assert {"key": "dedicated", "operator": "Equal", "value": "inference"} in found


def test_equal_is_accepted_as_written_in_kubernetes() -> None:
    found = _tolerations(
        {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
    )
    assert {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"} in found


def test_any_effect_renders_no_effect_so_every_effect_is_tolerated() -> None:
    (user,) = [t for t in _tolerations({"key": "spot", "operator": "Exists"}) if t["key"] == "spot"]
    assert user == {"key": "spot", "operator": "Exists"}


@pytest.mark.parametrize("effect", ["NoSchedule", "PreferNoSchedule", "NoExecute"])
def test_named_effects_are_kept(effect: str) -> None:
    found = _tolerations({"key": "spot", "operator": "Exists", "effect": effect})
    assert {"key": "spot", "operator": "Exists", "effect": effect} in found


def test_toleration_seconds_for_no_execute() -> None:
    found = _tolerations(
        {
            "key": "node.example.com/drain",
            "operator": "Exists",
            "effect": "NoExecute",
            "toleration_seconds": 300,
        }
    )
    assert {
        "key": "node.example.com/drain",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    } in found


def test_gpu_taint_is_tolerated_once_by_default() -> None:
    found = _tolerations()
    assert found == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_gpu_taint_toleration_is_not_duplicated_when_the_user_lists_it() -> None:
    found = _tolerations({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
    assert [t["key"] for t in found].count("nvidia.com/gpu") == 1


def test_gpu_taint_toleration_can_be_turned_off() -> None:
    assert _tolerations(tolerate_gpu_taint=False) == []


def test_user_tolerations_keep_their_order() -> None:
    found = _tolerations({"key": "b", "operator": "Exists"}, {"key": "a", "operator": "Exists"})
    assert [t["key"] for t in found][:2] == ["b", "a"]
