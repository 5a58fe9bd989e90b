"""Post-training deployment: train -> deploy -> wait until it serves -> smoke request -> complete.

``train`` stands in for your training job: it returns the model id and the
revision it pushed to the Hub. ``deploy`` renders and applies the workload
(pre-flight checks first: architecture supported by vLLM 0.6.4, access to the
repository, GPU memory). ``wait_ready`` follows the rollout in the triggerer
(deferrable: no worker slot while the model loads) and fails fast with the
cause (CrashLoopBackOff, OOMKilled, Unschedulable...). ``smoke_test`` sends one
prompt through the Kubernetes API server's service proxy and checks the
answer. ``complete`` marks the workload Completed so its ``auto_delete_after``
(30 minutes here) starts; the ``hfinfer_ttl_cleanup`` DAG deletes it then. If
the wait or the smoke test fails, ``mark_failed`` marks it Failed instead, so
a broken model is cleaned up the same way.

Without a cluster (``HFINFER_KUBE_CONN`` unset) every step is a dry run: the
deploy step validates and renders the workload, logs the plan and returns the
manifests with secrets redacted; ``report`` writes them to ``out/``. Set
``HFINFER_KUBE_CONN`` to the id of an Airflow Kubernetes connection (and
``HFINFER_NAMESPACE`` to your project's namespace) to deploy for real; the
cluster needs a Secret ``hf-credentials`` holding ``HF_TOKEN``. Parsing this
file touches no connection and no network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_hfinfer.operators import (
    HFInferenceCompleteOperator,
    HFInferenceCreateOperator,
    HFInferenceRequestOperator,
)
from airflow_provider_hfinfer.sensors import InferenceReadySensor

KUBE_CONN = os.environ.get("HFINFER_KUBE_CONN")
NAMESPACE = os.environ.get("HFINFER_NAMESPACE", "runai-team-a")
DRY_RUN = KUBE_CONN is None
OUT_DIR = Path(os.environ.get("HFINFER_OUT_DIR", "out"))
NAME = "llama3-8b-chat"
# Node pools in priority order (Run:ai's node-pool label); empty: no pool rule.
NODE_POOLS = [
    pool.strip()
    for pool in os.environ.get("HFINFER_NODE_POOLS", "a100-pool,default").split(",")
    if pool.strip()
]

WORKLOAD = {
    "name": NAME,
    # The training task decides which model and revision to serve.
    "model": {
        "id": "{{ ti.xcom_pull(task_ids='train')['model_id'] }}",
        "revision": "{{ ti.xcom_pull(task_ids='train')['revision'] }}",
        "served_name": NAME,
    },
    "hf_access": {"type": "existing_secret", "secret_name": "hf-credentials"},
    "compute": {"gpus": 1, "gpu_memory": "80Gi", "cpu": "8", "memory": "64Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "node_pools": NODE_POOLS,
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "auto_delete_after": "30m",
    "labels": {"team": "ml-platform"},
    "vllm": {"max_model_len": 8192, "dtype": "bfloat16"},
}
CLUSTER = {"kubernetes_conn_id": KUBE_CONN or "kubernetes_default", "dry_run": DRY_RUN}
DEPLOYED = "{{ ti.xcom_pull(task_ids='deploy') }}"

with DAG(
    dag_id="hfinfer_post_training_deploy",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["hfinfer", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def train() -> dict[str, str]:
        """Stand-in for a training job that pushed a model to the Hub."""
        return {"model_id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"}

    deploy = HFInferenceCreateOperator(
        task_id="deploy",
        workload=WORKLOAD,
        namespace=NAMESPACE,
        # A laptop dry run may have no route to the Hub: report, do not fail.
        preflight="warn" if DRY_RUN else "strict",
        # A new training run replaces the model the previous run deployed.
        if_exists="update",
        **CLUSTER,
    )

    wait_ready = InferenceReadySensor(
        task_id="wait_ready",
        workload_xcom=deploy.output,
        # /health and /v1/models through the API server: works from outside the cluster.
        verify_endpoint="proxy",
        deferrable=not DRY_RUN,
        timeout=int(os.environ.get("HFINFER_READY_TIMEOUT", "1800")),
        **CLUSTER,
    )

    smoke_test = HFInferenceRequestOperator(
        task_id="smoke_test",
        workload_xcom=deploy.output,
        prompts=["Reply with the single word: ready."],
        max_tokens=16,
        expect=r"(?i)\bready\b",
        retries=2,
        retry_delay=timedelta(seconds=30),
        **CLUSTER,
    )

    # Both act only on the objects this run's deploy task applied (its XCom names them);
    # a same-named workload of another run is left alone, and when deploy itself
    # failed (it marks its own objects then) there is nothing for mark_failed to do.
    complete = HFInferenceCompleteOperator(task_id="complete", workload_xcom=DEPLOYED, **CLUSTER)

    mark_failed = HFInferenceCompleteOperator(
        task_id="mark_failed",
        workload_xcom=DEPLOYED,
        phase="Failed",
        reason="readiness wait or smoke test failed",
        trigger_rule="one_failed",
        **CLUSTER,
    )

    @task
    def report(result: dict[str, object], smoke: dict[str, object]) -> None:
        """Print where the model serves and what it said; in a dry run, write the manifests."""
        print(f"endpoint: {result['endpoint_url']} (model {result['served_model_name']})")
        completions = smoke.get("completions")
        for completion in completions if isinstance(completions, list) else []:
            print(f"smoke test answer: {completion['text']!r}")
        manifests = result.get("manifests")
        if isinstance(manifests, list):
            import yaml

            OUT_DIR.mkdir(parents=True, exist_ok=True)
            # One file per workload, named for the DAG and the workload.
            target = OUT_DIR / f"{dag.dag_id}.{NAME}.yaml"
            target.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
            print(f"dry run: {len(manifests)} manifests written to {target}")

    train() >> deploy >> wait_ready >> smoke_test >> complete
    [wait_ready, smoke_test] >> mark_failed
    report(deploy.output, smoke_test.output) >> complete
