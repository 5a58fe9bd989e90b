"""Scheduled model rollout: every night, serve the newest fine-tuned revision.

``newest_revision`` stands in for a lookup in your model registry (or the Hub's
list of commits); ``rollout`` rolls the workload forward with
``HFInferenceUpdateOperator``: an unchanged revision is a no-op without a
single write; a new one is applied as a rolling update (the old replicas keep
serving), followed with the readiness model, and rolled back to the previous
spec if the new revision fails, with the task failing on the revision's
reason. If the cluster has no spare GPU for the surge pod, the failure says so
and points to ``update_strategy: Recreate``.

Without a cluster (no ``HFINFER_KUBE_CONN`` set), the rollout is a dry run: it
validates and renders the workload and logs the plan. Set ``HFINFER_KUBE_CONN``
to the id of an Airflow Kubernetes connection to roll out for real; the
namespace needs a Secret ``hf-credentials`` holding ``HF_TOKEN`` (the model is
gated). Parsing this file touches no connection and no network.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_provider_hfinfer.operators import HFInferenceUpdateOperator

KUBE_CONN = os.environ.get("HFINFER_KUBE_CONN")
NAMESPACE = os.environ.get("HFINFER_NAMESPACE", "runai-team-a")
DRY_RUN = KUBE_CONN is None

WORKLOAD = {
    "name": "llama3-8b-nightly",
    "model": {
        "id": "meta-llama/Llama-3.1-8B-Instruct",
        "revision": "{{ ti.xcom_pull(task_ids='newest_revision') }}",
        "served_name": "llama3-8b-nightly",
    },
    "hf_access": {"type": "existing_secret", "secret_name": "hf-credentials"},
    "compute": {"gpus": 1, "gpu_memory": "80Gi", "cpu": "8", "memory": "64Gi"},
    "replicas": {"min": 1, "max": 3},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
    "node_pools": ["a100-pool", "default"],
    "labels": {"team": "ml-platform"},
    "vllm": {"max_model_len": 8192, "dtype": "bfloat16"},
    # RollingUpdate keeps serving but needs one spare GPU for the surge pod;
    # "Recreate" needs none but the endpoint is down while the new revision loads.
    "update_strategy": "RollingUpdate",
}

with DAG(
    dag_id="hfinfer_scheduled_rollout",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["hfinfer", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def newest_revision() -> str:
        """Stand-in for asking the model registry which revision is newest.

        Return a commit id, not a branch name: "main" names the same revision every
        night, so the rollout would never see a change.
        """
        return "main"

    rollout = HFInferenceUpdateOperator(
        task_id="rollout",
        workload=WORKLOAD,
        namespace=NAMESPACE,
        kubernetes_conn_id=KUBE_CONN or "kubernetes_default",
        dry_run=DRY_RUN,
        timeout=3600,
        poll_interval=15,
        # A laptop dry run may have no route to the Hub: report, do not fail.
        preflight="warn" if DRY_RUN else "strict",
        # A failed rollout is rolled back; retrying the same revision would not help.
        retries=0,
        execution_timeout=timedelta(hours=2),
    )

    newest_revision() >> rollout
