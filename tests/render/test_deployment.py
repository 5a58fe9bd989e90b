"""The vLLM Deployment: arguments, resources, token, cache, probes, replicas, strategy."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .builders import (
    AUTOSCALED,
    TOKEN,
    container,
    env,
    flag,
    mounts,
    one,
    options,
    pod_spec,
    render,
    volumes,
)

HEALTH = "/health"


def _args(**fields: object) -> list[str]:
    args: list[str] = container(render(**fields))["args"]
    return args


# --- model -> vLLM arguments ---------------------------------------------------------------------


def test_model_id_revision_and_served_name_become_vllm_flags() -> None:
    args = _args(
        model={"id": "Qwen/Qwen2.5-7B-Instruct", "revision": "v1.1", "served_name": "qwen-chat"}
    )
    assert flag(args, "--model") == "Qwen/Qwen2.5-7B-Instruct"
    assert flag(args, "--revision") == "v1.1"
    assert flag(args, "--served-model-name") == "qwen-chat"


def test_served_name_defaults_to_model_id_and_revision_is_left_to_vllm() -> None:
    args = _args(model="Qwen/Qwen2.5-7B-Instruct")
    assert flag(args, "--served-model-name") == "Qwen/Qwen2.5-7B-Instruct"
    assert "--revision" not in args


def test_vllm_listens_on_all_interfaces_on_the_container_port() -> None:
    manifests = render()
    args = container(manifests)["args"]
    port = container(manifests)["ports"][0]
    assert flag(args, "--host") == "0.0.0.0"
    assert flag(args, "--port") == str(port["containerPort"]) == "8000"
    assert port["name"] == "http"


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_tensor_parallel_size_equals_gpus(gpus: int) -> None:
    assert flag(_args(compute={"gpus": gpus}), "--tensor-parallel-size") == str(gpus)


def test_vllm_options_become_flags_and_extra_args_are_appended_last() -> None:
    args = _args(
        vllm={
            "max_model_len": 8192,
            "dtype": "bfloat16",
            "gpu_memory_utilization": 0.92,
            "task": "generate",
            "extra_args": ["--enable-prefix-caching", "--max-num-seqs=64"],
        }
    )
    assert flag(args, "--max-model-len") == "8192"
    assert flag(args, "--dtype") == "bfloat16"
    assert float(flag(args, "--gpu-memory-utilization") or "nan") == pytest.approx(0.92)
    assert flag(args, "--task") == "generate"
    assert args[-2:] == ["--enable-prefix-caching", "--max-num-seqs=64"]


@pytest.mark.parametrize(("share", "text"), [(0.9, "0.9"), (0.9234567, "0.9234567"), (1, "1")])
def test_gpu_memory_utilization_is_passed_without_rounding(share: float, text: str) -> None:
    assert flag(_args(vllm={"gpu_memory_utilization": share}), "--gpu-memory-utilization") == text


def test_defaults_leave_out_optional_flags() -> None:
    args = _args()
    assert "--max-model-len" not in args
    assert "--task" not in args
    assert "--disable-log-stats" not in args


def test_image_defaults_to_the_cluster_default_and_can_be_overridden() -> None:
    assert container(render())["image"] == "vllm/vllm-openai:v0.6.4"
    custom = render(opts=options(default_image="registry.local/vllm:v0.6.4"))
    assert container(custom)["image"] == "registry.local/vllm:v0.6.4"
    pinned = render(vllm={"image": "vllm/vllm-openai:v0.6.4-cu121"})
    assert container(pinned)["image"] == "vllm/vllm-openai:v0.6.4-cu121"


# --- compute resources ---------------------------------------------------------------------------


@pytest.mark.parametrize("gpus", [1, 4])
def test_gpus_are_requested_and_limited(gpus: int) -> None:
    resources = container(render(compute={"gpus": gpus}))["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == str(gpus)
    assert resources["limits"]["nvidia.com/gpu"] == str(gpus)


def test_gpu_resource_name_comes_from_options() -> None:
    resources = container(render(opts=options(gpu_resource_name="amd.com/gpu")))["resources"]
    assert resources["requests"] == {"amd.com/gpu": "1"}
    assert resources["limits"] == {"amd.com/gpu": "1"}


def test_cpu_and_memory_requests_and_limits() -> None:
    compute = {"cpu": "8", "cpu_limit": "16", "memory": "64Gi", "memory_limit": "96Gi"}
    resources = container(render(compute=compute))["resources"]
    assert resources["requests"]["cpu"] == "8"
    assert resources["requests"]["memory"] == "64Gi"
    assert resources["limits"]["cpu"] == "16"
    assert resources["limits"]["memory"] == "96Gi"


def test_unset_cpu_and_memory_are_not_invented() -> None:
    resources = container(render(compute={"cpu": "4"}))["resources"]
    assert resources["requests"] == {"nvidia.com/gpu": "1", "cpu": "4"}
    assert resources["limits"] == {"nvidia.com/gpu": "1"}


@pytest.mark.parametrize(("gpus", "size"), [(1, "8Gi"), (2, "16Gi"), (8, "64Gi")])
def test_dev_shm_is_a_memory_volume_sized_per_gpu(gpus: int, size: str) -> None:
    manifests = render(compute={"gpus": gpus})
    shm = volumes(manifests)[mounts(manifests)["/dev/shm"]]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": size}


def test_dev_shm_size_per_gpu_comes_from_options() -> None:
    manifests = render(compute={"gpus": 3}, opts=options(shm_size_per_gpu="2Gi"))
    shm = volumes(manifests)[mounts(manifests)["/dev/shm"]]
    assert shm["emptyDir"]["sizeLimit"] == "6Gi"


# --- Hugging Face token --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "secret", "key"),
    [
        (
            {"type": "existing_secret", "secret_name": "hf-credentials"},
            "hf-credentials",
            "HF_TOKEN",
        ),
        (
            {"type": "existing_secret", "secret_name": "team-secrets", "key": "hf.token"},
            "team-secrets",
            "hf.token",
        ),
        ({"type": "token", "token": TOKEN}, "llama3-8b-chat-hf-token", "HF_TOKEN"),
        (
            {"type": "new_secret", "secret_name": "my-hf", "key": "token", "value": TOKEN},
            "my-hf",
            "token",
        ),
    ],
    ids=["existing", "existing-custom-key", "inline-token", "new-secret"],
)
def test_hf_token_comes_from_a_secret_key_ref(
    access: dict[str, str], secret: str, key: str
) -> None:
    manifests = render(hf_access=access)
    token_env = env(manifests)["HF_TOKEN"]
    assert "value" not in token_env
    assert token_env["valueFrom"] == {"secretKeyRef": {"name": secret, "key": key}}


def test_public_model_gets_no_token_env() -> None:
    assert "HF_TOKEN" not in env(render())


@pytest.mark.parametrize("kind", ["token", "new_secret"])
def test_token_value_is_nowhere_in_the_deployment(kind: str) -> None:
    access = (
        {"type": "token", "token": TOKEN}
        if kind == "token"
        else {"type": "new_secret", "secret_name": "my-hf", "value": TOKEN}
    )
    deployment = repr(one(render(hf_access=access), "Deployment"))
    assert TOKEN not in deployment
    assert base64.b64encode(TOKEN.encode()).decode() not in deployment


# --- model cache ---------------------------------------------------------------------------------


def _hf_home_volume(manifests: list[dict[str, object]]) -> dict[str, object]:
    hf_home = env(manifests)["HF_HOME"]["value"]
    # The volume mounted at the longest mount path that contains HF_HOME holds it.
    owners = [path for path in mounts(manifests) if hf_home.startswith(path.rstrip("/") + "/")]
    assert owners, f"HF_HOME {hf_home} is not on any mounted volume"
    return volumes(manifests)[mounts(manifests)[max(owners, key=len)]]


def test_hf_home_is_on_an_empty_dir_cache_with_size_limit() -> None:
    volume = _hf_home_volume(render(cache={"size_limit": "200Gi"}))
    assert volume["emptyDir"] == {"sizeLimit": "200Gi"}


def test_hf_home_is_on_the_shared_pvc() -> None:
    volume = _hf_home_volume(render(cache={"type": "pvc", "claim_name": "hf-model-cache"}))
    assert volume["persistentVolumeClaim"] == {"claimName": "hf-model-cache"}
    assert "emptyDir" not in volume


def test_hf_home_is_not_in_memory() -> None:
    volume = _hf_home_volume(render())
    assert volume.get("emptyDir", {}).get("medium") != "Memory"


# --- probes --------------------------------------------------------------------------------------


def _window(probe: dict[str, int]) -> int:
    return probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]


def test_every_probe_calls_health_on_the_vllm_port() -> None:
    vllm = container(render())
    named_ports = {port["name"]: port["containerPort"] for port in vllm["ports"]}
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = vllm[probe_name]["httpGet"]
        assert http["path"] == HEALTH
        assert named_ports.get(http["port"], http["port"]) == 8000


def test_no_probe_uses_the_api_key_guarded_models_route() -> None:
    # --api-key itself is refused by the spec (a key in the args would be plaintext), but
    # a custom image may still guard /v1: the probes must not depend on that route.
    deployment = one(render(), "Deployment")
    assert "/v1/models" not in repr(deployment)


@pytest.mark.parametrize("gpus", [1, 2, 4, 8, 16])
def test_startup_window_is_between_10_and_30_minutes(gpus: int) -> None:
    window = _window(container(render(compute={"gpus": gpus}))["startupProbe"])
    assert 600 <= window <= 1800


def test_startup_window_grows_with_the_gpu_count() -> None:
    windows = [
        _window(container(render(compute={"gpus": gpus}))["startupProbe"]) for gpus in (1, 2, 4, 8)
    ]
    assert windows == sorted(windows)
    assert windows[0] < windows[-1]


def test_startup_timeout_option_overrides_the_window() -> None:
    probe = container(render(opts=options(startup_timeout_seconds=2400)))["startupProbe"]
    assert 2400 <= _window(probe) < 2400 + probe["periodSeconds"]


def test_readiness_and_liveness_react_quickly_after_start() -> None:
    vllm = container(render())
    assert _window(vllm["readinessProbe"]) <= 60
    assert _window(vllm["livenessProbe"]) <= 120


def test_progress_deadline_outlasts_the_startup_window() -> None:
    manifests = render(compute={"gpus": 4})
    deadline = one(manifests, "Deployment")["spec"]["progressDeadlineSeconds"]
    assert deadline > _window(container(manifests)["startupProbe"])


# --- replicas and rollout ------------------------------------------------------------------------


def test_fixed_replicas_are_set_on_the_deployment() -> None:
    spec = one(render(replicas={"min": 3, "max": 3}), "Deployment")["spec"]
    assert spec["replicas"] == 3


@pytest.mark.parametrize(
    "fields",
    [
        AUTOSCALED,
        {
            "replicas": {"max": 2},
            "autoscaling": {"metric": "concurrency", "threshold": 4},
            "scale_to_zero": {"idle_seconds": 600},
        },
    ],
    ids=["scaled-object", "scale-to-zero"],
)
def test_replicas_are_left_to_the_scaler(fields: dict[str, object]) -> None:
    assert "replicas" not in one(render(**fields), "Deployment")["spec"]


def test_rolling_update_never_drops_a_serving_replica() -> None:
    strategy = one(render(), "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] in (1, "1", "100%")


def test_recreate_strategy_has_no_rolling_parameters() -> None:
    strategy = one(render(update_strategy="Recreate"), "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "Recreate"}


def test_selector_matches_the_pod_template_labels() -> None:
    spec = one(render(), "Deployment")["spec"]
    selector = spec["selector"]["matchLabels"]
    assert selector
    assert selector.items() <= spec["template"]["metadata"]["labels"].items()


def test_pods_get_no_service_links_so_a_service_named_vllm_cannot_break_vllm() -> None:
    # Kubernetes injects <SERVICE>_PORT env vars; VLLM_PORT would be read by vLLM itself.
    pod = pod_spec(render(name="vllm"))
    assert pod["enableServiceLinks"] is False


def _pod_annotations(**fields: Any) -> dict[str, str]:
    annotations: dict[str, str] = one(render(**fields), "Deployment")["spec"]["template"][
        "metadata"
    ]["annotations"]
    return annotations


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        pytest.param(
            {"prometheus.io/scrape": "false"},
            {"prometheus.io/scrape": "false", "prometheus.io/port": "8000"},
            id="scrape-off-wins",
        ),
        pytest.param(
            {"prometheus.io/scheme": "http", "prometheus.io/port": "8000"},
            {"prometheus.io/scrape": "true", "prometheus.io/scheme": "http"},
            id="own-keys-kept-rest-filled-in",
        ),
    ],
)
def test_the_users_prometheus_annotations_win_over_the_scrape_defaults(
    user: dict[str, str], expected: dict[str, str]
) -> None:
    annotations = _pod_annotations(annotations=user)
    assert expected.items() <= annotations.items()
    assert annotations["prometheus.io/path"] == "/metrics"


def test_with_scrape_annotations_off_only_the_users_prometheus_annotations_remain() -> None:
    off = options(prometheus_scrape_annotations=False)
    pod = one(render(annotations={"prometheus.io/scrape": "true"}, opts=off), "Deployment")
    annotations = pod["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true"}


def test_metrics_are_scrapable_from_the_pods() -> None:
    annotations = one(render(), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8000"
    assert annotations["prometheus.io/path"] == "/metrics"
    off = render(opts=options(prometheus_scrape_annotations=False))
    pod_annotations = one(off, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in pod_annotations
