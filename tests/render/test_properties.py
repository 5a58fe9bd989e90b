"""Property: any workload the spec accepts renders to valid objects; the rest is a ValidationError.

Workload dicts are drawn over every field. Most draws are valid by construction;
about a third then get one field replaced by a value that may be invalid, or a
cross-field combination the spec forbids. Accepted workloads must render to
objects that pass strict Kubernetes validation and the shared CRD schemas and
keep the renderer's invariants; rejected ones must raise pydantic's
``ValidationError`` and nothing else.
"""

from __future__ import annotations

import base64
import json
import os
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_provider_hfinfer.render import render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload

from .builders import JWKS, NAMESPACE, flag, iter_strings, options
from .schemas import CRD_DIR, CRD_SKIP, core_problems, crd_problems, metadata_problems

OPTIONS = options(jwks_uri=JWKS, jwt_audiences=("api",))
SCALERS = ("ScaledObject", "HTTPScaledObject")

# --- field strategies: (valid, possibly invalid) -------------------------------------------------

NAME_CHARS = string.ascii_lowercase + string.digits + "-"
valid_names = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from(string.ascii_lowercase),
    st.text(NAME_CHARS, max_size=44),
    st.sampled_from(string.ascii_lowercase + string.digits),
)
any_names = st.one_of(
    valid_names,
    st.sampled_from(["", "Llama", "1model", "model-", "a" * 47, "has_underscore", "x" * 63]),
    st.text(NAME_CHARS + "A_.", max_size=50),
)

REPO = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=20).filter(
    lambda part: part[0].isalnum() and part[-1].isalnum() and "--" not in part and ".." not in part
)
valid_model_ids = st.one_of(
    st.sampled_from(["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "gpt2"]),
    st.builds(lambda org, name: f"{org}/{name}", REPO, REPO),
)
served_names = st.text(
    st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")), min_size=1, max_size=30
)
valid_models = st.one_of(
    valid_model_ids,
    st.fixed_dictionaries(
        {"id": valid_model_ids},
        optional={
            "revision": st.sampled_from(
                ["main", "v1.0", "0123456789abcdef0123456789abcdef01234567"]
            ),
            "served_name": served_names,
        },
    ),
)
any_models = st.one_of(
    valid_models,
    st.sampled_from(["", "a/b/c", "bad--id", "x" * 97, "/name", "org/"]),
    st.fixed_dictionaries({"id": valid_model_ids, "revision": st.sampled_from(["", "a b"])}),
    st.fixed_dictionaries({"id": valid_model_ids, "served_name": st.sampled_from(["", " x "])}),
    st.fixed_dictionaries({"id": valid_model_ids, "unknown": st.just(1)}),
)

tokens = st.text(string.ascii_letters + string.digits, min_size=16, max_size=40).map(
    lambda raw: "hf_" + raw
)
SECRET_NAME = st.sampled_from(["hf-credentials", "team.secrets", "s", "hf-token-2"])
SECRET_KEY = st.sampled_from(["HF_TOKEN", "token", "hf.token", "a-b_c"])
valid_hf_access = st.one_of(
    st.just({"type": "none"}),
    st.builds(lambda token: {"type": "token", "token": token}, tokens),
    st.fixed_dictionaries(
        {"type": st.just("existing_secret"), "secret_name": SECRET_NAME},
        optional={"key": SECRET_KEY},
    ),
    st.fixed_dictionaries(
        {"type": st.just("new_secret"), "secret_name": SECRET_NAME, "value": tokens},
        optional={"key": SECRET_KEY},
    ),
)
any_hf_access = st.one_of(
    valid_hf_access,
    st.sampled_from(
        [
            {"type": "token", "token": ""},
            {"type": "token", "token": "has space"},
            {"type": "existing_secret", "secret_name": "Bad_Name"},
            {"type": "existing_secret", "secret_name": "ok", "key": "bad/key"},
            {"type": "new_secret", "secret_name": "ok"},
            {"type": "vault"},
            {"type": "none", "token": "x"},
        ]
    ),
)

GROUPS = st.lists(
    st.sampled_from(["ml-research", "ml-platform", "Team A", "/org/ml"]),
    min_size=1,
    max_size=3,
    unique=True,
)
USERS = st.lists(
    st.sampled_from(["ada@example.com", "grace", "auth0|5f7c8ec7", "g.hopper@navy.example.org"]),
    min_size=1,
    max_size=3,
    unique=True,
)
valid_endpoint_access = st.one_of(
    st.just({"mode": "public"}),
    st.just({"mode": "authenticated"}),
    st.builds(lambda groups: {"mode": "groups", "groups": groups}, GROUPS),
    st.builds(lambda users: {"mode": "users", "users": users}, USERS),
)
any_endpoint_access = st.one_of(
    valid_endpoint_access,
    st.sampled_from(
        [
            {"mode": "groups"},
            {"mode": "users", "users": []},
            {"mode": "public", "groups": ["a"]},
            {"mode": "groups", "groups": ["a", "a"]},
            {"mode": "users", "users": [' "quoted"']},
            {"mode": "users", "users": ["bob smith"]},
            {"mode": "groups", "groups": ["ml-*"]},
            {"mode": "everyone"},
        ]
    ),
)

valid_compute = st.fixed_dictionaries(
    {},
    optional={
        "gpus": st.integers(1, 16) | st.sampled_from(["2", "8"]),
        "gpu_memory": st.sampled_from(["16Gi", "24Gi", "40Gi", "80Gi", "80G", "141Gi", "1Gi"]),
        "cpu": st.sampled_from(["500m", "1", "4", "8"]),
        "cpu_limit": st.sampled_from(["16", "32"]),
        "memory": st.sampled_from(["16Gi", "64Gi", "1.5Ti"]),
        "memory_limit": st.sampled_from(["2Ti"]),
    },
)
BAD_QUANTITY = st.sampled_from(["", "abc", "-1", "0", "16 Gi", "1.2.3", "16GB"])
any_compute = st.one_of(
    valid_compute,
    st.fixed_dictionaries(
        {},
        optional={
            "gpus": st.integers(-2, 20) | st.sampled_from(["x", True, 1.5, None]),
            "gpu_memory": BAD_QUANTITY,
            "cpu": BAD_QUANTITY | st.just("64"),
            "cpu_limit": BAD_QUANTITY | st.just("1"),
            "memory": BAD_QUANTITY,
            "memory_limit": BAD_QUANTITY | st.just("1Gi"),
        },
    ),
)

LABEL_VALUE = st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=63).filter(
    lambda value: value[0].isalnum() and value[-1].isalnum()
)
valid_pools = st.lists(LABEL_VALUE, max_size=16, unique=True)
any_pools = st.one_of(
    valid_pools,
    st.sampled_from(
        [["a", "a"], [""], ["bad value"], ["x" * 64], ["-a"], [f"p{i}" for i in range(17)]]
    ),
)
valid_node_type = st.none() | LABEL_VALUE
any_node_type = st.one_of(valid_node_type, st.sampled_from(["", "a b", "x" * 64, "-x"]))

TAINT_KEY = st.sampled_from(
    ["nvidia.com/gpu", "dedicated", "example.com/spot", "node.kubernetes.io/x"]
)
valid_toleration = st.one_of(
    st.fixed_dictionaries(
        {"key": TAINT_KEY, "operator": st.just("Exists")},
        optional={"effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "Any"])},
    ),
    st.fixed_dictionaries(
        {
            "key": TAINT_KEY,
            "operator": st.sampled_from(["Equals", "Equal"]),
            "value": st.sampled_from(["inference", "", "a.b-c_d"]),
        },
        optional={"effect": st.sampled_from(["NoSchedule", "NoExecute", "Any"])},
    ),
    st.fixed_dictionaries(
        {
            "key": TAINT_KEY,
            "operator": st.just("Exists"),
            "effect": st.just("NoExecute"),
            "toleration_seconds": st.integers(0, 86400),
        }
    ),
)
valid_tolerations = st.lists(valid_toleration, max_size=3)
any_tolerations = st.one_of(
    valid_tolerations,
    st.sampled_from(
        [
            [{"key": "a", "operator": "Exists", "value": "x"}],
            [{"key": "a", "operator": "Equals"}],
            [{"key": "a", "operator": "In", "value": "x"}],
            [{"key": "a", "operator": "Exists", "effect": "NoSchedule", "toleration_seconds": 5}],
            [{"key": "bad key", "operator": "Exists"}],
            [{"key": "a", "operator": "Exists", "effect": "Sometimes"}],
            [{"key": "a", "operator": "Exists", "effect": "NoExecute", "toleration_seconds": -1}],
        ]
    ),
)

valid_ttl = st.none() | st.integers(0, 10**7) | st.sampled_from(["0", "90s", "10m", "1h30m"])
any_ttl = st.one_of(valid_ttl, st.sampled_from([-1, "soon", "1d", "", 1.5, True]))

META_KEY = st.sampled_from(["team", "example.com/owner", "cost-center", "a.b/c_d", "x" * 63])
valid_labels = st.dictionaries(META_KEY, LABEL_VALUE | st.just(""), max_size=3)
valid_annotations = st.dictionaries(META_KEY, st.text(max_size=40), max_size=3)
BAD_META_KEY = st.sampled_from(
    ["hfinfer.io/x", "kubernetes.io/x", "app.kubernetes.io/name", "bad key", "", "/x", "x" * 64]
)
any_labels = st.one_of(
    valid_labels,
    st.dictionaries(BAD_META_KEY, st.just("v"), min_size=1, max_size=1),
    st.dictionaries(
        META_KEY, st.sampled_from(["bad value", "x" * 64, "-a"]), min_size=1, max_size=1
    ),
)
any_annotations = st.one_of(
    valid_annotations,
    st.dictionaries(BAD_META_KEY, st.just("v"), min_size=1, max_size=1),
    st.sampled_from([{"prometheus.io/port": "9090"}, {"prometheus.io/path": "/"}]),
)

valid_vllm = st.fixed_dictionaries(
    {},
    optional={
        "image": st.sampled_from(["vllm/vllm-openai:v0.6.4", "registry.local:5000/vllm@sha256:ab"]),
        "max_model_len": st.integers(16, 131072),
        "dtype": st.sampled_from(["auto", "half", "float16", "bfloat16", "float", "float32"]),
        "gpu_memory_utilization": st.floats(0.01, 1.0),
        "task": st.sampled_from(["auto", "generate", "embedding"]),
        "extra_args": st.lists(
            st.sampled_from(
                ["--enable-prefix-caching", "--max-num-seqs=64", "--disable-log-requests"]
            ),
            max_size=2,
        ),
    },
)
any_vllm = st.one_of(
    valid_vllm,
    st.sampled_from(
        [
            {"image": ""},
            {"image": "a b"},
            {"max_model_len": 8},
            {"dtype": "int4"},
            {"gpu_memory_utilization": 0},
            {"gpu_memory_utilization": 1.5},
            {"task": "chat"},
            {"extra_args": ["--model=x"]},
            {"extra_args": ["--tensor-parallel-size", "2"]},
            {"extra_args": ["-tp"]},
            {"extra_args": ["--mod=x"]},
            {"extra_args": ["--max_model_len=4096"]},
            {"extra_args": ["--po=9000"]},
        ]
    ),
)

valid_cache = st.one_of(
    st.fixed_dictionaries({}, optional={"size_limit": st.sampled_from(["50Gi", "1Ti", "200G"])}),
    st.fixed_dictionaries(
        {"type": st.just("pvc"), "claim_name": st.sampled_from(["hf-cache", "shared.models"])}
    ),
)
any_cache = st.one_of(
    valid_cache,
    st.sampled_from(
        [
            {"type": "pvc"},
            {"type": "pvc", "claim_name": "Bad"},
            {"type": "pvc", "claim_name": "c", "size_limit": "1Gi"},
            {"claim_name": "c"},
            {"type": "hostPath"},
            {"size_limit": "lots"},
        ]
    ),
)


@st.composite
def valid_scaling(draw: st.DrawFn) -> dict[str, Any]:
    """Replicas, autoscaling and scale-to-zero in a combination the spec accepts."""
    mode = draw(st.sampled_from(["fixed", "scaled", "to-zero"]))
    if mode == "fixed":
        count = draw(st.integers(1, 10))
        return draw(st.sampled_from([{}, {"replicas": {"min": count, "max": count}}]))
    if mode == "scaled":
        low = draw(st.integers(1, 5))
        return {
            "replicas": {"min": low, "max": draw(st.integers(low + 1, 1000))},
            "autoscaling": {
                "metric": draw(st.sampled_from(["latency", "throughput", "concurrency"])),
                # Up to 10000, the smallest per-metric cap (MAX_AUTOSCALING_THRESHOLD).
                "threshold": draw(st.floats(0.01, 1e4) | st.integers(1, 10**4)),
            },
        }
    return {
        "replicas": {"max": draw(st.integers(1, 50))},
        "autoscaling": {
            "metric": draw(st.sampled_from(["throughput", "concurrency"])),
            "threshold": draw(st.integers(1, 1000)),
        },
        # Up to the longest period the CRD's int32 holds.
        "scale_to_zero": {
            "idle_seconds": draw(st.integers(1, 10**7) | st.sampled_from(["10m", 2**31 - 1]))
        },
    }


invalid_scaling = st.sampled_from(
    [
        {"replicas": {"min": 1, "max": 3}},
        {"replicas": {"min": 3, "max": 2}},
        {"replicas": {"min": 0, "max": 2}, "autoscaling": {"metric": "latency", "threshold": 5}},
        {"replicas": {"min": 2, "max": 2}, "autoscaling": {"metric": "latency", "threshold": 5}},
        {
            "replicas": {"max": 2},
            "autoscaling": {"metric": "latency", "threshold": 5},
            "scale_to_zero": {"idle_seconds": 60},
        },
        {
            "replicas": {"max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 2.5},
            "scale_to_zero": {"idle_seconds": 60},
        },
        {"replicas": {"max": 2}, "scale_to_zero": {"idle_seconds": 60}},
        {
            "replicas": {"max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 4},
            "scale_to_zero": {"idle_seconds": 0},
        },
        {
            "replicas": {"max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 4},
            "scale_to_zero": {"idle_seconds": 2**31},
        },
        {"replicas": {"min": 1, "max": 2}, "autoscaling": {"metric": "qps", "threshold": 4}},
        {"replicas": {"min": 1, "max": 2}, "autoscaling": {"metric": "latency", "threshold": 0}},
        {
            "replicas": {"min": 1, "max": 2},
            "autoscaling": {"metric": "latency", "threshold": float("nan")},
        },
        {"replicas": {"min": 1, "max": 1001}, "autoscaling": {"metric": "latency", "threshold": 1}},
        {
            "replicas": {"min": 1, "max": 2},
            "autoscaling": {"metric": "throughput", "threshold": 10_001},
        },
        {
            "replicas": {"min": 1, "max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 4},
            "annotations": {"prometheus.io/scrape": "false"},
        },
        {
            "replicas": {"min": 1, "max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 4},
            "vllm": {"extra_args": ["--disable-log-stats"]},
        },
    ]
)

FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "model": (valid_models, any_models),
    "hf_access": (valid_hf_access, any_hf_access),
    "endpoint_access": (valid_endpoint_access, any_endpoint_access),
    "compute": (valid_compute, any_compute),
    "node_pools": (valid_pools, any_pools),
    "node_type": (valid_node_type, any_node_type),
    "tolerations": (valid_tolerations, any_tolerations),
    "auto_delete_after": (valid_ttl, any_ttl),
    "labels": (valid_labels, any_labels),
    "annotations": (valid_annotations, any_annotations),
    "vllm": (valid_vllm, any_vllm),
    "cache": (valid_cache, any_cache),
    "update_strategy": (st.sampled_from(["RollingUpdate", "Recreate"]), st.just("BlueGreen")),
}


@st.composite
def workload_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A workload dict over every field: valid, or with one field possibly broken."""
    data: dict[str, Any] = {"name": draw(valid_names)}
    for field, (valid, _) in FIELDS.items():
        if draw(st.booleans()):
            data[field] = draw(valid)
    data["model"] = draw(valid_models)
    data.update(draw(valid_scaling()))
    if draw(st.integers(0, 2)) == 0:
        broken = draw(st.sampled_from(["name", "scaling", "unknown", *FIELDS]))
        if broken == "name":
            data["name"] = draw(any_names)
        elif broken == "scaling":
            for key in ("replicas", "autoscaling", "scale_to_zero"):
                data.pop(key, None)
            data.update(draw(invalid_scaling))
        elif broken == "unknown":
            data["gpu_count"] = 2
        else:
            data[broken] = draw(FIELDS[broken][1])
    return data


# --- the property --------------------------------------------------------------------------------


def _check_objects(spec: InferenceWorkload, manifests: list[dict[str, Any]]) -> None:
    """One scaler at most, of the right kind; one Secret only for a new token; short names."""
    kinds = [item["kind"] for item in manifests]
    scalers = [kind for kind in kinds if kind in SCALERS]
    assert len(scalers) <= 1, kinds
    assert bool(scalers) == (spec.autoscaling is not None)
    if scalers:
        expected = "HTTPScaledObject" if spec.scale_to_zero is not None else "ScaledObject"
        assert scalers == [expected]
    assert kinds.count("Secret") == (1 if spec.hf_access.type in ("token", "new_secret") else 0)
    assert kinds.count("Deployment") == kinds.count("Service") == 1
    for manifest in manifests:
        user_named = manifest["kind"] == "Secret" and spec.hf_access.type == "new_secret"
        if not user_named:
            assert len(manifest["metadata"]["name"]) <= 63, manifest["metadata"]["name"]


def _check_scaler(spec: InferenceWorkload, manifests: list[dict[str, Any]]) -> None:
    """The scaler carries the spec's numbers unchanged."""
    scaler = next((item for item in manifests if item["kind"] in SCALERS), None)
    if scaler is None:
        return
    if scaler["kind"] == "ScaledObject" and spec.autoscaling is not None:
        (trigger,) = scaler["spec"]["triggers"]
        assert float(trigger["metadata"]["threshold"]) == spec.autoscaling.threshold
        assert trigger["metadata"]["query"].endswith("or vector(0)")
    if scaler["kind"] == "HTTPScaledObject" and spec.scale_to_zero is not None:
        assert scaler["spec"]["replicas"]["min"] == 0
        assert scaler["spec"]["scaledownPeriod"] == spec.scale_to_zero.idle_seconds


def _check_pod(spec: InferenceWorkload, manifests: list[dict[str, Any]]) -> None:
    """Replicas owned by one party, GPUs = tensor parallelism, a valid pool ladder."""
    deployment = next(item for item in manifests if item["kind"] == "Deployment")
    assert ("replicas" in deployment["spec"]) == (spec.autoscaling is None)
    pod = deployment["spec"]["template"]["spec"]
    (vllm,) = pod["containers"]
    assert flag(vllm["args"], "--tensor-parallel-size") == str(spec.compute.gpus)
    utilization = flag(vllm["args"], "--gpu-memory-utilization")
    assert float(utilization or "nan") == spec.vllm.gpu_memory_utilization
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == str(spec.compute.gpus)
    preferred = (
        pod.get("affinity", {})
        .get("nodeAffinity", {})
        .get("preferredDuringSchedulingIgnoredDuringExecution", [])
    )
    weights = [term["weight"] for term in preferred]
    assert all(1 <= weight <= 100 for weight in weights)
    # Within the spec's cap every listed pool gets its own preference.
    assert len(weights) == (len(spec.node_pools) if len(spec.node_pools) > 1 else 0)
    assert all(high > low for high, low in zip(weights, weights[1:], strict=False))


def _check_token(spec: InferenceWorkload, manifests: list[dict[str, Any]]) -> None:
    """The token (plain or base64) appears in no object but the Secret."""
    access = spec.hf_access
    if access.type == "token":
        raw = access.token.get_secret_value()
    elif access.type == "new_secret":
        raw = access.value.get_secret_value()
    else:
        return
    encoded = base64.b64encode(raw.encode()).decode()
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        for text in iter_strings(manifest):
            assert raw not in text and encoded not in text, f"token in {manifest['kind']}"


@settings(
    max_examples=int(os.environ.get("HFINFER_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=workload_dicts())
def test_accepted_workloads_render_valid_objects_and_rejected_ones_raise_validation_error(
    data: dict[str, Any],
) -> None:
    note(f"workload: {data!r}")
    try:
        spec = InferenceWorkload.model_validate(data)
    except ValidationError:
        event("rejected by the spec")
        return  # any other exception type escapes and fails the test
    event("accepted and rendered")
    manifests = render_manifests(spec, namespace=NAMESPACE, options=OPTIONS)
    assert json.loads(json.dumps(manifests)) == manifests
    assert render_manifests(spec, namespace=NAMESPACE, options=OPTIONS) == manifests
    problems: list[str] = []
    for manifest in manifests:
        problems += metadata_problems(manifest)
        if manifest["apiVersion"] in ("v1", "apps/v1"):
            problems += core_problems(manifest)
        elif CRD_DIR.is_dir():
            problems += crd_problems(manifest)
    assert problems == []
    _check_objects(spec, manifests)
    _check_scaler(spec, manifests)
    _check_pod(spec, manifests)
    _check_token(spec, manifests)


def test_crd_checks_in_the_property_need_the_shared_folder() -> None:
    # The property above checks custom objects only when the CRDs are present; say so.
    if not CRD_DIR.is_dir():
        pytest.skip(CRD_SKIP)
    assert any(CRD_DIR.glob("*.yaml"))
