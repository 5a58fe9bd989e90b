"""The prewarm Job and what cache.prewarm changes in the Deployment; start-time details."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.render import RenderContext, render_manifests
from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.deployment import image_pull_policy, startup_window_seconds
from airflow_provider_hfinfer.render.prewarm import (
    SCRIPT,
    cache_files,
    job_name,
    render_prewarm_job,
)
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import PREWARM_LABEL, WORKLOAD_LABEL

from .builders import NAMESPACE, TOKEN, one, options, workload
from .schemas import K8S_VERSION, metadata_problems

REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"
PREWARMED: dict[str, Any] = {
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": REVISION},
    "cache": {"type": "pvc", "claim_name": "hf-cache", "prewarm": True},
    "hf_access": {"type": "token", "token": TOKEN},
    "replicas": {"min": 2, "max": 4},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
}
OWNER = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llama3-8b-chat", "uid": "u-1"}


def prewarmed() -> InferenceWorkload:
    return workload(**PREWARMED)


def job() -> dict[str, Any]:
    return render_prewarm_job(prewarmed(), NAMESPACE, options(), Stamp("d" * 12), OWNER)


def test_the_job_validates_strictly_against_the_kubernetes_schema() -> None:
    manifest = job()
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert metadata_problems(manifest) == []


def test_the_job_downloads_with_the_same_image_and_token_into_the_claim() -> None:
    manifest = job()
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    deployment = one(
        render_manifests(prewarmed(), namespace=NAMESPACE, options=options()), "Deployment"
    )
    vllm = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == vllm["image"] == "vllm/vllm-openai:v0.6.4"
    assert container["command"] == ["python3", "-c", SCRIPT]
    env = {item["name"]: item for item in container["env"]}
    assert env["HF_TOKEN"] == next(item for item in vllm["env"] if item["name"] == "HF_TOKEN")
    assert env["HF_HOME"]["value"] == "/models/huggingface"
    assert env["HFINFER_REVISION"]["value"] == REVISION
    assert pod["volumes"] == [
        {"name": "model-cache", "persistentVolumeClaim": {"claimName": "hf-cache"}}
    ]
    assert pod["restartPolicy"] == "Never" and "nvidia.com/gpu" not in str(container)
    assert TOKEN not in str(manifest)


def test_the_job_is_owned_by_the_deployment_and_its_pods_take_no_traffic() -> None:
    manifest = job()
    assert manifest["metadata"]["name"] == job_name(prewarmed()) == "llama3-8b-chat-prewarm"
    (ref,) = manifest["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("Deployment", "llama3-8b-chat", "u-1")
    labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert WORKLOAD_LABEL not in labels  # the Service selects by it
    assert labels[PREWARM_LABEL] == "llama3-8b-chat"


def test_prewarmed_replicas_start_offline_from_a_read_only_cache() -> None:
    deployment = one(
        render_manifests(prewarmed(), namespace=NAMESPACE, options=options()), "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    vllm = pod["containers"][0]
    env = {item["name"]: item.get("value") for item in vllm["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert {"name": "model-cache", "mountPath": "/models", "readOnly": True} in vllm["volumeMounts"]
    claim = next(v for v in pod["volumes"] if v["name"] == "model-cache")
    assert claim["persistentVolumeClaim"] == {"claimName": "hf-cache", "readOnly": True}
    assert "--download-dir" not in vllm["args"] and "--load-format" not in vllm["args"]
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_a_pvc_cache_without_prewarm_stays_writable_and_online() -> None:
    deployment = one(
        render_manifests(
            workload(cache={"type": "pvc", "claim_name": "hf-cache"}),
            namespace=NAMESPACE,
            options=options(),
        ),
        "Deployment",
    )
    vllm = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "HF_HUB_OFFLINE" not in str(vllm["env"])
    assert {"name": "model-cache", "mountPath": "/models"} in vllm["volumeMounts"]


def test_held_render_has_zero_replicas_and_no_autoscaler() -> None:
    held = render_manifests(
        prewarmed(), namespace=NAMESPACE, options=options(), context=RenderContext(hold=True)
    )
    assert one(held, "Deployment")["spec"]["replicas"] == 0
    assert "ScaledObject" not in {item["kind"] for item in held}
    full = render_manifests(prewarmed(), namespace=NAMESPACE, options=options())
    assert "replicas" not in one(full, "Deployment")["spec"]  # the scaler owns it
    assert "ScaledObject" in {item["kind"] for item in full}


@pytest.mark.parametrize(
    ("cache", "model", "match"),
    [
        ({"prewarm": True}, None, r"cache.prewarm needs cache.type 'pvc'"),
        (
            {"type": "pvc", "claim_name": "hf-cache", "prewarm": True},
            {"id": "meta-llama/Llama-3.1-8B-Instruct"},
            r"cache.prewarm needs model.revision",
        ),
    ],
)
def test_prewarm_is_refused_where_it_cannot_work(
    cache: dict[str, Any], model: dict[str, Any] | None, match: str
) -> None:
    fields: dict[str, Any] = {"cache": cache}
    if model is not None:
        fields["model"] = model
    with pytest.raises((ValidationError, ValueError), match=match):
        workload(**fields)


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("vllm/vllm-openai:v0.6.4", "IfNotPresent"),
        ("registry.local:5000/vllm/vllm-openai:v0.6.4", "IfNotPresent"),
        ("vllm/vllm-openai@sha256:" + "a" * 64, "IfNotPresent"),
        ("vllm/vllm-openai:latest", "Always"),
        ("registry.local:5000/vllm/vllm-openai", "Always"),
    ],
)
def test_pinned_images_are_not_pulled_again(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_the_startup_window_follows_the_model_size_and_the_warm_cache() -> None:
    cold, warm, opts = workload(), prewarmed(), options()
    eight_b = 16_060_522_496  # Llama-3.1-8B in BF16
    assert startup_window_seconds(cold, opts) == 900  # size unknown: by GPU count
    # 1.5 x (300 s engine + 160 s load + 401 s download), whole minutes
    assert startup_window_seconds(cold, opts, eight_b) == 1320
    assert startup_window_seconds(warm, opts, eight_b) == 720  # nothing to download
    assert startup_window_seconds(cold, opts, 141_000_000_000) == 7200  # capped at 2 h
    assert startup_window_seconds(cold, options(startup_timeout_seconds=600), eight_b) == 600
    probe = one(
        render_manifests(
            cold, namespace=NAMESPACE, options=opts, context=RenderContext(model_bytes=eight_b)
        ),
        "Deployment",
    )["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] == 1320


def test_the_cache_holds_one_weight_format() -> None:
    listing = [
        ("config.json", 900),
        ("model-00001-of-00002.safetensors", 5_000),
        ("model-00002-of-00002.safetensors", 3_000),
        ("model.safetensors.index.json", 100),
        ("pytorch_model.bin", 8_000),
        ("original/consolidated.00.pth", 16_000),
        ("tokenizer.json", 2_000),
    ]
    kept = dict(cache_files(listing))
    assert sum(kept.values()) == 11_000
    assert "pytorch_model.bin" not in kept and "original/consolidated.00.pth" not in kept
    bin_only = dict(cache_files([("config.json", 1), ("pytorch_model.bin", 10)]))
    assert bin_only == {"config.json": 1, "pytorch_model.bin": 10}
