"""Post-training deployment: train (stand-in) -> deploy the new model -> use it -> tear down.

Without a cluster (no ``HFINFER_KUBE_CONN`` set), the deploy step runs as a dry
run: it validates and renders the workload, logs the plan and returns the
manifests with secrets redacted. Set ``HFINFER_KUBE_CONN`` to the id of an
Airflow Kubernetes connection to deploy for real.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_hfinfer.operators import (
    HFInferenceCreateOperator,
    HFInferenceDeleteOperator,
)

KUBE_CONN = os.environ.get("HFINFER_KUBE_CONN")
NAMESPACE = os.environ.get("HFINFER_NAMESPACE", "runai-team-a")
DRY_RUN = KUBE_CONN is None
OUT_DIR = Path(os.environ.get("HFINFER_OUT_DIR", "out"))

WORKLOAD = {
    "name": "llama3-8b-chat",
    # The training task decides which model and revision to serve.
    "model": {
        "id": "{{ ti.xcom_pull(task_ids='train')['model_id'] }}",
        "revision": "{{ ti.xcom_pull(task_ids='train')['revision'] }}",
        "served_name": "llama3-8b-chat",
    },
    "hf_access": {"type": "existing_secret", "secret_name": "hf-credentials"},
    "compute": {"gpus": 1, "gpu_memory": "80Gi", "cpu": "8", "memory": "64Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "node_pools": ["a100-pool", "default"],
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "auto_delete_after": "30m",
    "labels": {"team": "ml-platform"},
    "vllm": {"max_model_len": 8192, "dtype": "bfloat16"},
}

with DAG(
    dag_id="hfinfer_post_training_deploy",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
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
        kubernetes_conn_id=KUBE_CONN or "kubernetes_default",
        dry_run=DRY_RUN,
        wait_for_ready=not DRY_RUN,
        # A laptop dry run may have no route to the Hub: report, do not fail.
        preflight="warn" if DRY_RUN else "strict",
    )

    @task
    def report(result: dict[str, object]) -> None:
        """Print where the model serves; in a dry run, write the manifests to out/."""
        print(f"endpoint: {result['endpoint_url']} (model {result['served_model_name']})")
        manifests = result.get("manifests")
        if isinstance(manifests, list):
            import yaml

            OUT_DIR.mkdir(parents=True, exist_ok=True)
            target = OUT_DIR / "manifests.yaml"
            target.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
            print(f"dry run: {len(manifests)} manifests written to {target}")

    teardown = HFInferenceDeleteOperator(
        task_id="teardown",
        name="llama3-8b-chat",
        namespace=NAMESPACE,
        kubernetes_conn_id=KUBE_CONN or "kubernetes_default",
        dry_run=DRY_RUN,
    )

    train() >> deploy
    report(deploy.output) >> teardown
