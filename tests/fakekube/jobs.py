"""A fake Job controller and kubelet that really run a Job's container on this machine.

:class:`FakeJobRunner` watches the ``batch/v1`` Jobs of a namespace and runs each
one to completion the way the Job controller and a kubelet would, stamping what
they stamp: a pod (from the Job's template, owned by the Job), its ``Scheduled``,
``Pulled``, ``Created`` and ``Started`` events, the container's log (each line
as it is printed, dated), its termination (exit code, start and finish times),
retries up to ``backoffLimit``, and the Job's ``Complete`` or ``Failed``
condition. The container's command runs as a local process (``python3`` is this
interpreter) with the container's environment: ``secretKeyRef`` values read from
the store, ``HF_ENDPOINT`` pointed at a fake Hub, and every volume mounted as a
local directory (a PVC by claim name, shared by every pod that mounts it, as a
ReadWriteMany volume is).

:func:`vllm_download` plays what vLLM 0.6.4 does at start in a pod (download the
model's weights into ``HF_HOME``, or with ``HF_HUB_OFFLINE=1`` read them from the
cache only), with the real ``huggingface_hub``, so a fake Hub counts the requests.
"""

from __future__ import annotations

import base64
import copy
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .server import FakeKubeServer

JsonDict = dict[str, Any]

VLLM_START = r"""
import os
from huggingface_hub import HfApi, snapshot_download
model, revision = os.environ["MODEL"], os.environ.get("REVISION") or None
ignore = ["original/*", "*.pth", "*.pt", "*.bin", "*.gguf"]
offline = os.environ.get("HF_HUB_OFFLINE") == "1"
if not offline:
    # vLLM 0.6.4 lists the repository first to pick the weight format (HfFileSystem.ls).
    HfApi().list_repo_files(model, revision=revision)
path = snapshot_download(model, revision=revision, ignore_patterns=ignore, local_files_only=offline)
print("weights in " + path, flush=True)
"""


def _stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClaimVolumes:
    """Local directories standing in for volumes: one per PVC, one per pod emptyDir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fake-volumes-"))

    def claim(self, name: str) -> Path:
        """The directory of PVC ``name`` (created on first use)."""
        path = self.root / "pvc" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mounts(self, pod: JsonDict, container: JsonDict) -> dict[str, Path]:
        """``mountPath -> local directory`` for the container's volume mounts."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        found: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"], {})
            if "persistentVolumeClaim" in volume:
                found[mount["mountPath"]] = self.claim(volume["persistentVolumeClaim"]["claimName"])
            else:
                path = self.root / "pods" / pod["metadata"]["name"] / mount["name"]
                path.mkdir(parents=True, exist_ok=True)
                found[mount["mountPath"]] = path
        return found


def container_env(
    server: FakeKubeServer,
    namespace: str,
    pod: JsonDict,
    container: JsonDict,
    volumes: ClaimVolumes,
    hub_url: str,
) -> dict[str, str]:
    """The container's environment on this machine: secrets resolved, paths mapped."""
    mounts = volumes.mounts(pod, container)
    env = {
        key: os.environ[key] for key in ("PATH", "PYTHONPATH", "SYSTEMROOT") if key in os.environ
    }
    env["HF_ENDPOINT"] = hub_url
    env["HOME"] = str(volumes.root / "home")
    for item in container.get("env") or []:
        value = item.get("value")
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            secret = server.get_object("v1", "secrets", namespace, ref["name"]) or {}
            raw = (secret.get("data") or {}).get(ref["key"])
            value = base64.b64decode(raw).decode() if raw else None
        if value is None:
            continue
        for mount_path, local in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(local) + value[len(mount_path) :]
                break
        env[item["name"]] = value
    return env


class FakeJobRunner:
    """Run every new Job of ``namespace`` to completion with real local processes.

    Args:
        server: The fake API server.
        namespace: The namespace whose Jobs it runs.
        volumes: The local stand-ins for volumes (shared with :func:`vllm_download`).
        hub_url: The fake Hub the containers download from (``HF_ENDPOINT``).
    """

    def __init__(
        self, server: FakeKubeServer, namespace: str, volumes: ClaimVolumes, hub_url: str
    ) -> None:
        self.server, self.namespace, self.volumes, self.hub_url = (
            server,
            namespace,
            volumes,
            hub_url,
        )
        self.seen: list[JsonDict] = []
        """Each Job as it was when first seen, with the workload's Deployment at that moment."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-jobs")

    def start(self) -> FakeJobRunner:
        """Start watching for Jobs."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (a running container finishes first)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        handled: set[str] = set()
        while not self._stop.wait(0.05):
            for job in self.server.list_objects("batch/v1", "jobs", self.namespace):
                uid = job["metadata"]["uid"]
                if uid in handled or job["metadata"].get("deletionTimestamp"):
                    continue
                handled.add(uid)
                owner = (job["metadata"].get("ownerReferences") or [{}])[0]
                deployment = self.server.get_object(
                    "apps/v1", "deployments", self.namespace, owner.get("name", "")
                )
                self.seen.append(
                    {"job": copy.deepcopy(job), "deployment": copy.deepcopy(deployment)}
                )
                self._run(job)

    def _run(self, job: JsonDict) -> None:
        attempts = int(job["spec"].get("backoffLimit", 6)) + 1
        for _ in range(attempts):
            if self._run_pod(job) == 0:
                self._finish(job, "Complete", "")
                return
        self._finish(job, "Failed", "BackoffLimitExceeded")

    def _pod_for(self, job: JsonDict) -> JsonDict:
        template = copy.deepcopy(job["spec"]["template"])
        name = f"{job['metadata']['name']}-{secrets.token_hex(3)[:5]}"
        labels = {
            **(template.get("metadata") or {}).get("labels", {}),
            "job-name": job["metadata"]["name"],
        }
        return self.server.put_object(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": labels,
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "name": job["metadata"]["name"],
                            "uid": job["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {**template["spec"], "nodeName": "cpu-node-1"},
                "status": {"phase": "Pending"},
            }
        )

    def _run_pod(self, job: JsonDict) -> int:
        pod = self._pod_for(job)
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        for reason, message in (
            ("Scheduled", f"Successfully assigned {self.namespace}/{name} to cpu-node-1"),
            ("Pulled", f'Container image "{container["image"]}" already present on machine'),
            ("Created", f"Created container {container['name']}"),
            ("Started", f"Started container {container['name']}"),
        ):
            self._event(pod, reason, message)
        started = _stamp()
        self._status(name, "Running", {"running": {"startedAt": started}})
        command = list(container.get("command") or []) + list(container.get("args") or [])
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        env = container_env(self.server, self.namespace, pod, container, self.volumes, self.hub_url)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            self.server.logs.append(self.namespace, name, line.rstrip("\n"))
        code = process.wait()
        terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": _stamp(),
        }
        self._status(name, "Succeeded" if code == 0 else "Failed", {"terminated": terminated})
        return code

    def _status(self, pod: str, phase: str, state: JsonDict) -> None:
        def change(obj: JsonDict) -> None:
            container = obj["spec"]["containers"][0]
            obj["status"] = {
                "phase": phase,
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _stamp()}
                ],
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "ready": "running" in state,
                        "started": "running" in state,
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            }

        self.server.update("v1", "pods", self.namespace, pod, change)

    def _event(self, pod: JsonDict, reason: str, message: str) -> None:
        self.server.put_object(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{pod['metadata']['name']}.{secrets.token_hex(8)}",
                    "namespace": self.namespace,
                },
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": self.namespace,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
                "reason": reason,
                "message": message,
                "firstTimestamp": _stamp(),
                "lastTimestamp": _stamp(),
                "type": "Normal",
            }
        )

    def _finish(self, job: JsonDict, kind: str, reason: str) -> None:
        condition: JsonDict = {"type": kind, "status": "True", "lastTransitionTime": _stamp()}
        if reason:
            condition["reason"] = reason
        status: JsonDict = {"conditions": [condition], "startTime": _stamp()}
        if kind == "Complete":
            status.update(succeeded=1, completionTime=_stamp())
        else:
            status["failed"] = 1
        try:
            self.server.set_status(
                "batch/v1", "jobs", self.namespace, job["metadata"]["name"], status
            )
        except Exception:  # noqa: BLE001 - the Job was deleted meanwhile
            pass


def vllm_download(
    server: FakeKubeServer, namespace: str, pod: JsonDict, volumes: ClaimVolumes, hub_url: str
) -> int:
    """Do what vLLM 0.6.4 does with the model at start, in ``pod``'s environment.

    Returns:
        The process's exit code (non-zero: the weights were not there, e.g. offline
        with a cold cache).
    """
    container = pod["spec"]["containers"][0]
    args = list(container.get("args") or [])
    env = container_env(server, namespace, pod, container, volumes, hub_url)
    env["MODEL"] = args[args.index("--model") + 1] if "--model" in args else ""
    env["REVISION"] = args[args.index("--revision") + 1] if "--revision" in args else ""
    done = subprocess.run(
        [sys.executable, "-c", VLLM_START], env=env, capture_output=True, text=True, check=False
    )
    return done.returncode


def wait_for(check: Any, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it is true (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)
