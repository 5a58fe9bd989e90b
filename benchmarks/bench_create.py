"""Creating a workload: ours against the cncf-kubernetes provider's generic operator (issue 18).

The peer is what a user would otherwise pick: ``KubernetesCreateResourceOperator``
fed the manifests this provider renders (as YAML), one operator for the core
objects (Secret, Deployment, Service: ``create_from_yaml``) and one with
``custom_resource_definition=True`` for the custom ones (KEDA, Istio), since
one operator cannot take both. Both run in the same process against the same
fake API server, each round in fresh namespaces, for two workloads:

- *full*: autoscaling + access for groups (6 objects). The peer guesses the
  custom objects' plural as ``kind.lower() + "s"``, so the AuthorizationPolicy
  goes to ``authorizationpolicys`` and fails with 404;
- *public*: autoscaling, public endpoint (4 objects), which both can create.

Per workload: requests (writes and reads), median wall time, and what a retry
of the same task does (the second attempt on existing objects): ours applies
idempotently (0 new objects), the peer's POSTs meet 409 AlreadyExists and the
task fails. Targets (ours): at most one write per object plus constant reads,
0 new objects on a retry.
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
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")

import yaml  # noqa: E402
from fakekube.server import FakeKubeServer  # noqa: E402

from airflow_provider_hfinfer.operators import HFInferenceCreateOperator  # noqa: E402
from airflow_provider_hfinfer.render import RenderOptions, render_manifests  # noqa: E402
from airflow_provider_hfinfer.spec import InferenceWorkload  # noqa: E402

ROUNDS = 10
CONN = "bench_kube"
BASE: dict[str, Any] = {
    "name": "bench",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "hf_access": {"type": "none"},  # the token comes from hf_conn_id, as the README says
    "replicas": {"min": 1, "max": 4},
    "autoscaling": {"metric": "latency", "threshold": 2000},
}
SPECS = {
    "full": {**BASE, "endpoint_access": {"mode": "groups", "groups": ["ml"]}},
    "public": BASE,
}
OPTIONS = {"jwt_issuer": "https://sso.example.com"}
TOKEN = "hf_benchmarktoken"
CORE_KINDS = {"Secret", "Deployment", "Service", "ConfigMap"}


def _context(run_id: str) -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="bench", task_id="deploy"), "run_id": run_id}


def _ours(spec: dict[str, Any], namespace: str) -> HFInferenceCreateOperator:
    return HFInferenceCreateOperator(
        task_id="deploy",
        workload=spec,
        namespace=namespace,
        kubernetes_conn_id=CONN,
        render_options=OPTIONS,
        preflight="off",
        hf_conn_id="bench_hf",
    )


def _peer_tasks(manifests: list[dict[str, Any]], namespace: str) -> list[Any]:
    from airflow.providers.cncf.kubernetes.operators.resource import (
        KubernetesCreateResourceOperator,
    )

    core = [m for m in manifests if m["kind"] in CORE_KINDS]
    custom = [m for m in manifests if m["kind"] not in CORE_KINDS]
    tasks = [
        KubernetesCreateResourceOperator(
            task_id="create_core",
            yaml_conf=yaml.safe_dump_all(core),
            namespace=namespace,
            kubernetes_conn_id=CONN,
        )
    ]
    if custom:
        tasks.append(
            KubernetesCreateResourceOperator(
                task_id="create_custom",
                yaml_conf=yaml.safe_dump_all(custom),
                namespace=namespace,
                kubernetes_conn_id=CONN,
                custom_resource_definition=True,
            )
        )
    return tasks


def _run_peer(server: FakeKubeServer, tasks: list[Any]) -> str | None:
    """Run the peer's tasks in order, as a DAG would; how the first failing task failed."""
    for task in tasks:
        try:
            task.execute({})
        except Exception as err:  # noqa: BLE001 - the peer's failure is what is measured
            refused = [
                f"{r.status} {r.path.rsplit('/', 2)[-1] if r.status == 409 else r.path}"
                for r in server.requests.all()
                if r.is_write and r.status >= 400
            ]
            return f"task {task.task_id}: {type(err).__name__}; refused: {', '.join(refused)}"
    return None


def _objects(server: FakeKubeServer, namespace: str) -> int:
    kinds = [
        ("v1", "secrets"),
        ("v1", "services"),
        ("apps/v1", "deployments"),
        ("keda.sh/v1alpha1", "scaledobjects"),
        ("security.istio.io/v1", "requestauthentications"),
        ("security.istio.io/v1", "authorizationpolicies"),
    ]
    return sum(len(server.list_objects(gv, plural, namespace)) for gv, plural in kinds)


def _measure(server: FakeKubeServer, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    workload = InferenceWorkload.model_validate(
        {**spec, "hf_access": {"type": "token", "token": TOKEN}}
    )
    figures: dict[str, Any] = {"ours_ms": [], "peer_ms": []}
    for round_ in range(ROUNDS + 1):  # round 0 warms imports and connections up
        ours_ns, peer_ns = f"{name}-ours-{round_}", f"{name}-peer-{round_}"
        server.create_namespace(ours_ns)
        server.create_namespace(peer_ns)
        server.requests.clear()
        start = time.perf_counter()
        _ours(spec, ours_ns).execute(_context(f"run-{round_}"))
        figures["ours_ms"].append((time.perf_counter() - start) * 1000)
        figures["ours"] = (server.requests.writes, server.requests.reads)
        server.requests.clear()
        _ours(spec, ours_ns).execute(_context(f"run-{round_}"))  # the same task, retried
        figures["ours_retry"] = (server.requests.count(method="POST"), server.requests.writes)
        figures["ours_objects"] = _objects(server, ours_ns)

        manifests = render_manifests(workload, namespace=peer_ns, options=RenderOptions(**OPTIONS))
        figures["objects"] = len(manifests)
        server.requests.clear()
        start = time.perf_counter()
        figures["peer_error"] = _run_peer(server, _peer_tasks(manifests, peer_ns))
        figures["peer_ms"].append((time.perf_counter() - start) * 1000)
        figures["peer"] = (server.requests.writes, server.requests.reads)
        figures["peer_objects"] = _objects(server, peer_ns)
        server.requests.clear()
        figures["peer_retry_error"] = _run_peer(server, _peer_tasks(manifests, peer_ns))
        figures["peer_retry"] = (server.requests.count(method="POST"), server.requests.writes)
    return figures


def _report(name: str, f: dict[str, Any]) -> bool:
    ours_ms, peer_ms = statistics.median(f["ours_ms"][1:]), statistics.median(f["peer_ms"][1:])
    objects = f["objects"]
    print(f"{name} workload ({objects} objects), medians of {ROUNDS} rounds")
    print(
        f"    ours: {f['ours'][0]} writes + {f['ours'][1]} reads, {ours_ms:.1f} ms, "
        f"{f['ours_objects']}/{objects} objects; retry: {f['ours_retry'][0]} creates, "
        f"{f['ours_retry'][1]} idempotent applies, succeeds"
    )
    outcome = f"fails ({f['peer_error']})" if f["peer_error"] else "succeeds"
    retry = f"fails ({f['peer_retry_error']})" if f["peer_retry_error"] else "succeeds"
    print(
        f"    peer: {f['peer'][0]} writes + {f['peer'][1]} reads, {peer_ms:.1f} ms, "
        f"{f['peer_objects']}/{objects} objects, {outcome}"
    )
    print(f"    peer retry: {f['peer_retry'][0]} creates, {retry}")
    print(
        f"    ratio ours/peer: requests {sum(f['ours']) / max(1, sum(f['peer'])):.1f}x (ours "
        f"reads name ownership and quota before writing), time {ours_ms / peer_ms:.1f}x"
    )
    writes, reads = f["ours"]
    return (
        f["ours_objects"] == objects
        and writes <= objects
        and reads <= objects + 1
        and f["ours_retry"][0] == 0
    )


def main() -> int:
    """Measure and print; return 1 when a target is missed."""
    server = FakeKubeServer().start()
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = server.airflow_connection_json()
    os.environ["AIRFLOW_CONN_BENCH_HF"] = json.dumps({"conn_type": "generic", "password": TOKEN})
    try:
        results = {name: _measure(server, name, spec) for name, spec in SPECS.items()}
    finally:
        server.stop()
    ok = all([_report(name, figures) for name, figures in results.items()])
    print(
        "    (the peer's yaml_conf, a rendered template field, holds the Secret with the "
        "token in clear)"
    )
    print("create benchmark:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
