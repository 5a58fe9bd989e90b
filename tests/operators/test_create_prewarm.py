"""cache.prewarm through dag.test(): the Job fills the cache before any replica starts.

The fake Job runner really runs the rendered Job's script (huggingface_hub against
a fake Hub, the claim a local directory), the simulated kubelet starts the replicas
only once the Deployment asks for them, and each replica does what vLLM 0.6.4 does
at start (with ``HF_HUB_OFFLINE=1``: read the cache, ask the Hub nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from airflow_fixtures import captured_log as logged
from airflow_fixtures import xcom_result as result_of
from fakekube import FakeKubeServer
from fakekube.jobs import ClaimVolumes, FakeJobRunner, vllm_download
from fakekube.schedule import PhaseSchedule, ScheduledKubelet
from preflight.fake_hub import LLAMA_8B_CONFIG, FakeHub, FakeRepo

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator, HFInferenceDeleteOperator

NS = "ml"
NAME = "llama3-8b-chat"
MODEL = "acme/tiny-llama"
SHA = "9" * 40
FILES = {
    "tokenizer.json": b'{"version": "1.0"}',
    "model.safetensors.index.json": b'{"weight_map": {}}',
    "model-00001-of-00002.safetensors": b"\x01" * 3000,
    "model-00002-of-00002.safetensors": b"\x02" * 2000,
    "original/consolidated.00.pth": b"\x03" * 9000,  # never downloaded
}
WEIGHT_BYTES = sum(len(v) for k, v in FILES.items() if not k.startswith("original/"))
QUICK = PhaseSchedule(scheduled=0, pulling=0, pulled=0.2, started=0.4, loading=0.8, ready=1.0)


def workload(**cache: Any) -> dict[str, Any]:
    return {
        "name": NAME,
        "model": {"id": MODEL, "revision": SHA},
        "compute": {"gpus": 1},
        "replicas": {"min": 2, "max": 2},
        "cache": {"type": "pvc", "claim_name": "hf-cache", **cache},
    }


@dataclass
class Cluster:
    fake: FakeKubeServer
    hub: FakeHub
    jobs: FakeJobRunner
    kubelet: ScheduledKubelet
    replica_hub_requests: list[int]
    replica_exit_codes: list[int]


def claim(fake: FakeKubeServer, modes: list[str], size: str = "1Gi") -> None:
    fake.put_object(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "hf-cache", "namespace": NS},
            "spec": {"accessModes": modes, "resources": {"requests": {"storage": size}}},
            "status": {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}},
        }
    )


@pytest.fixture
def cluster(fake_kube: FakeKubeServer) -> Iterator[Cluster]:
    fake_kube.create_namespace(NS)
    claim(fake_kube, ["ReadWriteMany"])
    repo = FakeRepo(MODEL, SHA, LLAMA_8B_CONFIG, None, files=dict(FILES))
    hub = FakeHub([repo]).start()
    volumes = ClaimVolumes()
    jobs = FakeJobRunner(fake_kube, NS, volumes, hub.url).start()
    counts: list[int] = []
    codes: list[int] = []

    def replica_starts(pod: dict[str, Any]) -> None:
        before = hub.count
        codes.append(vllm_download(fake_kube, NS, pod, volumes, hub.url))
        counts.append(hub.count - before)

    kubelet = ScheduledKubelet(fake_kube, NS, [QUICK], on_download=replica_starts)
    kubelet.start("scheduled")
    try:
        yield Cluster(fake_kube, hub, jobs, kubelet, counts, codes)
    finally:
        kubelet.stop()
        jobs.stop()
        hub.stop()


def create(conn_id: str, hub: FakeHub, **kwargs: Any) -> HFInferenceCreateOperator:
    params: dict[str, Any] = {
        "task_id": "deploy",
        "workload": workload(prewarm=True),
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "hf_endpoint": hub.url,
        "wait_for_ready": True,
        "poll_interval": 0.1,
        "timeout": 60,
    }
    params.update(kwargs)
    return HFInferenceCreateOperator(**params)


def test_prewarm_runs_the_job_before_scale_up_and_replicas_never_ask_the_hub(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    (seen,) = cluster.jobs.seen
    assert seen["deployment"]["spec"]["replicas"] == 0  # held until the cache is warm
    result = result_of(run)
    prewarm = result["prewarm"]
    assert prewarm["job"] == f"{NAME}-prewarm" and not prewarm["cache_was_complete"]
    assert prewarm["downloaded_bytes"] == WEIGHT_BYTES + len(json.dumps(LLAMA_8B_CONFIG))
    assert "downloading_weights" in prewarm["phases"]
    assert f"{NAME}: prewarm Job {NAME}-prewarm: model cache complete" in text
    # two replicas started from the warm cache: zero Hub requests, weights found
    assert cluster.replica_hub_requests == [0, 0]
    assert cluster.replica_exit_codes == [0, 0]
    assert result["cold_start"]["phase"] == "Serving"
    deployment = cluster.fake.get_object("apps/v1", "deployments", NS, NAME)
    assert deployment["spec"]["replicas"] == 2


def test_a_second_deploy_with_a_complete_cache_downloads_nothing(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create(fake_kube_conn_id, cluster.hub)).state == "success"
    delete = HFInferenceDeleteOperator
    run = run_task(
        lambda: delete(
            task_id="delete", name=NAME, namespace=NS, kubernetes_conn_id=fake_kube_conn_id
        )
    )
    assert run.state == "success"
    assert cluster.fake.get_object("batch/v1", "jobs", NS, f"{NAME}-prewarm") is None  # owned
    cluster.hub.reset()
    logged(capsys, caplog)
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub, preflight="off"))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    prewarm = result_of(run)["prewarm"]
    assert prewarm["cache_was_complete"]
    assert cluster.hub.count == 0  # neither the Job nor a replica asked the Hub
    assert len(cluster.jobs.seen) == 2


def test_a_retry_reuses_the_complete_job_instead_of_creating_another(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create(fake_kube_conn_id, cluster.hub)).state == "success"
    logged(capsys, caplog)
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub, if_exists="update"))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    assert f"reusing prewarm Job {NAME}-prewarm" in text
    assert len(cluster.jobs.seen) == 1
    assert len(cluster.fake.list_objects("batch/v1", "jobs", NS)) == 1


@pytest.mark.parametrize(
    ("modes", "size", "message"),
    [
        (["ReadWriteOnce"], "1Gi", r"has access modes \[ReadWriteOnce\] but up to 2 replicas"),
        (["ReadWriteMany"], "4Ki", r"holds 0.0Gi but the model's files need"),
    ],
    ids=["single-node-claim", "claim-too-small"],
)
def test_preflight_refuses_a_claim_the_replicas_cannot_share_or_the_model_overflows(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    modes: list[str],
    size: str,
    message: str,
) -> None:
    import re

    claim(cluster.fake, modes, size)
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub))
    text = logged(capsys, caplog)
    assert run.state == "failed"
    assert re.search(message, text), text[-3000:]
    assert cluster.fake.get_object("apps/v1", "deployments", NS, NAME) is None  # no GPU asked
    assert cluster.jobs.seen == []


def test_without_a_warm_cache_every_replica_downloads_the_whole_model(
    cluster: Cluster, fake_kube_conn_id: str, run_task: Any
) -> None:
    per_pod = {**workload(), "cache": {"type": "emptyDir"}}
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub, workload=per_pod))
    assert run.state == "success"
    assert cluster.jobs.seen == []
    first, second = cluster.replica_hub_requests
    downloads = [r for r in cluster.hub.requests if "/resolve/" in r.path and r.method == "GET"]
    # pre-flight's config.json, then every file the cache keeps, once per replica
    assert len(downloads) == 1 + 2 * 5
    assert first == second > 0


def test_a_failed_download_fails_the_deploy_with_the_phase_and_the_cause(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    gated = FakeRepo(MODEL, SHA, LLAMA_8B_CONFIG, None, files=dict(FILES), gated="manual")
    cluster.hub.repos[MODEL] = gated
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub, preflight="off", retries=0))
    text = logged(capsys, caplog)
    assert run.state == "failed"
    assert f"prewarm Job {NAME}-prewarm failed while downloading weights, after " in text
    assert "likely cause: the Hub refused the download (gated or private model)" in text
    assert len(cluster.jobs.seen) == 1  # one Job, its pods retried up to backoffLimit
    deployment = cluster.fake.get_object("apps/v1", "deployments", NS, NAME)
    assert deployment is None or deployment["spec"].get("replicas", 0) == 0  # never scaled up


SHA2 = "8" * 40


def update(conn_id: str, hub: FakeHub, spec: dict[str, Any], **kwargs: Any) -> Any:
    from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator

    params: dict[str, Any] = {
        "task_id": "roll",
        "workload": spec,
        "namespace": NS,
        "kubernetes_conn_id": conn_id,
        "hf_endpoint": hub.url,
        "poll_interval": 0.1,
        "timeout": 60,
    }
    params.update(kwargs)
    return HFInferenceUpdateOperator(**params)


def test_an_update_to_a_new_revision_warms_the_cache_before_the_rollout(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run_task(lambda: create(fake_kube_conn_id, cluster.hub)).state == "success"
    cluster.hub.repos[MODEL] = FakeRepo(MODEL, SHA2, LLAMA_8B_CONFIG, None, files=dict(FILES))
    cluster.replica_hub_requests.clear()
    logged(capsys, caplog)
    spec = {**workload(prewarm=True), "model": {"id": MODEL, "revision": SHA2}}
    run = run_task(lambda: update(fake_kube_conn_id, cluster.hub, spec))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    assert f"replacing prewarm Job {NAME}-prewarm (failed, or for another cache)" in text
    first, second = cluster.jobs.seen
    assert second["deployment"]["spec"]["replicas"] == 2  # the old replicas kept serving
    recorded = second["deployment"]["metadata"]["annotations"]["hfinfer.io/applied-spec"]
    assert SHA in recorded and SHA2 not in recorded  # the Job ran before the new spec went in
    prewarm = result_of(run, "roll")["prewarm"]
    assert prewarm["job"] == f"{NAME}-prewarm" and not prewarm["cache_was_complete"]
    # the new revision's replicas found it in the cache: no Hub request, weights found
    assert cluster.replica_hub_requests and set(cluster.replica_hub_requests) == {0}
    assert set(cluster.replica_exit_codes) == {0}


def test_an_update_keeps_the_startup_window_pre_flight_measured(
    cluster: Cluster, fake_kube_conn_id: str, run_task: Any
) -> None:
    from airflow_provider_hfinfer.render import RenderOptions
    from airflow_provider_hfinfer.render.deployment import startup_window_seconds
    from airflow_provider_hfinfer.spec import InferenceWorkload

    def window() -> int:
        deployment = cluster.fake.get_object("apps/v1", "deployments", NS, NAME)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        probe = container["startupProbe"]
        return int(probe["periodSeconds"]) * int(probe["failureThreshold"])

    per_pod = {**workload(), "cache": {"type": "emptyDir"}}
    assert run_task(lambda: create(fake_kube_conn_id, cluster.hub, workload=per_pod)).state == (
        "success"
    )
    measured = window()
    default = startup_window_seconds(InferenceWorkload.parse(per_pod), RenderOptions())
    assert abs(measured - default) > 60  # 8B weights: download and load take longer
    relabelled = {**per_pod, "labels": {"team": "search"}}
    run = run_task(lambda: update(fake_kube_conn_id, cluster.hub, relabelled))
    assert run.state == "success"
    assert window() == pytest.approx(measured, abs=20)


def test_a_dry_run_shows_the_prewarm_job_it_would_run(
    cluster: Cluster,
    fake_kube_conn_id: str,
    run_task: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = run_task(lambda: create(fake_kube_conn_id, cluster.hub, dry_run=True))
    text = logged(capsys, caplog)
    assert run.state == "success", text[-3000:]
    job = result_of(run)["prewarm_job"]
    assert job["kind"] == "Job" and job["metadata"]["name"] == f"{NAME}-prewarm"
    assert job["metadata"]["ownerReferences"][0]["name"] == NAME
    assert f"dry run: the real run first runs prewarm Job {NAME}-prewarm" in text
    assert cluster.jobs.seen == []
    assert cluster.fake.get_object("batch/v1", "jobs", NS, f"{NAME}-prewarm") is None
