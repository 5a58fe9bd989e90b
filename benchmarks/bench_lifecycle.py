"""Cost of TTL cleanup and of a no-op rollout against the fake API server (issue 5).

Cleanup: 1,000 workloads (a Deployment and a Service each, over two
namespaces), 500 of them expired, some finished recently, some unmarked, plus
foreign look-alikes. Measures the list requests of one cleanup run (target: one
per object kind, cluster-wide), the deletes (one per object of an expired
workload, nothing else touched) and the wall time, beside a baseline measured
in the same run: the per-workload way (GET each known workload's Deployment,
then list and delete the objects of the expired ones, as a loop over
``HFInferenceDeleteOperator`` would).

No-op rollout: the update operator applied twice with the same spec; the
second run must send zero write requests.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hfinfer-bench-"))

from fakekube.server import FakeKubeServer  # noqa: E402

from airflow_provider_hfinfer.deploy.finish import delete_objects  # noqa: E402
from airflow_provider_hfinfer.deploy.marks import read_mark  # noqa: E402
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook  # noqa: E402
from airflow_provider_hfinfer.kube.resources import WORKLOAD_KINDS  # noqa: E402
from airflow_provider_hfinfer.operators import (  # noqa: E402
    HFInferenceCleanupOperator,
    HFInferenceUpdateOperator,
)

WORKLOADS = 1000
ROUNDS = 3
NAMESPACES = ("bench-a", "bench-b")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
CONN = "bench_kube"


def _context(run_id: str) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="bench", task_id="t", xcom_push=lambda **_: None)
    return {"ti": ti, "run_id": run_id}


def _seed(server: FakeKubeServer) -> tuple[list[tuple[str, str]], int]:
    """Seed the workloads; return every (namespace, name) and the number expired."""
    known: list[tuple[str, str]] = []
    expired = 0
    for index in range(WORKLOADS):
        namespace, name = NAMESPACES[index % 2], f"w{index:04d}"
        annotations = {"hfinfer.io/auto-delete-after": "600"}
        if index % 2 == 0:  # 500 expired
            annotations |= {
                "hfinfer.io/phase": "Completed",
                "hfinfer.io/finished-at": "2026-11-27T11:00:00Z",
            }
            expired += 1
        elif index % 4 == 1:  # finished five minutes ago: kept
            annotations |= {
                "hfinfer.io/phase": "Failed",
                "hfinfer.io/finished-at": "2026-11-27T11:55:00Z",
            }
        labels = {"app.kubernetes.io/managed-by": "airflow-provider-hfinfer"}
        labels["hfinfer.io/workload"] = name
        for version, kind in (("apps/v1", "Deployment"), ("v1", "Service")):
            obj: dict[str, Any] = {
                "apiVersion": version,
                "kind": kind,
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": labels,
                    "annotations": annotations,
                },
            }
            server.put_object(obj)
            if index < 50:  # foreign look-alikes, never to be touched
                foreign = dict(obj, metadata=dict(obj["metadata"], name=f"{name}-x"))
                foreign["metadata"]["labels"] = {"app": "other", "hfinfer.io/workload": name}
                server.put_object(foreign)
        known.append((namespace, name))
    return known, expired


def _reset(server: FakeKubeServer) -> None:
    for namespace in NAMESPACES:
        for version, plural in (("apps/v1", "deployments"), ("v1", "services")):
            for obj in server.list_objects(version, plural, namespace):
                server.delete_object(version, plural, namespace, obj["metadata"]["name"])
    server.requests.clear()


def _baseline(known: list[tuple[str, str]]) -> int:
    """Per-workload cleanup: GET each Deployment, list + delete the expired ones."""
    hook = HFInferenceHook(kubernetes_conn_id=CONN)
    deleted = 0
    for namespace, name in known:
        deployment = hook.get("apps/v1", "Deployment", name, namespace)
        mark = read_mark(deployment) if deployment else None
        if mark is None or mark.expires_at is None or mark.expires_at > NOW:
            continue
        delete_objects(hook, hook.list_workload_objects(name, namespace))
        deleted += 1
    return deleted


def _cleanup_round(server: FakeKubeServer) -> dict[str, Any]:
    _reset(server)
    known, expired = _seed(server)
    server.requests.clear()
    dry = HFInferenceCleanupOperator(
        task_id="cleanup", kubernetes_conn_id=CONN, clock=lambda: NOW, dry_run=True
    )
    start = time.perf_counter()
    found = dry.execute(_context("dry"))  # type: ignore[arg-type]
    find_ms = (time.perf_counter() - start) * 1000
    server.requests.clear()
    operator = HFInferenceCleanupOperator(
        task_id="cleanup", kubernetes_conn_id=CONN, clock=lambda: NOW
    )
    start = time.perf_counter()
    deleted = operator.execute(_context("cleanup"))  # type: ignore[arg-type]
    ours_ms = (time.perf_counter() - start) * 1000
    figures = {
        "ours_ms": ours_ms,
        "find_ms": find_ms,
        "found": len(found),
        "lists": server.requests.count(verb="list"),
        "gets": server.requests.count(verb="get"),
        "deletes": server.requests.count(verb="delete"),
        "deleted": len(deleted),
        "expired": expired,
        "foreign_left": sum(
            1
            for namespace in NAMESPACES
            for obj in server.list_objects("apps/v1", "deployments", namespace)
            if obj["metadata"]["labels"].get("app") == "other"
        ),
    }
    _reset(server)
    known, _ = _seed(server)
    server.requests.clear()
    hook = HFInferenceHook(kubernetes_conn_id=CONN)
    start = time.perf_counter()
    for namespace, name in known:  # baseline of the find phase: one GET per workload
        hook.get("apps/v1", "Deployment", name, namespace)
    figures["base_find_ms"] = (time.perf_counter() - start) * 1000
    server.requests.clear()
    start = time.perf_counter()
    figures["base_deleted"] = _baseline(known)
    figures["base_ms"] = (time.perf_counter() - start) * 1000
    figures["base_requests"] = len(server.requests)
    return figures


def _noop_update(server: FakeKubeServer) -> int:
    server.create_namespace("bench-roll")
    spec = {
        "name": "roll",
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "revision": "r1"},
        "replicas": {"min": 1, "max": 1},
    }

    def run(run_id: str) -> dict[str, Any]:
        operator = HFInferenceUpdateOperator(
            task_id="rollout",
            workload=spec,
            namespace="bench-roll",
            kubernetes_conn_id=CONN,
            preflight="off",
            wait_for_ready=False,
        )
        return operator.execute(_context(run_id))  # type: ignore[arg-type]

    run("night-1")
    server.requests.clear()
    result = run("night-2")
    writes = server.requests.writes
    print(
        f"no-op rollout: {writes} writes, {server.requests.reads} reads "
        f"(changed={result['changed']})"
    )
    return writes


def main() -> int:
    """Measure and print; return 1 when a target is missed."""
    server = FakeKubeServer().start()
    os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = server.airflow_connection_json()
    for namespace in NAMESPACES:
        server.create_namespace(namespace)
    rounds = [_cleanup_round(server) for _ in range(ROUNDS)]
    last = rounds[-1]
    ours = statistics.median(r["ours_ms"] for r in rounds)
    base = statistics.median(r["base_ms"] for r in rounds)
    print(
        f"cleanup of {WORKLOADS} workloads ({last['expired']} expired), cluster-wide: "
        f"{last['lists']} list requests for {len(WORKLOAD_KINDS)} kinds, {last['gets']} GETs, "
        f"{last['deletes']} deletes, {last['deleted']} workloads deleted, "
        f"{last['foreign_left']} foreign objects untouched"
    )
    print(
        f"cleanup wall time: median {ours:.0f} ms; baseline per-workload GETs "
        f"{base:.0f} ms ({last['base_requests']} requests); ratio {ours / base:.2f}x"
    )
    find = statistics.median(r["find_ms"] for r in rounds)
    base_find = statistics.median(r["base_find_ms"] for r in rounds)
    print(
        f"finding the expired (dry run: {len(WORKLOAD_KINDS)} lists + pure decision): median "
        f"{find:.0f} ms; baseline {WORKLOADS} GETs {base_find:.0f} ms; "
        f"ratio {find / base_find:.2f}x"
    )
    writes = _noop_update(server)
    server.stop()
    ok = (
        last["lists"] == len(WORKLOAD_KINDS)
        and last["gets"] == 0
        and last["deleted"] == last["expired"] == last["base_deleted"] == last["found"]
        and last["deletes"] == 2 * last["expired"]
        and last["foreign_left"] == 50
        and writes == 0
    )
    print("lifecycle benchmark:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
