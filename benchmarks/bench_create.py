"""Cost of creating a workload against the fake API server (issue: deploy).

Measures the requests the create operator sends for a workload with
autoscaling and access control (target: at most one write per object plus a
constant number of reads), the requests a retried attempt adds (target: zero
new objects), and the wall time, beside a baseline measured in the same run:
the same manifests created blindly with one POST each, as hand-written YAML
with the cncf-kubernetes provider would.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hfinfer-bench-"))

from fakekube.server import FakeKubeServer  # noqa: E402

from airflow_provider_hfinfer.kube import resources as res  # noqa: E402
from airflow_provider_hfinfer.operators import HFInferenceCreateOperator  # noqa: E402
from airflow_provider_hfinfer.render import RenderOptions, render_manifests  # noqa: E402
from airflow_provider_hfinfer.spec import InferenceWorkload  # noqa: E402

NS = "bench"
ROUNDS = 20
SPEC: dict[str, Any] = {
    "name": "bench",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "hf_access": {"type": "none"},  # the token comes from hf_conn_id, as the README says
    "replicas": {"min": 1, "max": 4},
    "autoscaling": {"metric": "latency", "threshold": 2000},
    "endpoint_access": {"mode": "groups", "groups": ["ml"]},
}
OPTIONS = {"jwt_issuer": "https://sso.example.com"}
TOKEN = "hf_benchmarktoken"


def _context(run_id: str) -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="bench", task_id="deploy"), "run_id": run_id}


def _operator() -> HFInferenceCreateOperator:
    return HFInferenceCreateOperator(
        task_id="deploy",
        workload=SPEC,
        namespace=NS,
        kubernetes_conn_id="bench_kube",
        render_options=OPTIONS,
        preflight="off",
        hf_conn_id="bench_hf",
    )


def main() -> int:
    """Measure and print; return 1 when a target is missed."""
    server = FakeKubeServer().start()
    os.environ["AIRFLOW_CONN_BENCH_KUBE"] = server.airflow_connection_json()
    os.environ["AIRFLOW_CONN_BENCH_HF"] = json.dumps({"conn_type": "generic", "password": TOKEN})
    server.create_namespace(NS)
    workload = InferenceWorkload.model_validate(
        {**SPEC, "hf_access": {"type": "token", "token": TOKEN}}
    )
    manifests = render_manifests(workload, namespace=NS, options=RenderOptions(**OPTIONS))
    ours, base, counts = [], [], []
    for round_ in range(ROUNDS):
        for obj in server.list_objects("v1", "secrets", NS):
            server.delete_object("v1", "secrets", NS, obj["metadata"]["name"])
        for plural, gv in [
            ("services", "v1"),
            ("deployments", "apps/v1"),
            ("scaledobjects", "keda.sh/v1alpha1"),
            ("requestauthentications", "security.istio.io/v1"),
            ("authorizationpolicies", "security.istio.io/v1"),
        ]:
            for obj in server.list_objects(gv, plural, NS):
                server.delete_object(gv, plural, NS, obj["metadata"]["name"])
        server.requests.clear()
        start = time.perf_counter()
        _operator().execute(_context(f"run-{round_}"))
        ours.append((time.perf_counter() - start) * 1000)
        counts.append((server.requests.writes, server.requests.reads))
        server.requests.clear()
        _operator().execute(_context(f"run-{round_}"))  # the same task, retried
        retry_creates = server.requests.count(method="POST")
        retry_writes = server.requests.writes
        # Baseline: blind creates into an empty namespace of its own.
        server.create_namespace(f"{NS}-base-{round_}")
        copies = [
            dict(m, metadata=dict(m["metadata"], namespace=f"{NS}-base-{round_}"))
            for m in manifests
        ]
        start = time.perf_counter()
        _baseline_ns(server, copies, f"{NS}-base-{round_}")
        base.append((time.perf_counter() - start) * 1000)
    writes, reads = counts[-1]
    objects = len(manifests)
    print(f"workload with autoscaling + access control: {objects} objects")
    print(f"create: {writes} writes ({writes / objects:.1f} per object), {reads} reads")
    print(
        f"retried attempt: {retry_creates} creates, {retry_writes} writes "
        "(server-side apply, no new objects)"
    )
    median, base_median = statistics.median(ours), statistics.median(base)
    print(
        f"create wall time: median {median:.1f} ms; baseline blind POSTs {base_median:.1f} ms; "
        f"ratio {median / base_median:.1f}x (the extra is the ownership and quota reads)"
    )
    server.stop()
    ok = writes <= objects and reads <= objects + 1 and retry_creates == 0
    print("create benchmark:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def _baseline_ns(server: FakeKubeServer, manifests: list[dict[str, Any]], namespace: str) -> None:
    from airflow_provider_hfinfer.kube.client import KubeClient
    from airflow_provider_hfinfer.kube.requests import KubeRequest

    client = KubeClient(server.api_client())
    for manifest in manifests:
        resource = res.resource_for(manifest["apiVersion"], manifest["kind"])
        request = KubeRequest(
            "POST", resource.path(namespace), resource, namespace, body=manifest, verb="create"
        )
        client.send(request)


if __name__ == "__main__":
    sys.exit(main())
