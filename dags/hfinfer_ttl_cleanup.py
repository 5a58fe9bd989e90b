"""Auto-deletion: every five minutes, delete inference workloads whose TTL ran out.

A workload is marked finished (``hfinfer.io/phase`` Completed or Failed and
``hfinfer.io/finished-at``) by ``HFInferenceCompleteOperator``, by the create
operator when it fails, or when its task is killed. Its
``auto_delete_after`` (``hfinfer.io/auto-delete-after``) counts from that
moment; this DAG deletes every workload past it, with one list call per object
kind, and never touches an object this provider does not manage nor a workload
without a finished mark.

If Airflow is down, nothing is lost: marks and TTLs are annotations on the
cluster objects, not Airflow state. Deletion is only late; the first run after
Airflow comes back deletes everything that expired meanwhile (``catchup`` is
off, so it runs once, not once per missed interval, and one run is enough).

Set ``HFINFER_KUBE_CONN`` to the id of an Airflow Kubernetes connection and,
optionally, ``HFINFER_CLEANUP_NAMESPACES`` to a comma-separated list of
namespaces (default: ``HFINFER_NAMESPACE``, as the other example DAGs; ``*``
cleans up cluster-wide, which needs ``deploy/rbac-cluster-cleanup.yaml`` besides
``deploy/rbac.yaml``). Without ``HFINFER_KUBE_CONN`` the task is a
dry run that only reports what it would delete.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_hfinfer.operators import HFInferenceCleanupOperator

KUBE_CONN = os.environ.get("HFINFER_KUBE_CONN")
NAMESPACES = [
    name.strip()
    for name in os.environ.get(
        "HFINFER_CLEANUP_NAMESPACES", os.environ.get("HFINFER_NAMESPACE", "runai-team-a")
    ).split(",")
    if name.strip()
]
CLUSTER_WIDE = NAMESPACES == ["*"]

with DAG(
    dag_id="hfinfer_ttl_cleanup",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    tags=["hfinfer", "example"],
    doc_md=__doc__,
) as dag:
    HFInferenceCleanupOperator(
        task_id="cleanup",
        namespaces=None if CLUSTER_WIDE else NAMESPACES,
        kubernetes_conn_id=KUBE_CONN or "kubernetes_default",
        dry_run=KUBE_CONN is None,
        retries=1,
        retry_delay=timedelta(minutes=1),
    )
