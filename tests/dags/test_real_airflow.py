"""The post-training example DAG in a real Airflow: separate processes, LocalExecutor, REST API.

Not ``dag.test()``: an API server, a scheduler (LocalExecutor), a DAG processor
and a triggerer run as separate ``airflow`` processes on 127.0.0.1 with their
own SQLite metadata DB (Airflow 3.3 runs LocalExecutor on SQLite, as
``airflow standalone`` does). They reach the fake cluster, the fake Hub and the
fake vLLM in this process over loopback. The test triggers
``hfinfer_post_training_deploy`` through the REST API and holds the fake kubelet
back until ``wait_ready`` is deferred, so the readiness wait can only finish in
the triggerer, and the task must then resume on a worker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DAGS, NS, Cluster

pytestmark = [pytest.mark.airflow_e2e, pytest.mark.timeout(420)]

DAG_ID = "hfinfer_post_training_deploy"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealAirflow:
    """Four Airflow processes and a REST API client for them."""

    url: str
    home: Path
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen[bytes]]
    token: str = ""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One REST API v2 call with the bearer token; the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def log(self, component: str) -> str:
        """What one component wrote to stdout and stderr so far."""
        return self.logs[component].read_text(errors="replace")

    def check_alive(self) -> None:
        """Fail with the component's log tail if one of the processes exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = "\n".join(self.log(name).splitlines()[-30:])
                pytest.fail(f"airflow {name} exited with {process.returncode}:\n{tail}")

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float) -> Any:
        """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                last = probe()
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                last = err
            else:
                if last:
                    return last
            time.sleep(1)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def _environment(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            # One secret for every process, so tokens one signs the others accept.
            "AIRFLOW__API_AUTH__JWT_SECRET": "hfinfer-e2e-test-only",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


@pytest.fixture
def real_airflow(cluster: Cluster, tmp_path: Path) -> Iterator[RealAirflow]:
    """Migrate a fresh metadata DB, then start the four components; stop them at teardown."""
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DAGS / f"{DAG_ID}.py", home / "dags")
    port = _free_port()
    env = _environment(home, port)
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    logs = {name: tmp_path / f"{name}.log" for name in COMPONENTS}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    handles = []
    try:
        for name in COMPONENTS:
            handle = logs[name].open("wb")
            handles.append(handle)
            # Logs stay local files the API server reads; no log server on all interfaces.
            args = {"api-server": ["--port", str(port)], "dag-processor": []}.get(name, ["-s"])
            processes[name] = subprocess.Popen(
                [*airflow, name, *args], env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        yield RealAirflow(f"http://127.0.0.1:{port}", home, logs, processes)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in handles:
            handle.close()


def _ti(airflow: RealAirflow, run_id: str, task_id: str) -> dict[str, Any]:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}"
    result: dict[str, Any] = airflow.call("GET", path)
    return result


def test_post_training_dag_defers_to_the_triggerer_and_succeeds(
    real_airflow: RealAirflow, cluster: Cluster
) -> None:
    airflow = real_airflow
    # Nothing rolls out until the readiness wait sits in the triggerer.
    cluster.kubelet.stop()
    airflow.wait_for(
        "the API server",
        lambda: airflow.call("GET", "/api/v2/monitor/health")["metadatabase"],
        timeout=120,
    )
    airflow.token = airflow.call("GET", "/auth/token")["access_token"]

    providers = airflow.call("GET", "/api/v2/providers?limit=1000")["providers"]
    assert "airflow-provider-hfinfer" in {p["package_name"] for p in providers}

    airflow.wait_for(
        "the DAG processor to parse the DAG",
        lambda: airflow.call("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"] is False,
        timeout=180,
    )
    run = airflow.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    run_id = run["dag_run_id"]

    airflow.wait_for(
        "wait_ready to be deferred",
        lambda: _ti(airflow, run_id, "wait_ready")["state"] == "deferred",
        timeout=180,
    )
    health = airflow.call("GET", "/api/v2/monitor/health")
    assert health["triggerer"]["status"] == "healthy", health
    cluster.kubelet.start("ready", delay=0.05)

    final = airflow.wait_for(
        "the DAG run to finish",
        lambda: (
            state
            if (state := airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"])
            in ("success", "failed")
            else None
        ),
        timeout=240,
    )
    states = {
        ti["task_id"]: ti["state"]
        for ti in airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")[
            "task_instances"
        ]
    }
    assert final == "success", states
    assert states["mark_failed"] == "skipped"

    # The trigger ran in the triggerer process (which writes the try's trigger log)
    # and saw the rollout; the same try then resumed on a worker, whose log shows the
    # deferral first and the endpoint check of execute_complete after it.
    wait = _ti(airflow, run_id, "wait_ready")
    assert (wait["state"], wait["try_number"]) == ("success", 1), wait
    task_logs = sorted((airflow.home / "logs").glob(f"dag_id={DAG_ID}/*/task_id=wait_ready/*"))
    trigger_logs = [path for path in task_logs if ".trigger." in path.name]
    assert len(trigger_logs) == 1, task_logs
    fired = trigger_logs[0].read_text()
    assert "Trigger fired event" in fired and "'status': 'ready'" in fired, fired
    log_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait_ready/logs/1"
    answer = airflow.call("GET", f"{log_path}?full_content=true")
    events = [row.get("event", "") for row in answer["content"] if isinstance(row, dict)]
    deferred = events.index("Pausing task as DEFERRED. ")
    resumed = [i for i, event in enumerate(events) if "serving llama3-8b-chat" in event]
    assert resumed and resumed[0] > deferred, events

    links = airflow.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/deploy/links"
    )
    endpoint = links["extra_links"]["Inference endpoint"]
    assert endpoint.startswith("http://llama3-8b-chat.") and NS in endpoint, links
