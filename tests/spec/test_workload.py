"""InferenceWorkload: every field of the form accepted, every invalid value rejected."""

from __future__ import annotations

import copy
import math
import operator
import pickle
import re
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.spec import (
    MAX_NAME_LENGTH,
    ExistingSecretHFAccess,
    InferenceWorkload,
    NewSecretHFAccess,
    NoHFAccess,
    Replicas,
    TokenHFAccess,
    Toleration,
)
from airflow_provider_hfinfer.spec.frozen import FrozenMap
from airflow_provider_hfinfer.spec.messages import describe_errors
from airflow_provider_hfinfer.spec.models import (
    MAX_AUTOSCALING_THRESHOLD,
    MAX_NODE_POOLS,
    SCRAPE_ANNOTATIONS,
)
from airflow_provider_hfinfer.spec.redact import shown_arg

from .builders import AUTOSCALED, BASE, SCALE_TO_ZERO, TOKEN, workload

Check = Callable[[InferenceWorkload], bool]


def test_defaults_of_a_minimal_workload() -> None:
    spec = InferenceWorkload.model_validate(BASE)
    assert spec.name == "llama3-8b-chat"
    assert spec.model.id == "meta-llama/Llama-3.1-8B-Instruct"
    assert spec.model.served_model_name == "meta-llama/Llama-3.1-8B-Instruct"
    assert spec.hf_access == NoHFAccess()
    assert spec.endpoint_access.mode == "public"
    assert (spec.replicas.min, spec.replicas.max) == (1, 1)
    assert spec.compute.gpus == 1
    assert spec.autoscaling is None and not spec.autoscaled
    assert spec.scale_to_zero is None
    assert spec.tolerations == () and spec.node_pools == ()
    assert spec.auto_delete_after is None
    assert spec.cache.type == "emptyDir"
    assert spec.vllm.dtype == "auto" and spec.vllm.gpu_memory_utilization == 0.9
    assert spec.update_strategy == "RollingUpdate"


VALID: list[Any] = [
    pytest.param(
        workload(name="a" * MAX_NAME_LENGTH), lambda w: len(w.name) == 46, id="name-46-chars"
    ),
    pytest.param(workload(name="m1"), lambda w: w.name == "m1", id="name-short"),
    pytest.param(
        workload(model={"id": "Qwen/Qwen2.5-7B-Instruct", "revision": "v1.0", "served_name": "q"}),
        lambda w: (w.model.revision, w.model.served_model_name) == ("v1.0", "q"),
        id="model-mapping",
    ),
    pytest.param(
        workload(model="gpt2"), lambda w: w.model.id == "gpt2", id="model-without-namespace"
    ),
    pytest.param(
        workload(hf_access={"type": "none"}),
        lambda w: isinstance(w.hf_access, NoHFAccess),
        id="hf-none",
    ),
    pytest.param(
        workload(hf_access={"type": "token", "token": TOKEN}),
        lambda w: (
            isinstance(w.hf_access, TokenHFAccess) and w.hf_access.token.get_secret_value() == TOKEN
        ),
        id="hf-token",
    ),
    pytest.param(
        workload(hf_access={"type": "existing_secret", "secret_name": "hf-credentials"}),
        lambda w: isinstance(w.hf_access, ExistingSecretHFAccess) and w.hf_access.key == "HF_TOKEN",
        id="hf-existing-secret-default-key",
    ),
    pytest.param(
        workload(hf_access={"type": "existing_secret", "secret_name": "a.b", "key": "hf.token"}),
        lambda w: isinstance(w.hf_access, ExistingSecretHFAccess) and w.hf_access.key == "hf.token",
        id="hf-existing-secret-custom-key",
    ),
    pytest.param(
        workload(
            hf_access={"type": "new_secret", "secret_name": "hf-new", "key": "T", "value": TOKEN}
        ),
        lambda w: (
            isinstance(w.hf_access, NewSecretHFAccess)
            and w.hf_access.value.get_secret_value() == TOKEN
        ),
        id="hf-new-secret",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "public"}),
        lambda w: w.endpoint_access.mode == "public",
        id="endpoint-public",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "authenticated"}),
        lambda w: w.endpoint_access.mode == "authenticated",
        id="endpoint-authenticated",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "groups", "groups": ["ml-research", "ML Platform"]}),
        lambda w: w.endpoint_access.groups == ("ml-research", "ML Platform"),
        id="endpoint-groups",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "users", "users": ["ana@example.com", "bob"]}),
        lambda w: w.endpoint_access.users == ("ana@example.com", "bob"),
        id="endpoint-users",
    ),
    pytest.param(
        workload(
            compute={
                "gpus": 8,
                "gpu_memory": "80Gi",
                "cpu": "8",
                "cpu_limit": "16",
                "memory": "64Gi",
                "memory_limit": "64Gi",
            }
        ),
        lambda w: (
            w.compute.gpus == 8
            and w.compute.gpu_memory_bytes == 80 * 2**30
            and w.compute.memory_limit == "64Gi"
        ),
        id="compute-full-limit-equals-request",
    ),
    pytest.param(
        workload(compute={"gpus": "2", "cpu": 8, "memory": "500Mi", "cpu_limit": 8.5}),
        lambda w: (w.compute.gpus, w.compute.cpu, w.compute.cpu_limit) == (2, "8", "8.5"),
        id="compute-numbers-from-templates-and-yaml",
    ),
    pytest.param(
        workload(compute={"gpus": 16, "cpu": "500m"}),
        lambda w: w.compute.gpus == 16 and w.compute.gpu_memory_bytes is None,
        id="compute-16-gpus",
    ),
    pytest.param(
        workload(replicas={"min": 3, "max": 3}),
        lambda w: w.min_replicas == 3 and not w.autoscaled,
        id="fixed-replicas",
    ),
    *[
        pytest.param(
            workload(replicas={"min": 1, "max": 4}, autoscaling={"metric": m, "threshold": t}),
            lambda w, m=m, t=t: (
                w.autoscaling is not None
                and (w.autoscaling.metric, w.autoscaling.threshold) == (m, t)
                and w.autoscaled
            ),
            id=f"autoscaling-{m}",
        )
        for m, t in (("latency", 2500), ("throughput", 5.5), ("concurrency", 8))
    ],
    pytest.param(
        workload(
            replicas={"min": 1, "max": 1000}, autoscaling={"metric": "latency", "threshold": 1e-3}
        ),
        lambda w: w.replicas.max == 1000,
        id="replicas-max-1000",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, replicas={"min": 2, "max": 4}),
        lambda w: (
            w.min_replicas == 0
            and w.scale_to_zero is not None
            and w.scale_to_zero.idle_seconds == 600
        ),
        id="scale-to-zero-sets-min-0",
    ),
    pytest.param(
        workload(
            scale_to_zero={"idle_seconds": 300},
            autoscaling={"metric": "throughput", "threshold": 3},
        ),
        lambda w: (w.replicas.min, w.replicas.max) == (0, 1),
        id="scale-to-zero-default-replicas",
    ),
    pytest.param(
        workload(
            scale_to_zero={"idle_seconds": "1h30m"},
            replicas=Replicas(min=2, max=3),
            autoscaling={"metric": "concurrency", "threshold": 4.0},
        ),
        lambda w: (
            w.min_replicas == 0
            and w.scale_to_zero is not None
            and w.scale_to_zero.idle_seconds == 5400
        ),
        id="scale-to-zero-with-replicas-object",
    ),
    pytest.param(
        workload(node_pools=["h100-pool", "a100-pool", "default"]),
        lambda w: w.node_pools == ("h100-pool", "a100-pool", "default"),
        id="node-pools-keep-priority-order",
    ),
    pytest.param(
        workload(node_type="a100-80gb"), lambda w: w.node_type == "a100-80gb", id="node-type"
    ),
    *[
        pytest.param(
            workload(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": e}]),
            lambda w, e=e: w.tolerations[0].effect == e and w.tolerations[0].value is None,
            id=f"toleration-exists-{e}",
        )
        for e in ("NoExecute", "NoSchedule", "PreferNoSchedule", "Any")
    ],
    *[
        pytest.param(
            workload(tolerations=[{"key": "dedicated", "operator": op, "value": "inference"}]),
            lambda w: w.tolerations[0].operator == "Equals" and w.tolerations[0].effect == "Any",
            id=f"toleration-{op}",
        )
        for op in ("Equals", "Equal")
    ],
    pytest.param(
        workload(tolerations=[{"key": "dedicated", "value": ""}]),
        lambda w: w.tolerations[0].operator == "Equals" and w.tolerations[0].value == "",
        id="toleration-default-operator-empty-value",
    ),
    pytest.param(
        workload(
            tolerations=[
                {"key": "a", "operator": "Exists", "effect": "NoExecute", "toleration_seconds": 0},
                {"key": "b", "value": "x", "effect": "NoExecute", "toleration_seconds": 300},
            ]
        ),
        lambda w: [t.toleration_seconds for t in w.tolerations] == [0, 300],
        id="toleration-seconds-with-noexecute",
    ),
    pytest.param(workload(auto_delete_after=0), lambda w: w.auto_delete_after == 0, id="delete-0"),
    pytest.param(
        workload(auto_delete_after="1h"), lambda w: w.auto_delete_after == 3600, id="delete-1h"
    ),
    pytest.param(
        workload(auto_delete_after="600"), lambda w: w.auto_delete_after == 600, id="delete-str"
    ),
    pytest.param(
        workload(
            annotations={"example.com/owner": "ml@example.com", "note": "free text: ok!" * 20}
        ),
        lambda w: w.annotations["example.com/owner"] == "ml@example.com",
        id="annotations-any-value",
    ),
    pytest.param(
        workload(labels={"team": "ml-platform", "example.com/cost-center": "4711", "empty": ""}),
        lambda w: (
            w.labels == {"team": "ml-platform", "example.com/cost-center": "4711", "empty": ""}
        ),
        id="labels",
    ),
    pytest.param(
        workload(
            vllm={
                "image": "registry.example.com/vllm/vllm-openai:v0.6.4",
                "max_model_len": 32768,
                "dtype": "bfloat16",
                "gpu_memory_utilization": 1,
                "task": "embedding",
                "extra_args": ["--enable-prefix-caching", "--disable-log-stats", "--seed=1"],
            }
        ),
        lambda w: (
            w.vllm.max_model_len == 32768
            and w.vllm.dtype == "bfloat16"
            and w.vllm.task == "embedding"
            and w.vllm.extra_args[1] == "--disable-log-stats"
        ),
        id="vllm-options-log-stats-off-without-autoscaling",
    ),
    pytest.param(
        workload(AUTOSCALED, vllm={"extra_args": ["--model-loader-extra-config={}"]}),
        lambda w: w.vllm.extra_args == ("--model-loader-extra-config={}",),
        id="vllm-flag-that-starts-like-a-reserved-one",
    ),
    # Real vLLM 0.6.4 flags that share a start with a reserved one, and values.
    *[
        pytest.param(
            workload(AUTOSCALED, vllm={"extra_args": args}),
            lambda w, args=args: w.vllm.extra_args == tuple(args),
            id=f"vllm-not-reserved-{'-'.join(args)}",
        )
        for args in (
            ["--tokenizer-revision=main"],
            ["--code-revision", "v1"],
            ["--kv-cache-dtype=fp8"],
            ["--pipeline-parallel-size=2"],
            ["-pp", "2"],
            ["--max-num-seqs=64"],
            ["--max_num_batched_tokens=8192"],
            ["--disable-log-requests"],
            ["--seed", "-1"],
            ["--chat-template", "/templates/chat.jinja"],
        )
    ],
    *[
        pytest.param(
            workload(AUTOSCALED, autoscaling={"metric": metric, "threshold": cap}),
            lambda w, cap=cap: w.autoscaling is not None and w.autoscaling.threshold == cap,
            id=f"threshold-at-cap-{metric}",
        )
        for metric, cap in MAX_AUTOSCALING_THRESHOLD.items()
    ],
    pytest.param(
        workload(SCALE_TO_ZERO, autoscaling={"metric": "throughput", "threshold": 10_000}),
        lambda w: w.autoscaling is not None and w.autoscaling.threshold == 10_000,
        id="threshold-at-cap-scale-to-zero",
    ),
    pytest.param(
        workload(node_pools=[f"pool-{index}" for index in range(MAX_NODE_POOLS)]),
        lambda w: len(w.node_pools) == MAX_NODE_POOLS == 16,
        id="node-pools-at-cap",
    ),
    pytest.param(
        workload(annotations=dict(SCRAPE_ANNOTATIONS)),
        lambda w: w.annotations == SCRAPE_ANNOTATIONS,
        id="annotations-scrape-as-the-provider-sets-them",
    ),
    pytest.param(
        workload(annotations={"prometheus.io/scrape": "false", "prometheus.io/scheme": "http"}),
        lambda w: w.annotations["prometheus.io/scrape"] == "false",
        id="annotations-scrape-off-without-autoscaling",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, annotations={"prometheus.io/scrape": "false"}),
        lambda w: w.annotations["prometheus.io/scrape"] == "false",
        id="annotations-scrape-off-with-scale-to-zero",
    ),
    pytest.param(
        workload(cache={"type": "emptyDir", "size_limit": "200Gi"}),
        lambda w: w.cache.size_limit == "200Gi",
        id="cache-emptydir",
    ),
    pytest.param(
        workload(cache={"type": "pvc", "claim_name": "hf-model-cache"}),
        lambda w: w.cache.claim_name == "hf-model-cache",
        id="cache-pvc",
    ),
    pytest.param(
        workload(update_strategy="Recreate"),
        lambda w: w.update_strategy == "Recreate",
        id="update-strategy-recreate",
    ),
]


@pytest.mark.parametrize(("data", "check"), VALID)
def test_valid_workloads(data: dict[str, Any], check: Check) -> None:
    assert check(InferenceWorkload.model_validate(data))


@pytest.mark.parametrize(("data", "check"), VALID)
def test_valid_workloads_pass_the_published_json_schema(data: dict[str, Any], check: Check) -> None:
    # Editors validate YAML against model_json_schema(): it must accept what the model does.
    jsonschema = pytest.importorskip("jsonschema")
    if isinstance(data.get("replicas"), Replicas):
        data = {**data, "replicas": data["replicas"].model_dump()}
    jsonschema.validate(data, InferenceWorkload.model_json_schema())


def _tol(**fields: Any) -> dict[str, Any]:
    return workload(tolerations=[{"key": "dedicated", **fields}])


# (extra arg, the reserved flag(s) vLLM's argparse reads it as, fix in the line): exact,
# '=value', one item with a space, unique abbreviations (argparse allow_abbrev),
# ambiguous ones (an error at vLLM start-up) and underscores (vLLM turns them to dashes).
RESERVED_SPELLINGS = [
    ("--model=x", "--model", "set model.id instead and remove this argument"),
    ("--model", "--model", "set model.id instead"),
    ("--mod", "--model", "set model.id instead"),
    ("--mode=x", "--model", "set model.id instead"),
    ("--m", "--model or --max-model-len", "set model.id, vllm.max_model_len instead"),
    ("--served-model-name", "--served-model-name", "set model.served_name instead"),
    ("--served-model=x", "--served-model-name", "set model.served_name instead"),
    ("--served_model_name=x", "--served-model-name", "set model.served_name instead"),
    ("--revision=main", "--revision", "set model.revision instead"),
    ("--rev=main", "--revision", "set model.revision instead"),
    ("--tensor-parallel-size", "--tensor-parallel-size", "set compute.gpus instead"),
    ("--tensor_parallel_size=2", "--tensor-parallel-size", "set compute.gpus instead"),
    ("--tensor-par=2", "--tensor-parallel-size", "set compute.gpus instead"),
    ("-tp=2", "-tp", "set compute.gpus instead"),
    ("-tp", "-tp", "set compute.gpus instead"),
    ("-t", "-tp", "set compute.gpus instead"),
    ("--t", "--tensor-parallel-size or --task", "set compute.gpus, vllm.task instead"),
    ("--port 8000", "--port", "remove this argument"),
    ("--port=9000", "--port", "remove this argument"),
    ("--po=9000", "--port", "remove this argument"),
    ("--host=0.0.0.0", "--host", "remove this argument"),
    ("--ho", "--host", "remove this argument"),
    ("--max-model-len=4096", "--max-model-len", "set vllm.max_model_len instead"),
    ("--max_model_len=4096", "--max-model-len", "set vllm.max_model_len instead"),
    ("--max-model", "--max-model-len", "set vllm.max_model_len instead"),
    ("--dtype=half", "--dtype", "set vllm.dtype instead"),
    ("--dt=half", "--dtype", "set vllm.dtype instead"),
    ("--d", "--dtype or --download-dir", "set vllm.dtype, cache instead"),
    ("--gpu-memory-utilization", "--gpu-memory-utilization", "vllm.gpu_memory_utilization"),
    ("--gpu_memory_util=0.5", "--gpu-memory-utilization", "vllm.gpu_memory_utilization"),
    ("--task=generate", "--task", "set vllm.task instead"),
    ("--ta=generate", "--task", "set vllm.task instead"),
    ("--download-dir=/x", "--download-dir", "set cache instead"),
    ("--download_dir=/x", "--download-dir", "set cache instead"),
]

# (workload, field the line names, rule (regex on str(ValidationError)), fix in the line)
INVALID: list[Any] = [
    # name
    pytest.param(workload(name="Llama3"), "name", "DNS-1035", "choose e.g.", id="name-upper"),
    pytest.param(
        workload(name="3llama"), "name", "start with a letter", "choose e.g.", id="name-digit"
    ),
    pytest.param(workload(name="llama_3"), "name", "DNS-1035", "choose e.g.", id="name-underscore"),
    pytest.param(workload(name="llama."), "name", "DNS-1035", "choose e.g.", id="name-dot"),
    pytest.param(workload(name="llama-"), "name", "DNS-1035", "choose e.g.", id="name-dash-end"),
    pytest.param(workload(name=""), "name", "DNS-1035", "choose e.g.", id="name-empty"),
    pytest.param(
        workload(name="a" * 47),
        "name",
        r"at most 46 characters \(got 47\).*suffixes Kubernetes adds to pod names",
        "choose e.g.",
        id="name-47",
    ),
    pytest.param(workload(name="a" * 63), "name", "at most 46", "choose e.g.", id="name-63"),
    pytest.param(workload(name=7), "name", "valid string", "quote the value", id="name-int"),
    # model
    pytest.param(
        workload(model="a/b/c"), "model.id", "repository id", "copy the id", id="model-3-parts"
    ),
    pytest.param(
        workload(model="org/-x"), "model.id", "repository id", "copy the id", id="model-dash"
    ),
    pytest.param(
        workload(model="a--b/c"), "model.id", "repository id", "copy the id", id="model-dashes"
    ),
    pytest.param(
        workload(model="a/" + "b" * 95), "model.id", "96 characters", "copy the id", id="model-long"
    ),
    pytest.param(
        workload(model={"id": "a/b", "revision": " "}),
        "model.revision",
        "non-empty string without spaces",
        "remove the field",
        id="model-blank-revision",
    ),
    pytest.param(
        workload(model={"id": "a/b", "served_name": "my model"}),
        "model.served_name",
        "without spaces",
        "remove the field",
        id="model-served-name-space",
    ),
    pytest.param(
        {"name": "x"}, "model", "Field required", "is required: add it", id="model-missing"
    ),
    # labels and annotations
    pytest.param(
        workload(labels={"kubernetes.io/team": "a"}),
        "labels key",
        "reserved for Kubernetes",
        "outside reserved prefixes",
        id="label-reserved-kubernetes-io",
    ),
    pytest.param(
        workload(labels={"node.kubernetes.io/instance-type": "a"}),
        "labels key",
        "'node.kubernetes.io/'",
        "outside reserved prefixes",
        id="label-reserved-subdomain",
    ),
    pytest.param(
        workload(labels={"k8s.io/x": "a"}),
        "labels key",
        "reserved",
        "outside reserved",
        id="label-k8s-io",
    ),
    pytest.param(
        workload(labels={"hfinfer.io/workload": "other"}),
        "labels key",
        "this provider sets itself",
        "outside reserved prefixes",
        id="label-own-prefix",
    ),
    pytest.param(
        workload(labels={"my team": "a"}),
        "labels key",
        "alphanumeric",
        "like 'team'",
        id="label-key-space",
    ),
    pytest.param(
        workload(labels={"x" * 64: "a"}),
        "labels key",
        "at most 63",
        "like 'team'",
        id="label-key-long",
    ),
    pytest.param(
        workload(labels={"Example.com/team": "a"}),
        "labels key",
        "DNS-1123",
        "like 'team'",
        id="label-prefix-upper",
    ),
    pytest.param(
        workload(labels={("p" * 254) + "/team": "a"}),
        "labels key",
        "at most 253",
        "like 'team'",
        id="label-prefix-long",
    ),
    pytest.param(
        workload(labels={"team": "ml platform"}),
        "labels[team]",
        "alphanumeric",
        "shorten or simplify",
        id="label-value-space",
    ),
    pytest.param(
        workload(labels={"team": "x" * 64}),
        "labels[team]",
        "at most 63",
        "shorten",
        id="label-value-long",
    ),
    pytest.param(
        workload(labels={"owner": "a@example.com"}),
        "labels[owner]",
        "alphanumeric",
        "shorten",
        id="label-value-at",
    ),
    pytest.param(
        workload(labels={"cost-center": 4711}),
        "labels.cost-center",
        "valid string",
        "quote the value",
        id="label-value-number",
    ),
    pytest.param(
        workload(annotations={"k8s.io/owner": "x"}),
        "annotations key",
        "reserved for Kubernetes",
        "outside reserved prefixes",
        id="annotation-reserved",
    ),
    pytest.param(
        workload(annotations={"hfinfer.io/spec-hash": "x"}),
        "annotations key",
        "this provider sets itself",
        "outside reserved",
        id="annotation-own-prefix",
    ),
    pytest.param(
        workload(annotations={"-owner": "x"}),
        "annotations key",
        "alphanumeric",
        "like 'team'",
        id="annotation-key",
    ),
    pytest.param(
        workload(annotations={"big": "x" * (256 * 1024)}),
        "annotations",
        "over Kubernetes' limit of 262144",
        "ConfigMap",
        id="annotations-too-large",
    ),
    *[
        pytest.param(
            workload(annotations={key: value}),
            f"annotations[{key}] ({value!r})",
            re.escape(rule),
            fix,
            id=f"annotation-{key}-{value}",
        )
        for key, value, rule, fix in (
            (
                "prometheus.io/port",
                "9090",
                "must be '8000' (vLLM serves its metrics only there; any other value",
                "remove it to let the provider set it",
            ),
            (
                "prometheus.io/path",
                "/stats",
                "must be '/metrics' (vLLM serves its metrics only there; any other value",
                "remove it to let the provider set it",
            ),
            (
                "prometheus.io/scrape",
                "True",
                "must be 'true' or 'false' (Prometheus' scrape rule matches 'true' exactly)",
                "write 'true' or 'false', or remove it",
            ),
            (
                "prometheus.io/scrape",
                "",
                "must be 'true' or 'false'",
                "write 'true' or 'false', or remove it",
            ),
        )
    ],
    pytest.param(
        workload(AUTOSCALED, annotations={"prometheus.io/scrape": "false"}),
        "annotations[prometheus.io/scrape] is 'false'",
        "autoscaling reads vLLM's metrics from Prometheus, so it would never add a replica",
        "remove the annotation, or remove autoscaling",
        id="annotation-scrape-off-with-autoscaling",
    ),
    # replicas, autoscaling, scale to zero
    pytest.param(
        workload(replicas={"min": 3, "max": 2}),
        "replicas.min",
        r"replicas.min \(3\) exceeds replicas.max \(2\)",
        "raise max or lower min",
        id="min-above-max",
    ),
    pytest.param(
        workload(replicas={"min": -1}),
        "replicas.min",
        "greater than or equal to 0",
        "must be",
        id="min-negative",
    ),
    pytest.param(
        workload(replicas={"max": 0}),
        "replicas.max",
        "greater than or equal to 1",
        "must be",
        id="max-0",
    ),
    pytest.param(
        workload(replicas={"max": 1001}),
        "replicas.max",
        "less than or equal to 1000",
        "must be",
        id="max-1001",
    ),
    pytest.param(
        workload(replicas={"max": True}), "replicas.max", "boolean", "write a number", id="max-bool"
    ),
    pytest.param(
        workload(replicas={"min": 1, "max": 3}),
        "autoscaling",
        r"autoscaling is missing: replicas.min \(1\) < replicas.max \(3\)",
        "add autoscaling",
        id="autoscaling-missing",
    ),
    pytest.param(
        workload(
            replicas={"min": 2, "max": 2}, autoscaling={"metric": "latency", "threshold": 100}
        ),
        "autoscaling",
        r"autoscaling is set but replicas.min equals replicas.max \(2\)",
        "remove autoscaling",
        id="autoscaling-without-range",
    ),
    pytest.param(
        workload(AUTOSCALED, replicas={"min": 0, "max": 2}),
        "replicas.min",
        "replicas.min is 0 without scale_to_zero",
        "set min to at least 1",
        id="min-0-without-scale-to-zero",
    ),
    *[
        pytest.param(
            workload(AUTOSCALED, autoscaling={"metric": "concurrency", "threshold": bad}),
            "autoscaling.threshold",
            "finite number greater than 0",
            "e.g. 2000 (ms) for latency",
            id=f"threshold-{bad}",
        )
        for bad in (0, -1, -0.5, math.nan, math.inf, -math.inf)
    ],
    *[
        pytest.param(
            workload(AUTOSCALED, autoscaling={"metric": metric, "threshold": value}),
            "autoscaling.threshold",
            re.escape(f"({value}) is above {cap} {unit}, the cap for metric '{metric}'"),
            f"check the unit and give at most {cap}",
            id=f"threshold-above-cap-{metric}-{value}",
        )
        for metric, value, cap, unit in (
            ("latency", 600_000.5, 600000, "ms"),
            ("latency", 2.5e9, 600000, "ms"),
            ("throughput", 10_001.0, 10000, "requests/s"),
            ("concurrency", 10_001.0, 10000, "requests"),
            ("concurrency", 1e300, 10000, "requests"),
        )
    ],
    pytest.param(
        workload(SCALE_TO_ZERO, autoscaling={"metric": "concurrency", "threshold": 20_000}),
        "autoscaling.threshold",
        r"\(20000.0\) is above 10000 requests",
        "give at most 10000",
        id="threshold-above-cap-scale-to-zero",
    ),
    pytest.param(
        workload(AUTOSCALED, autoscaling={"metric": "concurrency", "threshold": True}),
        "autoscaling.threshold",
        "boolean",
        "write a number",
        id="threshold-bool",
    ),
    pytest.param(
        workload(AUTOSCALED, autoscaling={"metric": "rps", "threshold": 1}),
        "autoscaling.metric",
        "'latency', 'throughput' or 'concurrency'",
        "must be",
        id="metric-unknown",
    ),
    pytest.param(
        workload(AUTOSCALED, autoscaling={"threshold": 1}),
        "autoscaling.metric",
        "Field required",
        "add it",
        id="metric-missing",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, autoscaling={"metric": "latency", "threshold": 500}),
        "autoscaling.metric",
        "scale_to_zero cannot use autoscaling.metric 'latency'",
        "use metric concurrency or throughput",
        id="scale-to-zero-latency",
    ),
    pytest.param(
        workload(scale_to_zero={"idle_seconds": 600}, replicas={"min": 1, "max": 3}),
        "scale_to_zero",
        "scale_to_zero needs autoscaling",
        "add autoscaling",
        id="scale-to-zero-without-autoscaling",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, autoscaling={"metric": "throughput", "threshold": 2.5}),
        "autoscaling.threshold",
        r"\(2.5\) must be a whole number with scale_to_zero",
        "round it",
        id="scale-to-zero-fractional-threshold",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, scale_to_zero={"idle_seconds": 0}),
        "scale_to_zero.idle_seconds",
        "at least 1 second",
        "e.g. '10m'",
        id="idle-0",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, scale_to_zero={"idle_seconds": "ten minutes"}),
        "scale_to_zero.idle_seconds",
        "not a duration",
        "write seconds",
        id="idle-words",
    ),
    # endpoint access
    *[
        pytest.param(
            workload(endpoint_access={"mode": mode, mode: []}),
            f"endpoint_access.{mode}",
            f"endpoint_access.{mode} is empty but mode is '{mode}'",
            "list at least one entry",
            id=f"endpoint-{mode}-empty",
        )
        for mode in ("groups", "users")
    ],
    pytest.param(
        workload(endpoint_access={"mode": "users"}),
        "endpoint_access.users",
        "is empty",
        "list at least one entry",
        id="endpoint-users-missing",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "public", "groups": ["ml"]}),
        "endpoint_access.groups",
        "is set but mode is 'public'",
        "set mode: groups",
        id="endpoint-groups-for-public",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "groups", "groups": ["ml"], "users": ["ana"]}),
        "endpoint_access.users",
        "is set but mode is 'groups'",
        "remove endpoint_access.users",
        id="endpoint-users-for-groups",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "authenticated", "users": ["ana"]}),
        "endpoint_access.users",
        "is set but mode is 'authenticated'",
        "set mode: users",
        id="endpoint-users-for-authenticated",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "groups", "groups": ["ml", "ops", "ml"]}),
        "endpoint_access.groups",
        r"\('ml'\) is listed twice",
        "list it once",
        id="endpoint-duplicate-group",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "users", "users": ["ana", "ana"]}),
        "endpoint_access.users",
        "listed twice",
        "list it once",
        id="endpoint-duplicate-user",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "users", "users": [" ana"]}),
        "endpoint_access.users",
        "surrounding spaces",
        "exactly as the identity provider",
        id="endpoint-user-spaces",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "groups", "groups": [""]}),
        "endpoint_access.groups",
        "is blank",
        "exactly as the identity provider",
        id="endpoint-group-blank",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "everyone"}),
        "endpoint_access.mode",
        "'public', 'authenticated', 'groups' or 'users'",
        "must be",
        id="endpoint-mode-unknown",
    ),
    # compute
    *[
        pytest.param(
            workload(compute={field: value}),
            f"compute.{field}",
            rule,
            "write a Kubernetes quantity such as",
            id=f"quantity-{field}-{value.strip() or 'blank'}",
        )
        for field, value, rule in (
            ("cpu", "abc", "not a Kubernetes quantity"),
            ("cpu", " 4", "not a Kubernetes quantity"),
            ("cpu", "1.2.3", "not a Kubernetes quantity"),
            ("memory", "16GB", "unknown suffix 'GB'"),
            ("memory", "1e", "unknown suffix 'e'"),
            ("gpu_memory", "80 Gi", "not a Kubernetes quantity"),
            ("cpu_limit", "1e99999999", "out of range"),
            ("memory_limit", "", "not a Kubernetes quantity"),
        )
    ],
    *[
        pytest.param(
            workload(compute={field: value}),
            f"compute.{field}",
            "must be greater than zero",
            "give a positive quantity",
            id=f"quantity-not-positive-{field}-{value}",
        )
        for field, value in (("cpu", "-1"), ("memory", "0"), ("gpu_memory", "0Gi"))
    ],
    pytest.param(
        workload(compute={"cpu": "nan"}),
        "compute.cpu",
        "not a Kubernetes quantity",
        "such as",
        id="quantity-nan-text",
    ),
    pytest.param(
        workload(compute={"cpu": math.inf}),
        "compute.cpu",
        "not a Kubernetes quantity",
        "such as",
        id="quantity-inf-float",
    ),
    pytest.param(
        workload(compute={"memory": "64Gi", "memory_limit": "32Gi"}),
        "compute.memory_limit",
        r"compute.memory_limit \(32Gi\) is below compute.memory \(64Gi\)",
        "raise the limit or lower the request",
        id="memory-limit-below-request",
    ),
    pytest.param(
        workload(compute={"cpu": "2", "cpu_limit": "1500m"}),
        "compute.cpu_limit",
        "is below compute.cpu",
        "raise the limit",
        id="cpu-limit-below-request",
    ),
    *[
        pytest.param(
            workload(compute={"gpus": gpus}),
            "compute.gpus",
            "whole number from 1 to 16",
            "request 1, 2, 4 or 8 GPUs",
            id=f"gpus-{gpus!r}",
        )
        for gpus in (0, -1, 17, True, False, 1.5, "two", None)
    ],
    # node pools, node type
    pytest.param(
        workload(node_pools=["a100", "h100", "a100"]),
        "node_pools",
        r"\('a100'\) is listed twice",
        "list each pool once",
        id="node-pools-duplicate",
    ),
    pytest.param(
        workload(node_pools=[f"pool-{index}" for index in range(MAX_NODE_POOLS + 1)]),
        "node_pools",
        r"node_pools lists 17 pools, more than 16 \(each pool after the first",
        "keep at most 16 pools, most preferred first",
        id="node-pools-above-cap",
    ),
    pytest.param(
        workload(node_pools=[""]),
        "node_pools[]",
        "must not be empty",
        "label value",
        id="node-pool-empty",
    ),
    pytest.param(
        workload(node_pools=["pool a"]),
        "node_pools[]",
        "alphanumeric",
        "label value",
        id="node-pool-space",
    ),
    pytest.param(
        workload(node_pools="a100"),
        "node_pools",
        "valid tuple",
        "must be",
        id="node-pools-string",
    ),
    pytest.param(
        workload(node_type=""),
        "node_type",
        "must not be empty",
        "label value",
        id="node-type-empty",
    ),
    pytest.param(
        workload(node_type="a100/80"),
        "node_type",
        "alphanumeric",
        "label value",
        id="node-type-slash",
    ),
    # tolerations
    pytest.param(
        _tol(operator="Exists", value="x"),
        "tolerations[dedicated]",
        r"operator Exists takes no value \(got 'x'\)",
        "remove value, or use operator Equals",
        id="toleration-exists-with-value",
    ),
    pytest.param(
        _tol(operator="Equals"),
        "tolerations[dedicated]",
        "operator Equals needs a value",
        "use operator Exists",
        id="toleration-equals-without-value",
    ),
    pytest.param(
        _tol(operator="Equal", effect="NoSchedule"),
        "tolerations[dedicated]",
        "operator Equals needs a value",
        "set value",
        id="toleration-equal-alias-without-value",
    ),
    *[
        pytest.param(
            _tol(operator="Exists", effect=effect, toleration_seconds=60),
            "tolerations[dedicated]",
            f"toleration_seconds applies only to effect NoExecute \\(effect is {effect}\\)",
            "remove it or use NoExecute",
            id=f"toleration-seconds-with-{effect}",
        )
        for effect in ("NoSchedule", "PreferNoSchedule", "Any")
    ],
    pytest.param(
        _tol(operator="Exists", effect="NoExecute", toleration_seconds=-1),
        "tolerations.0.toleration_seconds",
        "greater than or equal to 0",
        "must be",
        id="toleration-seconds-negative",
    ),
    pytest.param(
        workload(tolerations=[{"key": "bad key", "operator": "Exists"}]),
        "tolerations[].key",
        "alphanumeric",
        "use the taint key of the node",
        id="toleration-key",
    ),
    pytest.param(
        _tol(value="bad value"),
        "tolerations[dedicated].value",
        "alphanumeric",
        "exactly as it is on the node",
        id="toleration-value",
    ),
    pytest.param(
        _tol(operator="In", value="x"),
        "tolerations.0.operator",
        "'Exists' or 'Equals'",
        "must be",
        id="toleration-op",
    ),
    pytest.param(
        _tol(operator="Exists", effect="NoRun"),
        "tolerations.0.effect",
        "'NoExecute', 'NoSchedule', 'PreferNoSchedule' or 'Any'",
        "must be",
        id="toleration-effect",
    ),
    # hf access
    *[
        pytest.param(
            workload(hf_access={"type": "token", "token": token}),
            "hf_access.token",
            "hf_access.token is empty or contains whitespace",
            "paste the token exactly",
            id=f"token-{label}",
        )
        for label, token in (
            ("empty", ""),
            ("blank", "   "),
            ("inner-space", "hf_ab cd"),
            ("newline", "hf_x\n"),
        )
    ],
    pytest.param(
        workload(hf_access={"type": "token"}),
        "hf_access.token",
        "Field required",
        "add it",
        id="token-missing",
    ),
    pytest.param(
        workload(hf_access={"type": "new_secret", "secret_name": "hf", "value": " "}),
        "hf_access.value",
        "hf_access.value is empty or contains whitespace",
        "paste the token exactly",
        id="new-secret-blank-value",
    ),
    *[
        pytest.param(
            workload(
                hf_access={"type": kind, "secret_name": name, "value": TOKEN}
                if kind == "new_secret"
                else {"type": kind, "secret_name": name}
            ),
            "hf_access.secret_name",
            "DNS-1123 subdomain" if name else "must not be empty",
            "use the Secret's exact name",
            id=f"{kind}-name-{name or 'empty'}",
        )
        for kind in ("existing_secret", "new_secret")
        for name in ("HF_Credentials", "hf credentials", "", "hf..cred")
    ],
    *[
        pytest.param(
            workload(hf_access={"type": "existing_secret", "secret_name": "hf", "key": key}),
            "hf_access.key",
            rule,
            "use a key such as 'HF_TOKEN'",
            id=f"secret-key-{key or 'empty'}",
        )
        for key, rule in (
            ("HF TOKEN", "alphanumeric"),
            ("", "must not be empty"),
            ("a/b", "alphanumeric"),
            ("..", "alphanumeric"),
        )
    ],
    pytest.param(
        workload(hf_access={"type": "tokn", "token": TOKEN}),
        "hf_access",
        "hf_access.type is missing or unknown",
        "set type to 'none'",
        id="hf-type-unknown",
    ),
    pytest.param(
        workload(hf_access={"token": TOKEN}),
        "hf_access",
        "hf_access.type is missing or unknown",
        "'existing_secret' or 'new_secret'",
        id="hf-type-missing",
    ),
    # vLLM
    *[
        pytest.param(
            workload(vllm={"extra_args": ["--enable-prefix-caching", arg]}),
            f"vllm.extra_args[1] ({shown_arg(arg)})",
            re.escape(f"can be read by vLLM as {read_as}, which the provider "),
            fix,
            id=f"vllm-reserved-{arg}",
        )
        for arg, read_as, fix in RESERVED_SPELLINGS
    ],
    *[
        pytest.param(
            workload(AUTOSCALED, vllm={"extra_args": ["--seed=1", arg]}),
            f"vllm.extra_args[1] ({shown_arg(arg)})",
            "can be read by vLLM as --disable-log-stats, which turns off the metrics autoscaling",
            "remove it, or remove autoscaling",
            id=f"vllm-{arg}-with-autoscaling",
        )
        for arg in (
            "--disable-log-stats",
            "--disable_log_stats",
            "--disable-log-st",
            "--disable-log-stats=true",
        )
    ],
    pytest.param(
        workload(vllm={"max_model_len": 8}),
        "vllm.max_model_len",
        "greater than or equal to 16",
        "must be",
        id="vllm-max-len",
    ),
    pytest.param(
        workload(vllm={"max_model_len": True}),
        "vllm.max_model_len",
        "boolean",
        "write a number",
        id="vllm-max-len-bool",
    ),
    pytest.param(
        workload(vllm={"gpu_memory_utilization": 0}),
        "vllm.gpu_memory_utilization",
        "greater than 0",
        "must be",
        id="vllm-util-0",
    ),
    pytest.param(
        workload(vllm={"gpu_memory_utilization": 1.5}),
        "vllm.gpu_memory_utilization",
        "less than or equal to 1",
        "must be",
        id="vllm-util-1.5",
    ),
    pytest.param(
        workload(vllm={"dtype": "int4"}),
        "vllm.dtype",
        "'auto', 'half'",
        "must be",
        id="vllm-dtype",
    ),
    pytest.param(
        workload(vllm={"task": "chat"}),
        "vllm.task",
        "'auto', 'generate' or 'embedding'",
        "must be",
        id="vllm-task",
    ),
    pytest.param(
        workload(vllm={"image": "vllm openai"}),
        "vllm.image",
        "not an image reference",
        "repo/image:tag",
        id="vllm-image",
    ),
    # cache
    pytest.param(
        workload(cache={"type": "pvc"}),
        "cache.claim_name",
        "cache.claim_name is missing for cache type 'pvc'",
        "name an existing PersistentVolumeClaim",
        id="cache-pvc-without-claim",
    ),
    pytest.param(
        workload(cache={"type": "pvc", "claim_name": "Model_Cache"}),
        "cache.claim_name",
        "DNS-1123",
        "use the PVC's name",
        id="cache-pvc-bad-claim",
    ),
    pytest.param(
        workload(cache={"type": "pvc", "claim_name": "c", "size_limit": "1Gi"}),
        "cache.size_limit",
        "applies to emptyDir only",
        "remove it for type 'pvc'",
        id="cache-pvc-size-limit",
    ),
    pytest.param(
        workload(cache={"claim_name": "c"}),
        "cache.claim_name",
        "is set but cache.type is 'emptyDir'",
        "set type: pvc",
        id="cache-claim-for-emptydir",
    ),
    pytest.param(
        workload(cache={"size_limit": "lots"}),
        "cache.size_limit",
        "not a Kubernetes quantity",
        "such as",
        id="cache-size",
    ),
    pytest.param(
        workload(cache={"type": "hostPath"}),
        "cache.type",
        "'emptyDir' or 'pvc'",
        "must be",
        id="cache-type",
    ),
    # general settings
    *[
        pytest.param(
            workload(auto_delete_after=value),
            "auto_delete_after",
            rule,
            "write seconds (e.g. 600)",
            id=f"auto-delete-{value!r}",
        )
        for value, rule in (
            ("10 minutes", "not a duration"),
            (-5, "negative"),
            (True, "not a duration"),
            (1.5, "not a duration"),
            (2**31, "longer than"),
        )
    ],
    pytest.param(
        workload(update_strategy="BlueGreen"),
        "update_strategy",
        "'RollingUpdate' or 'Recreate'",
        "must be",
        id="update-strategy",
    ),
]


def _lines_for(data: dict[str, Any], rule: str) -> list[str]:
    with pytest.raises(ValidationError, match=rule) as caught:
        InferenceWorkload.model_validate(data)
    return describe_errors(caught.value)


@pytest.mark.parametrize(("data", "field", "rule", "fix"), INVALID)
def test_invalid_workloads(data: dict[str, Any], field: str, rule: str, fix: str) -> None:
    lines = _lines_for(data, rule)
    assert any(field in line and fix in line for line in lines), lines


EXTRA_FIELDS: list[Any] = [
    pytest.param(workload(replica=2), "replica", id="top-level"),
    pytest.param(workload(model={"id": "a/b", "rev": "main"}), "model.rev", id="model"),
    pytest.param(workload(compute={"gpu": 2}), "compute.gpu", id="compute"),
    pytest.param(workload(replicas={"minimum": 1}), "replicas.minimum", id="replicas"),
    pytest.param(
        workload(AUTOSCALED, autoscaling={"metric": "latency", "threshold": 1, "target": 2}),
        "autoscaling.target",
        id="autoscaling",
    ),
    pytest.param(
        workload(SCALE_TO_ZERO, scale_to_zero={"idle_seconds": 60, "idle": 1}),
        "scale_to_zero.idle",
        id="scale-to-zero",
    ),
    pytest.param(
        workload(endpoint_access={"mode": "groups", "groups": ["a"], "group": "b"}),
        "endpoint_access.group",
        id="endpoint-access",
    ),
    pytest.param(_tol(operator="Exists", values=["a"]), "tolerations.0.values", id="toleration"),
    pytest.param(workload(vllm={"max_len": 4096}), "vllm.max_len", id="vllm"),
    pytest.param(workload(cache={"pvc": "x"}), "cache.pvc", id="cache"),
    pytest.param(
        workload(hf_access={"type": "token", "token": TOKEN, "key": "HF_TOKEN"}),
        "hf_access.key",
        id="hf-access-token",
    ),
    pytest.param(
        workload(hf_access={"type": "none", "secret_name": "x"}),
        "hf_access.secret_name",
        id="hf-none",
    ),
]


@pytest.mark.parametrize(("data", "path"), EXTRA_FIELDS)
def test_unknown_fields_are_rejected_everywhere(data: dict[str, Any], path: str) -> None:
    lines = _lines_for(data, "Extra inputs are not permitted")
    assert f"{path}: is not a field here: remove it or correct its spelling" in lines


def test_describe_errors_gives_one_line_per_problem() -> None:
    data = workload(
        name="Bad_Name", compute={"gpus": 0, "memory": "16GB"}, labels={"k8s.io/a": "b"}
    )
    with pytest.raises(ValidationError) as caught:
        InferenceWorkload.model_validate(data)
    lines = describe_errors(caught.value)
    assert [line.split(":", 1)[0] for line in lines] == [
        "name",
        "compute.gpus",
        "compute.memory",
        "labels",
    ]
    # pydantic's "Value error, " prefix is gone: each line is field path, then our message.
    assert not any("Value error" in line for line in lines)
    assert lines[1].startswith("compute.gpus: compute.gpus (0) must be a whole number from 1 to 16")


def test_describe_errors_names_a_whole_workload_rule_after_workload() -> None:
    lines = _lines_for(workload(replicas={"min": 1, "max": 2}), "autoscaling is missing")
    assert lines == [
        "workload: autoscaling is missing: replicas.min (1) < replicas.max (2) needs a metric and "
        "threshold; add autoscaling: {metric: concurrency, threshold: 8} or set min equal to max"
    ]


def test_describe_errors_drops_the_access_type_from_the_path() -> None:
    lines = _lines_for(workload(hf_access={"type": "token", "token": ""}), "hf_access.token")
    assert lines[0].startswith("hf_access.token: hf_access.token is empty")


def test_toleration_model_accepts_the_kubernetes_spelling_equal() -> None:
    toleration = Toleration(key="dedicated", operator="Equal", value="inference")
    assert toleration.operator == "Equals"


def test_frozen_fields_cannot_be_assigned() -> None:
    spec = InferenceWorkload.model_validate(workload(AUTOSCALED))
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        spec.replicas.max = 8  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        spec.compute.gpus = 4  # type: ignore[misc]
    assert spec.name == "llama3-8b-chat" and spec.replicas.max == 4


MUTATIONS: list[Any] = [
    # operator.setitem is `m["x"] = "y"`, operator.delitem is `del m["team"]`.
    pytest.param(lambda m: operator.setitem(m, "x", "y"), TypeError, id="set-item"),
    pytest.param(lambda m: operator.delitem(m, "team"), TypeError, id="del-item"),
    pytest.param(lambda m: m.update(x="y"), AttributeError, id="update"),
    pytest.param(lambda m: m.pop("team"), AttributeError, id="pop"),
    pytest.param(lambda m: m.clear(), AttributeError, id="clear"),
    pytest.param(lambda m: m.setdefault("x", "y"), AttributeError, id="setdefault"),
]


@pytest.mark.parametrize("field", ["labels", "annotations"])
@pytest.mark.parametrize(("mutate", "error"), MUTATIONS)
def test_labels_and_annotations_cannot_be_changed_in_place(
    field: str, mutate: Callable[[Any], object], error: type[Exception]
) -> None:
    spec = InferenceWorkload.model_validate(workload(**{field: {"team": "ml"}}))
    before = spec.model_dump_json()
    with pytest.raises(error):
        mutate(getattr(spec, field))
    assert getattr(spec, field) == {"team": "ml"}
    assert spec.model_dump_json() == before


def test_frozen_maps_still_dump_and_describe_as_plain_objects() -> None:
    spec = InferenceWorkload.model_validate(
        workload(labels={"team": "ml"}, annotations={"example.com/owner": "ml"})
    )
    dumped = spec.model_dump()
    assert type(dumped["labels"]) is dict and dumped["labels"] == {"team": "ml"}
    assert type(dumped["annotations"]) is dict
    assert spec.model_dump(mode="json")["labels"] == {"team": "ml"}
    properties = InferenceWorkload.model_json_schema()["properties"]
    for field in ("labels", "annotations"):
        assert properties[field]["type"] == "object"
        assert properties[field]["additionalProperties"] == {"type": "string"}
    assert properties["node_pools"]["maxItems"] == MAX_NODE_POOLS


def test_frozen_maps_accept_any_mapping_and_keep_the_workload_hashable() -> None:
    labels = FrozenMap({"team": "ml"})
    one = InferenceWorkload.model_validate(workload(labels={"team": "ml"}))
    two = InferenceWorkload.model_validate(workload(labels=labels))
    assert one == two and hash(one) == hash(two)
    assert isinstance(one.labels, FrozenMap) and one.labels == labels
    # Airflow deep-copies operators (and so the workloads they hold); pickling must work.
    assert copy.deepcopy(one) == one
    assert pickle.loads(pickle.dumps(one)) == one
    assert dict(one.labels) == {"team": "ml"}


def test_workloads_compare_by_value() -> None:
    one = InferenceWorkload.model_validate(BASE)
    assert one == InferenceWorkload.model_validate({**BASE, "model": {"id": BASE["model"]}})
    assert one != InferenceWorkload.model_validate(workload(name="other"))


def test_round_trip_through_json_keeps_the_workload() -> None:
    data = workload(
        SCALE_TO_ZERO,
        tolerations=[{"key": "a", "operator": "Equal", "value": "b"}],
        auto_delete_after="1h",
        compute={"gpus": 2, "cpu": 8},
    )
    spec = InferenceWorkload.model_validate(data)
    again = InferenceWorkload.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.auto_delete_after == 3600 and again.min_replicas == 0
