"""Cost of the Workloads page's table with 500 workloads (issue 15), against the fake API server.

500 workloads over two namespaces, each rendered by the provider and rolled out
by the fake kubelet (Deployment, Service, ScaledObject, ReplicaSet, pod, events),
one in ten of them crash-looping and one in ten marked Completed. Measured:

* the table's reads: list requests per refresh (target: one per kind and
  namespace, 7 x 2, whatever the number of workloads) and no other request;
* the wall time of one refresh (list calls + pure row building, median of
  rounds; target < 2 s so the page stays responsive), and of the pure row
  building alone;
* beside the peer measured in the same run: the per-workload reads a naive
  page (or ``kubectl get`` per workload) makes: the Deployment, its Service and
  its ScaledObject by name and its pods by label (4 requests per workload, still
  fewer than the sensor's snapshot, which also lists the namespace's events).

Run: ``.venv/bin/python benchmarks/bench_workloads_page.py`` (about a minute).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hfinfer-bench-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from fakekube.kubelet import FakeKubelet  # noqa: E402
from fakekube.server import FakeKubeServer  # noqa: E402

from airflow_provider_hfinfer.deploy.marks import mark_annotations  # noqa: E402
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook  # noqa: E402
from airflow_provider_hfinfer.kube import resources as res  # noqa: E402
from airflow_provider_hfinfer.render import RenderContext, render_manifests  # noqa: E402
from airflow_provider_hfinfer.spec import InferenceWorkload  # noqa: E402
from airflow_provider_hfinfer.spec.names import workload_selector  # noqa: E402
from airflow_provider_hfinfer.ui.listing import TABLE_KINDS, list_connections  # noqa: E402
from airflow_provider_hfinfer.ui.rows import build_rows  # noqa: E402

WORKLOADS = 500
NAMESPACES = ("page-a", "page-b")
ROUNDS = 5
CONN = "bench_page"
TARGET_REFRESH_S = 2.0


def _seed(server: FakeKubeServer) -> dict[str, str]:
    """Seed the workloads; return the phase each must show."""
    expected: dict[str, str] = {}
    kubelets = {ns: FakeKubelet(server, ns) for ns in NAMESPACES}
    now = datetime.now(timezone.utc)
    for index in range(WORKLOADS):
        namespace, name = NAMESPACES[index % 2], f"w{index:04d}"
        workload = InferenceWorkload.model_validate(
            {
                "name": name,
                "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "main"},
                "compute": {"gpus": 1},
                "replicas": {"min": 1, "max": 2},
                "autoscaling": {"metric": "concurrency", "threshold": 8},
                "auto_delete_after": 3600,
            }
        )
        context = RenderContext(owner=f"dag_{index % 7}/deploy/run_1", record_spec=True)
        for manifest in render_manifests(workload, namespace=namespace, context=context):
            server.put_object(manifest)
        crash = index % 10 == 3
        kubelets[namespace].rollout(name, outcome="crash" if crash else "ready")
        expected[f"{namespace}/{name}"] = "Failed" if crash else "Serving"
        if index % 10 == 7:
            patch = {"metadata": {"annotations": mark_annotations("Completed", now)}}
            server.update("apps/v1", "deployments", namespace, name, patch)
            expected[f"{namespace}/{name}"] = "Completed"
    return expected


def _refresh() -> tuple[list[Any], float, float]:
    """One table refresh: list calls, then rows; (rows, total s, row-building s)."""
    start = time.perf_counter()
    listings = list_connections([CONN])
    built = time.perf_counter()
    now = datetime.now(timezone.utc)
    rows = [
        row
        for listing in listings
        for row in build_rows(listing.objects, listing.connection, now, listing.options)
    ]
    end = time.perf_counter()
    return rows, end - start, end - built


def _peer(names: list[tuple[str, str]]) -> float:
    """The per-workload way: 3 GETs by name and a pod list by label, for each workload."""
    hook = HFInferenceHook(kubernetes_conn_id=CONN)
    start = time.perf_counter()
    for namespace, name in names:
        hook.get("apps/v1", "Deployment", name, namespace)
        hook.get("v1", "Service", name, namespace)
        hook.get("keda.sh/v1alpha1", "ScaledObject", name, namespace)
        hook.list_objects(res.POD, namespace, label_selector=workload_selector(name))
    return time.perf_counter() - start


def main() -> int:
    """Measure and print; return 1 when a target is missed."""
    server = FakeKubeServer().start()
    conn = json.loads(server.airflow_connection_json(NAMESPACES[0]))
    conn["extra"]["hfinfer_workloads_namespaces"] = ",".join(NAMESPACES)
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = json.dumps(conn)
    for namespace in NAMESPACES:
        server.create_namespace(namespace)
    start = time.perf_counter()
    expected = _seed(server)
    print(f"seeded {WORKLOADS} workloads in {time.perf_counter() - start:.1f} s")
    _refresh()  # warm: connection, client, imports
    totals, building = [], []
    for _ in range(ROUNDS):
        server.requests.clear()
        rows, total, pure = _refresh()
        totals.append(total)
        building.append(pure)
    lists, others = server.requests.count(verb="list"), len(server.requests)
    shown = {f"{row.namespace}/{row.name}": row.phase for row in rows}
    server.requests.clear()
    names = [tuple(key.split("/")) for key in expected]
    peers = [_peer(names) for _ in range(3)]  # type: ignore[arg-type]
    peer_requests = len(server.requests) // 3
    server.stop()
    ours, peer = statistics.median(totals), statistics.median(peers)
    print(
        f"table refresh with {len(rows)} workloads: {lists} list requests "
        f"({len(TABLE_KINDS)} kinds x {len(NAMESPACES)} namespaces), {others - lists} others; "
        f"median {ours * 1000:.0f} ms, of which row building "
        f"{statistics.median(building) * 1000:.0f} ms"
    )
    print(
        f"peer (per-workload GETs, as kubectl per workload): {peer_requests} requests, "
        f"median {peer * 1000:.0f} ms; ratio {ours / peer:.2f}x the time, "
        f"{lists / peer_requests:.3f}x the requests"
    )
    ok = (
        shown == expected
        and lists == others == len(TABLE_KINDS) * len(NAMESPACES)
        and ours < TARGET_REFRESH_S
        and ours < peer
    )
    print("workloads page benchmark:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
