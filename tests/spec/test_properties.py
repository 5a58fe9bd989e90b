"""Property: any input either validates or raises ValidationError, nothing else.

The inputs sit near the boundaries of each rule (name lengths, replica counts,
thresholds, tolerations, label keys and values, quantities, durations) and
include values of the wrong type, since YAML and templated fields produce those.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_hfinfer.spec import MAX_NAME_LENGTH, InferenceWorkload
from airflow_provider_hfinfer.spec.frozen import FrozenMap
from airflow_provider_hfinfer.spec.messages import describe_errors
from airflow_provider_hfinfer.spec.models import MAX_AUTOSCALING_THRESHOLD, MAX_NODE_POOLS

from .builders import TOKEN

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)

NAME_CHARS = "abz09-_.A "
NAMES = st.one_of(
    st.text(alphabet=NAME_CHARS, min_size=0, max_size=MAX_NAME_LENGTH + 3),
    st.sampled_from(["a" * MAX_NAME_LENGTH, "a" * (MAX_NAME_LENGTH + 1), "a", "-a", "a-", "1a"]),
    JUNK,
)

COUNTS = st.one_of(
    st.integers(min_value=-2, max_value=1002),
    st.sampled_from([0, 1, 2, 16, 17, 1000, 1001, "2", " 3", "²", "1e3"]),
    JUNK,
)

THRESHOLDS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1, 1.5, 2**1024 - 1, 10**400, "5", "nan", "inf", "1e309"]),
    JUNK,
)

QUANTITIES = st.one_of(
    st.text(alphabet="0123456789.eE+-kKMGTPimnu ", max_size=10),
    st.sampled_from(["500m", "16Gi", "1e9", "1e99999999", "1e" + "9" * 5000, "-1", "0", ".5"]),
    JUNK,
)

DURATIONS = st.one_of(
    st.text(alphabet="0123456789hms -²", max_size=10),
    st.integers(min_value=-5, max_value=2**33),
    st.sampled_from(["10m", "1h30m", "9" * 5000, 2**31 - 1, 2**31]),
    JUNK,
)

KEY_PARTS = st.sampled_from(
    [
        "",
        "a",
        "team",
        "example.com",
        "kubernetes.io",
        "node.kubernetes.io",
        "k8s.io",
        "hfinfer.io",
        "-x",
        "x-",
        "A.b",
        "a b",
        "x" * 63,
        "x" * 64,
        "p" * 254,
    ]
)
KEYS = st.one_of(
    st.builds(lambda prefix, name: f"{prefix}/{name}" if prefix else name, KEY_PARTS, KEY_PARTS),
    st.text(alphabet="ab/.-_ ", max_size=8),
)
VALUES = st.one_of(
    st.text(alphabet="ab09-_.@ /", max_size=8), st.sampled_from(["x" * 63, "x" * 64]), JUNK
)

TOLERATIONS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"key": KEYS},
            optional={
                "operator": st.sampled_from(["Exists", "Equals", "Equal", "In", None]),
                "value": VALUES,
                "effect": st.sampled_from(
                    ["NoExecute", "NoSchedule", "PreferNoSchedule", "Any", "", None]
                ),
                "toleration_seconds": st.one_of(st.integers(-2, 2**64), JUNK),
                "bogus": JUNK,
            },
        ),
        JUNK,
    ),
    max_size=3,
)

HF_ACCESS = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["none", "token", "existing_secret", "new_secret", "x", None]),
            "token": st.one_of(st.just(TOKEN), st.text(max_size=4), JUNK),
            "value": st.one_of(st.just(TOKEN), JUNK),
            "secret_name": st.one_of(st.sampled_from(["hf", "Bad_Name", "", "a..b"]), JUNK),
            "key": st.one_of(st.sampled_from(["HF_TOKEN", "", ".", "a b"]), JUNK),
        },
    ),
    JUNK,
)

AUTOSCALING = st.fixed_dictionaries(
    {},
    optional={
        "metric": st.sampled_from(["latency", "throughput", "concurrency", "x"]),
        "threshold": THRESHOLDS,
    },
)

REPLICAS = st.one_of(
    st.fixed_dictionaries({}, optional={"min": st.integers(-1, 4), "max": st.integers(0, 5)}),
    st.fixed_dictionaries({}, optional={"min": COUNTS, "max": COUNTS}),
)

COMPUTE = st.fixed_dictionaries(
    {},
    optional={
        "gpus": COUNTS,
        "gpu_memory": QUANTITIES,
        "cpu": QUANTITIES,
        "cpu_limit": QUANTITIES,
        "memory": QUANTITIES,
        "memory_limit": QUANTITIES,
    },
)

ENDPOINT_ACCESS = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["public", "authenticated", "groups", "users", "x"]),
        "groups": st.one_of(st.lists(VALUES, max_size=3), JUNK),
        "users": st.one_of(st.lists(VALUES, max_size=3), JUNK),
    },
)

VLLM = st.fixed_dictionaries(
    {},
    optional={
        "extra_args": st.one_of(
            st.lists(
                st.sampled_from(["--model=x", "-tp", "--disable-log-stats", "--seed=1", "", " "]),
                max_size=2,
            ),
            JUNK,
        ),
        "max_model_len": COUNTS,
        "gpu_memory_utilization": THRESHOLDS,
    },
)

CACHE = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["emptyDir", "pvc", "x"]),
        "claim_name": VALUES,
        "size_limit": QUANTITIES,
    },
)

# The rules tying replicas, autoscaling and scale-to-zero together, drawn jointly and
# mostly well-typed so that the cross-field checks are reached.
SCALING = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.fixed_dictionaries(
            {}, optional={"min": st.integers(-1, 3), "max": st.integers(0, 4)}
        ),
        "autoscaling": st.fixed_dictionaries(
            {
                "metric": st.sampled_from(["latency", "throughput", "concurrency"]),
                "threshold": st.one_of(
                    st.sampled_from([1, 2.5, 8, 0, -1, math.nan, math.inf]), THRESHOLDS
                ),
            }
        ),
        "scale_to_zero": st.fixed_dictionaries(
            {"idle_seconds": st.one_of(st.sampled_from([0, 1, "10m"]), DURATIONS)}
        ),
        "vllm": st.fixed_dictionaries(
            {"extra_args": st.sampled_from([[], ["--disable-log-stats"], ["--port=1"]])}
        ),
    },
)

SECTION_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "name": NAMES,
    "model": st.one_of(st.sampled_from(["a/b", "gpt2", "a/b/c", ""]), JUNK),
    "replicas": st.one_of(REPLICAS, JUNK),
    "autoscaling": st.one_of(AUTOSCALING, JUNK),
    "scale_to_zero": st.one_of(st.fixed_dictionaries({"idle_seconds": DURATIONS}), JUNK),
    "compute": st.one_of(COMPUTE, JUNK),
    "tolerations": st.one_of(TOLERATIONS, JUNK),
    "labels": st.one_of(st.dictionaries(KEYS, VALUES, max_size=3), JUNK),
    "annotations": st.one_of(st.dictionaries(KEYS, VALUES, max_size=3), JUNK),
    "node_pools": st.one_of(
        st.lists(VALUES, max_size=3), st.lists(st.sampled_from("abcdefghijklmnopqrst")), JUNK
    ),
    "node_type": VALUES,
    "auto_delete_after": DURATIONS,
    "hf_access": HF_ACCESS,
    "endpoint_access": st.one_of(ENDPOINT_ACCESS, JUNK),
    "vllm": st.one_of(VLLM, JUNK),
    "cache": st.one_of(CACHE, JUNK),
}

# A few sections at a time over a valid workload: most examples break one or two
# rules, and the cross-field rules (which run only once every field parsed) are
# reached as well as the per-field ones.
SECTIONS = st.one_of(
    SCALING,
    st.lists(st.sampled_from(sorted(SECTION_STRATEGIES)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: SECTION_STRATEGIES[key] for key in keys})
    ),
)


def _over_valid(sections: dict[str, Any]) -> dict[str, Any]:
    return {"name": "llama3-8b-chat", "model": "a/b", **sections}


WORKLOADS = st.builds(_over_valid, SECTIONS)


def _check_invariants(spec: InferenceWorkload) -> None:
    low, high = spec.replicas.min, spec.replicas.max
    assert 0 <= low <= high <= 1000
    assert (spec.autoscaling is not None) == (low < high)
    assert (low == 0) == (spec.scale_to_zero is not None)
    if spec.autoscaling is not None:
        assert spec.autoscaling.threshold > 0 and math.isfinite(spec.autoscaling.threshold)
        assert spec.autoscaling.threshold <= MAX_AUTOSCALING_THRESHOLD[spec.autoscaling.metric]
    assert len(spec.node_pools) <= MAX_NODE_POOLS
    assert isinstance(spec.labels, FrozenMap) and isinstance(spec.annotations, FrozenMap)
    assert 1 <= spec.compute.gpus <= 16
    assert len(spec.name) <= MAX_NAME_LENGTH
    # A valid workload serialises and reloads to itself, without showing the token.
    assert TOKEN not in spec.model_dump_json()


@SETTINGS
@given(WORKLOADS)
def test_any_input_validates_or_raises_validation_error(data: dict[str, Any]) -> None:
    try:
        spec = InferenceWorkload.model_validate(data)
    except ValidationError as error:
        lines = describe_errors(error)
        assert lines and all(": " in line for line in lines)
        assert TOKEN not in str(error) and not any(TOKEN in line for line in lines)
        return
    _check_invariants(spec)


def _outcome(load: Any, value: Any) -> InferenceWorkload | str:
    try:
        spec: InferenceWorkload = load(value)
    except ValidationError as error:
        return "\n".join(describe_errors(error))
    return spec


@SETTINGS
@given(WORKLOADS)
def test_json_text_loads_like_the_mapping_it_encodes(data: dict[str, Any]) -> None:
    text = json.dumps(data)
    expected = _outcome(InferenceWorkload.model_validate, json.loads(text))
    assert _outcome(InferenceWorkload.parse, text) == expected
    # pydantic's JSON mode (model_validate_json, used for XCom and API payloads) accepts
    # the same workloads and flags the same fields; only its wording may differ.
    in_json_mode = _outcome(InferenceWorkload.model_validate_json, text)
    if isinstance(expected, str) and isinstance(in_json_mode, str):
        assert _paths(in_json_mode) == _paths(expected)
    else:
        assert in_json_mode == expected


def _paths(lines: str) -> list[str]:
    return [line.split(": ", 1)[0] for line in lines.splitlines()]


@SETTINGS
@given(st.sampled_from(["gpu_memory", "cpu", "cpu_limit", "memory", "memory_limit"]), QUANTITIES)
def test_any_quantity_validates_or_raises_validation_error(field: str, value: Any) -> None:
    try:
        spec = InferenceWorkload.model_validate(_over_valid({"compute": {field: value}}))
    except ValidationError as error:
        assert describe_errors(error)[0].startswith(f"compute.{field}: ")
        return
    # A number from YAML is kept as its text; None leaves the field unset.
    assert getattr(spec.compute, field) == (None if value is None else str(value))


@SETTINGS
@given(DURATIONS)
def test_any_duration_validates_or_raises_validation_error(value: Any) -> None:
    try:
        spec = InferenceWorkload.model_validate(_over_valid({"auto_delete_after": value}))
    except ValidationError as error:
        assert describe_errors(error)[0].startswith("auto_delete_after: ")
        return
    if value is None:  # never delete
        assert spec.auto_delete_after is None
    else:
        assert spec.auto_delete_after is not None and 0 <= spec.auto_delete_after < 2**31
