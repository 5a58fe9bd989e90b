"""Builders for pods caught at each moment of a cold start, with the kubelet's events.

A :class:`Schedule` says when (in seconds after ``T0``) a pod was created,
scheduled, began and finished pulling the image, started its container, began
loading weights and became ready; :func:`started_pod` builds the pod as the API
server would return it ``now`` seconds after ``T0``, :func:`pod_events` the
events the scheduler and kubelet had written by then, :func:`vllm_log` the log
tail vLLM 0.6.4 had written (with or without the kubelet's timestamps).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .status_builders import IMAGE, at, event, pod, running_container, ts, waiting_container

Obj = dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    """When each step of one pod's start happened (seconds after T0)."""

    created: float = 0.0
    scheduled: float | None = 2.0
    pulling: float | None = 3.0
    pulled: float | None = 133.0
    started: float | None = 136.0
    loading: float | None = 256.0
    ready: float | None = 316.0
    pull_in: str | None = "2m10s"


def _reached(step: float | None, now: float) -> bool:
    return step is not None and step <= now


def started_pod(rs: Obj, schedule: Schedule, now: float, suffix: str = "x2k9p") -> Obj:
    """The pod of ``rs`` as it stood ``now`` seconds after T0."""
    if not _reached(schedule.scheduled, now):
        built = pod(rs, suffix, created=schedule.created, unschedulable="0/4 nodes are available")
        built["status"]["conditions"][0].update(reason="Unschedulable")
        return built
    if _reached(schedule.started, now):
        ready = _reached(schedule.ready, now)
        container = running_container(started_at=schedule.started or 0, started=ready, ready=ready)
    else:
        container = waiting_container("ContainerCreating")
    built = pod(rs, suffix, created=schedule.created, containers=[container])
    conditions = built["status"]["conditions"]
    for item in conditions:
        if item["type"] == "PodScheduled":
            item["lastTransitionTime"] = ts(schedule.scheduled or 0)
        if item["type"] in ("Ready", "ContainersReady") and item["status"] == "True":
            item["lastTransitionTime"] = ts(schedule.ready or 0)
    return built


def pod_events(built: Obj, schedule: Schedule, now: float, image: str = IMAGE) -> list[Obj]:
    """The scheduler's and kubelet's events about the pod, up to ``now``."""
    name = built["metadata"]["name"]
    found: list[Obj] = []
    if _reached(schedule.scheduled, now):
        found.append(
            event(
                "Pod",
                name,
                "Scheduled",
                f"Successfully assigned ml-team/{name} to gpu-node-a100-1",
                first=schedule.scheduled or 0,
                etype="Normal",
                component="default-scheduler",
            )
        )
    if _reached(schedule.pulling, now):
        found.append(
            event(
                "Pod",
                name,
                "Pulling",
                f'Pulling image "{image}"',
                first=schedule.pulling or 0,
                etype="Normal",
            )
        )
    if _reached(schedule.pulled, now):
        took = f" in {schedule.pull_in} ({schedule.pull_in} including waiting)"
        found.append(
            event(
                "Pod",
                name,
                "Pulled",
                f'Successfully pulled image "{image}"{took if schedule.pull_in else ""}',
                first=schedule.pulled or 0,
                etype="Normal",
            )
        )
    for item in found:
        item["involvedObject"]["uid"] = built["metadata"]["uid"]
    return found


def vllm_log(schedule: Schedule, now: float, *, kubelet_stamps: bool = True) -> str:
    """The vLLM 0.6.4 log up to ``now``: init, the silent download, the shard bar, load done."""
    if not _reached(schedule.started, now):
        return ""
    start = schedule.started or 0.0
    lines: list[tuple[float, str]] = [
        (start + 1, "INFO {} api_server.py:585] vLLM API server version 0.6.4"),
        (
            start + 5,
            "INFO {} model_runner.py:1056] Starting to load model meta-llama/Llama-3.1-8B...",
        ),
        (start + 6, "INFO {} weight_utils.py:243] Using model weights format ['*.safetensors']"),
    ]
    if _reached(schedule.loading, now):
        load = schedule.loading or 0.0
        lines.append(
            (load, "Loading safetensors checkpoint shards:   0% Completed | 0/4 [00:00<?, ?it/s]")
        )
        lines.append(
            (
                load + 8,
                "Loading safetensors checkpoint shards: 100% Completed | 4/4 [00:08<00:00, 2s/it]",
            )
        )
        lines.append(
            (load + 9, "INFO {} model_runner.py:1061] Loading model weights took 14.99 GB")
        )
    if _reached(schedule.ready, now):
        lines.append((schedule.ready or 0.0, "INFO:     Uvicorn running on http://0.0.0.0:8000"))
    out = []
    for when, text in lines:
        vllm_stamp = at(when).strftime("%m-%d %H:%M:%S")
        body = text.replace("{}", vllm_stamp)
        if kubelet_stamps:
            out.append(at(when).strftime("%Y-%m-%dT%H:%M:%S.%f000Z") + " " + body)
        else:
            out.append(body)
    return "\n".join(out) + "\n"


def with_env(built: Obj, *names: str) -> Obj:
    """A copy of the pod whose vllm container has env vars ``names`` (offline: value 1)."""
    copied = copy.deepcopy(built)
    copied["spec"]["containers"][0]["env"] = [{"name": name, "value": "1"} for name in names]
    return copied
