"""Seeding the fake cluster with inference workloads in every state the page shows.

Each workload is rendered by the provider's own renderer (so it carries the
labels, owner and spec record a real deploy leaves) and rolled out by the fake
kubelet into one outcome; some then get a finished mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fakekube.kubelet import FakeKubelet
from fakekube.server import FakeKubeServer

from airflow_provider_hfinfer.deploy.marks import mark_annotations
from airflow_provider_hfinfer.render import RenderContext, render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload

NS = "team-a"
DENIED_NS = "team-b"
LOG_TOKEN = "hf_LeakedTokenInTheLog0123456789"
SECRET_TOKEN = "hf_SeededSecretTokenValue98765"


@dataclass(frozen=True)
class Seeded:
    """One seeded workload and the phase and reason the page must show for it."""

    name: str
    outcome: str | None
    phase: str
    reason: str
    dag_id: str = "deploy_chat"
    mark: str | None = None
    scale_to_zero: bool = False


WORKLOADS = (
    Seeded("chat-serving", "ready", "Serving", "Available"),
    Seeded("chat-loading", "loading", "Starting", "ModelLoading"),
    Seeded("chat-unschedulable", "unschedulable", "Pending", "Unschedulable"),
    Seeded("chat-image", "image_pull", "Starting", "ImagePullBackOff"),
    Seeded("chat-crash", "crash", "Failed", "CrashLoopBackOff", dag_id="nightly_eval"),
    Seeded("chat-oom", "oom", "Failed", "OOMKilled", dag_id="nightly_eval"),
    Seeded("chat-quota", "quota", "Pending", "QuotaExceeded"),
    Seeded("chat-zero", "ready", "Scaled to zero", "ScaledToZero", scale_to_zero=True),
    Seeded("chat-done", "ready", "Completed", "Available", mark="Completed"),
)


def spec(
    name: str,
    *,
    scale_to_zero: bool = False,
    ttl: int = 3600,
    revision: str = "main",
    token: str | None = None,
) -> InferenceWorkload:
    """A small workload: 2 GPUs, 1..3 replicas on concurrency (or scale to zero)."""
    data: dict[str, Any] = {
        "name": name,
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": revision},
        "compute": {"gpus": 2, "cpu": "4", "memory": "32Gi"},
        "replicas": {"min": 1, "max": 3},
        "autoscaling": {"metric": "concurrency", "threshold": 8},
        "auto_delete_after": ttl,
    }
    if scale_to_zero:
        data["scale_to_zero"] = {"idle_seconds": 600}
    if token:
        data["hf_access"] = {"type": "token", "token": token}
    return InferenceWorkload.model_validate(data)


def deploy(
    server: FakeKubeServer,
    kubelet: FakeKubelet,
    item: Seeded,
    namespace: str = NS,
    *,
    now: datetime | None = None,
) -> None:
    """Put one workload's manifests on the fake cluster and roll it out into its outcome."""
    serving = item.name == "chat-serving"  # with a token Secret and a rollback target
    workload = spec(
        item.name, scale_to_zero=item.scale_to_zero, token=SECRET_TOKEN if serving else None
    )
    owner = f"{item.dag_id}/deploy/manual__2026-12-01T10:00:00+00:00"
    previous = spec(item.name, revision="r0") if serving else None
    context = RenderContext(owner=owner, record_spec=True, previous=previous)
    for manifest in render_manifests(workload, namespace=namespace, context=context):
        server.put_object(manifest)
    if item.outcome is None:
        return
    if item.scale_to_zero:
        kubelet.rollout(item.name, outcome="ready")
        kubelet.scale_to_zero(item.name)
    else:
        kubelet.rollout(item.name, outcome=item.outcome)
    if item.outcome in ("crash", "oom"):
        for pod in server.list_objects("v1", "pods", namespace):
            if pod["metadata"]["name"].startswith(f"{item.name}-"):
                server.set_pod_log(
                    namespace,
                    pod["metadata"]["name"],
                    f"loading weights\nHF_TOKEN={LOG_TOKEN}\nauth with {LOG_TOKEN} failed\n"
                    "ValueError: max seq len larger than KV cache\n",
                )
    if item.mark:
        moment = now or datetime.now(timezone.utc)
        patch = {"metadata": {"annotations": mark_annotations(item.mark, moment)}}
        server.update("apps/v1", "deployments", namespace, item.name, patch)
        server.update("v1", "services", namespace, item.name, patch)


def seed_all(server: FakeKubeServer) -> FakeKubelet:
    """Every workload of :data:`WORKLOADS` in :data:`NS`, plus a foreign Deployment."""
    server.create_namespace(NS)
    server.create_namespace(DENIED_NS)
    kubelet = FakeKubelet(server, NS)
    for item in WORKLOADS:
        deploy(server, kubelet, item)
    server.put_object(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "not-ours", "namespace": NS, "labels": {"app": "other"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": []}}},
        }
    )
    return kubelet
