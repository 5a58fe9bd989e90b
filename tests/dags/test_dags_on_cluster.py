"""Every example DAG, run with ``dag.test()`` against the fake cluster as a user would run it.

The DAG files are parsed with ``HFINFER_KUBE_CONN`` pointing at the fake API
server, so nothing is a dry run: workloads are applied, rolled out by the
fake kubelet, followed by the deferrable sensor (its trigger runs inline),
asked through the API server's service proxy, marked, and deleted.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import NS, Cluster, load_dag, task_states, xcom

from airflow_provider_hfinfer.deploy.marks import format_rfc3339
from airflow_provider_hfinfer.render import render_manifests
from airflow_provider_hfinfer.render.metadata import TTL_ANNOTATION
from airflow_provider_hfinfer.spec import InferenceWorkload
from airflow_provider_hfinfer.spec.names import FINISHED_AT_ANNOTATION, PHASE_ANNOTATION


def test_post_training_dag_deploys_waits_smoke_tests_and_marks_complete(
    cluster: Cluster, airflow_db: None
) -> None:
    run = load_dag("hfinfer_post_training_deploy.py").test()

    assert run.state == "success", task_states(run)
    states = task_states(run)
    assert states["mark_failed"] == "skipped"
    assert {k: v for k, v in states.items() if k != "mark_failed"} == dict.fromkeys(
        ["train", "deploy", "wait_ready", "smoke_test", "complete", "report"], "success"
    )
    # The model and revision came from the training task; the Hub was asked with the
    # token from the cluster's Secret.
    deployment = cluster.kube.get_object("apps/v1", "deployments", NS, "llama3-8b-chat")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert cluster.hub.count >= 1
    ready = xcom(run, "wait_ready")
    assert ready["phase"] == "Ready" and "serving llama3-8b-chat" in ready["endpoint"]
    [smoke] = cluster.models["llama3-8b-chat"].generation_requests()
    assert smoke["model"] == "llama3-8b-chat" and smoke["max_tokens"] == 16
    assert xcom(run, "smoke_test")["completions"][0]["text"].endswith("ready.")
    # Completed, with the 30 minutes of auto-deletion counting from now.
    objects = cluster.workload_objects("llama3-8b-chat")
    assert {obj["kind"] for obj in objects} >= {"Deployment", "Service", "ScaledObject"}
    for obj in objects:
        annotations = obj["metadata"]["annotations"]
        assert annotations[PHASE_ANNOTATION] == "Completed"
        assert annotations[TTL_ANNOTATION] == "1800"
    assert xcom(run, "complete")["expires_at"]


def test_post_training_dag_run_again_replaces_the_workload_and_marks_only_its_own(
    cluster: Cluster, airflow_db: None
) -> None:
    dag = load_dag("hfinfer_post_training_deploy.py")
    first = dag.test()
    assert first.state == "success", task_states(first)
    second = dag.test(logical_date=datetime.now(timezone.utc) + timedelta(hours=1))
    assert second.state == "success", task_states(second)
    objects = cluster.workload_objects("llama3-8b-chat")
    owners = {obj["metadata"]["annotations"]["hfinfer.io/owner"] for obj in objects}
    assert owners == {xcom(second, "deploy")["owner"]}
    assert all(obj["metadata"]["annotations"][PHASE_ANNOTATION] == "Completed" for obj in objects)


def test_post_training_dag_marks_a_crashing_model_failed(
    cluster: Cluster, airflow_db: None
) -> None:
    cluster.kubelet.stop()
    cluster.kubelet.start("crash", delay=0.05)

    run = load_dag("hfinfer_post_training_deploy.py").test()

    assert run.state == "failed"
    states = task_states(run)
    assert states["wait_ready"] == "failed"
    assert states["smoke_test"] == "upstream_failed" and states["complete"] == "upstream_failed"
    assert states["mark_failed"] == "success"
    assert cluster.models["llama3-8b-chat"].generation_requests() == []
    for obj in cluster.workload_objects("llama3-8b-chat"):
        assert obj["metadata"]["annotations"][PHASE_ANNOTATION] == "Failed"


def _prompts_file(tmp_path: Path, count: int, long_one: int | None = None) -> Path:
    lines = [f"question {i}: what is {i} + {i}?" for i in range(count)]
    if long_one is not None:
        lines[long_one] = "x " * 5000
    target = tmp_path / "prompts.txt"
    target.write_text("\n".join(lines) + "\n")
    return target


def test_batch_dag_answers_every_prompt_in_order_then_tears_down(
    cluster: Cluster, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFINFER_PROMPTS_FILE", str(_prompts_file(cluster.out, 70)))

    run = load_dag("hfinfer_batch_inference.py").test()

    assert run.state == "success", task_states(run)
    states = task_states(run)
    # 70 prompts in chunks of 32: three mapped tasks.
    assert [states[f"infer[{i}]"] for i in range(3)] == ["success"] * 3
    assert states["teardown"] == "success"
    lines = (cluster.out / "batch-results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["index"] for r in records] == list(range(70))
    assert all(r["text"] == f"echo: {r['prompt']}" for r in records)
    # Prompts went 8 per request (batch_size), not one request per prompt.
    bodies = cluster.models["qwen-batch"].generation_requests()
    # 70 prompts: chunks of 32, 32 and 6, sent 8 per request (batch_size).
    assert sorted(len(body["prompt"]) for body in bodies) == [6] + [8] * 8
    assert xcom(run, "collect")["prompts"] == 70
    # The teardown deleted every object of the workload.
    assert cluster.workload_objects("qwen-batch") == []


def test_batch_dag_tears_down_when_the_batch_fails(
    cluster: Cluster, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFINFER_PROMPTS_FILE", str(_prompts_file(cluster.out, 40, long_one=35)))

    run = load_dag("hfinfer_batch_inference.py").test()

    assert run.state == "failed"
    states = task_states(run)
    assert states["infer[0]"] == "success" and states["infer[1]"] == "failed"
    assert states["collect"] == "upstream_failed"
    assert states["teardown"] == "success"
    assert cluster.workload_objects("qwen-batch") == []


def test_rollout_dag_applies_the_newest_revision_and_is_a_no_op_the_second_time(
    cluster: Cluster, airflow_db: None
) -> None:
    dag = load_dag("hfinfer_scheduled_rollout.py")
    first = dag.test()
    assert first.state == "success", task_states(first)
    deployment = cluster.kube.get_object("apps/v1", "deployments", NS, "llama3-8b-nightly")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--revision") + 1] == "main"

    writes_before = cluster.kube.requests.count(verb="apply") + cluster.kube.requests.count(
        verb="patch"
    )
    second = dag.test(logical_date=datetime.now(timezone.utc) + timedelta(days=1))
    assert second.state == "success", task_states(second)
    writes_after = cluster.kube.requests.count(verb="apply") + cluster.kube.requests.count(
        verb="patch"
    )
    assert writes_after == writes_before  # unchanged revision: not a single write


def _put_marked_workload(cluster: Cluster, name: str, finished_ago: timedelta | None) -> None:
    workload = InferenceWorkload.model_validate(
        {"name": name, "model": "Qwen/Qwen2.5-7B-Instruct", "auto_delete_after": "30m"}
    )
    for manifest in render_manifests(workload, namespace=NS):
        if finished_ago is not None:
            manifest["metadata"]["annotations"].update(
                {
                    PHASE_ANNOTATION: "Completed",
                    FINISHED_AT_ANNOTATION: format_rfc3339(
                        datetime.now(timezone.utc) - finished_ago
                    ),
                }
            )
        cluster.kube.put_object(manifest)


def test_ttl_cleanup_dag_deletes_only_expired_workloads(cluster: Cluster, airflow_db: None) -> None:
    # HFINFER_CLEANUP_NAMESPACES unset: the DAG cleans up HFINFER_NAMESPACE only, so the
    # namespaced Role of deploy/rbac.yaml is enough.
    _put_marked_workload(cluster, "expired", timedelta(hours=2))
    _put_marked_workload(cluster, "recent", timedelta(minutes=5))
    _put_marked_workload(cluster, "running", None)

    run = load_dag("hfinfer_ttl_cleanup.py").test()

    assert run.state == "success", task_states(run)
    assert cluster.workload_objects("expired") == []
    assert cluster.workload_objects("recent") != []
    assert cluster.workload_objects("running") != []
    assert any("expired" in ref for ref in xcom(run, "cleanup"))
    lists = cluster.kube.requests.filter(verb="list")
    assert lists and all(f"/namespaces/{NS}/" in record.path for record in lists)
