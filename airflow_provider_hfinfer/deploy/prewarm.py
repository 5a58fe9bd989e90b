"""Fill the model cache before any replica starts: run the prewarm Job to completion.

This module owns the deploy step ``cache.prewarm`` adds between the checks and the
apply. On a first deploy it applies the workload held back (the Deployment at zero
replicas, no autoscaler), so that the Deployment exists to own the Job; then it
creates the Job (or finds the one an earlier attempt of the task created, reusing it
when it is for the same model, revision and claim and has not failed), follows it
with the cold-start model (one line per phase, the bytes downloaded, a warning when
it stalls) until it completes, and returns its breakdown. The caller then applies
the full plan, which scales the replicas up. A retry neither duplicates the Job (one
name per workload) nor orphans it (the Deployment owns it). It reaches the cluster
only through the hook-like :class:`PrewarmClient` and imports no Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_hfinfer.deploy.apply import ApplyClient, Live, Log, apply_plan
from airflow_provider_hfinfer.deploy.plan import DeployPlan
from airflow_provider_hfinfer.exceptions import WorkloadError
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.prewarm import (
    CONTAINER,
    job_name,
    prewarm_of,
    render_prewarm_job,
)
from airflow_provider_hfinfer.spec.names import PREWARM_LABEL, PREWARM_OF_ANNOTATION
from airflow_provider_hfinfer.status.coldstart import job_outcome
from airflow_provider_hfinfer.status.podstart import (
    PodStart,
    format_seconds,
    likely_cause,
    pod_start,
)
from airflow_provider_hfinfer.status.scope import event_record
from airflow_provider_hfinfer.status.startlog import PREWARM_MARK
from airflow_provider_hfinfer.status.text import log_excerpt

LOG_LINES = 50


class PrewarmClient(ApplyClient, Protocol):
    """The cluster verbs the prewarm step needs (``HFInferenceHook`` has them)."""

    def pod_log_tail(
        self, pod: str, namespace: str, lines: int = 20, *, timestamps: bool = False
    ) -> str | None:
        """A pod's last log lines; None when they cannot be read."""


@dataclass(frozen=True)
class PrewarmWait:
    """How the step follows the Job.

    Attributes:
        timeout: Seconds the Job may take before the deploy fails.
        poll_interval: Seconds between looks.
        stall_after: Seconds without progress before a warning names the cause.
    """

    timeout: float = 6 * 3600
    poll_interval: float = 10.0
    stall_after: float = 600.0


def _reusable(live: Mapping[str, Any], wanted: Mapping[str, Any], owner_uid: str) -> bool:
    """The live Job fills the same cache for this Deployment and has not failed."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    refs = (live.get("metadata") or {}).get("ownerReferences") or []
    return (
        annotations.get(PREWARM_OF_ANNOTATION)
        == wanted["metadata"]["annotations"][PREWARM_OF_ANNOTATION]
        and any(ref.get("uid") == owner_uid for ref in refs)
        and job_outcome(live) != "Failed"
    )


class _Follower:
    """Reads the Job, its newest pod, that pod's events and log; logs what changed."""

    def __init__(
        self, client: PrewarmClient, plan: DeployPlan, log: Log, wait: PrewarmWait
    ) -> None:
        self.client, self.plan, self.log, self.wait = client, plan, log, wait
        self.name = job_name(plan.workload)
        self.last: PodStart | None = None
        self.tail: str | None = None
        self._said: tuple[str, str] = ("", "")
        self._warned: set[tuple[str, str]] = set()

    def look(self) -> Mapping[str, Any] | None:
        job = self.client.get("batch/v1", "Job", self.name, self.plan.namespace)
        pods = self.client.list_objects(
            res.POD,
            self.plan.namespace,
            label_selector=f"{PREWARM_LABEL}={self.plan.workload.name}",
        )
        if pods:
            pod = max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
            self._follow(pod)
        return job

    def _follow(self, pod: Mapping[str, Any]) -> None:
        pod_name = str(pod["metadata"]["name"])
        events = self.client.list_objects(
            res.EVENT, self.plan.namespace, field_selector=f"involvedObject.name={pod_name}"
        )
        tail = self.client.pod_log_tail(pod_name, self.plan.namespace, LOG_LINES, timestamps=True)
        self.tail = tail or self.tail
        start = pod_start(
            pod,
            [event_record(event) for event in events],
            self.tail,
            now=datetime.now(timezone.utc),
            stall_after_seconds=self.wait.stall_after,
            container=CONTAINER,
            job=True,
        )
        self.last = start
        said = (start.phase.value, _bytes(start))
        if said != self._said:
            self._said = said
            self.log.info("%s", self.line(start))
        if start.stall is not None and (pod_name, start.phase.value) not in self._warned:
            self._warned.add((pod_name, start.phase.value))
            self.log.warning(
                "%s: prewarm Job %s: %s", self.plan.workload.name, self.name, start.stall.describe()
            )

    def line(self, start: PodStart) -> str:
        spent = format_seconds(sum(start.durations.values()))
        amount = f", {_bytes(start)}" if _bytes(start) else ""
        return (
            f"{self.plan.workload.name}: prewarm Job {self.name}: {start.label}{amount} "
            f"({spent} so far)"
        )


def _bytes(start: PodStart) -> str:
    if start.bytes_done is None or not start.bytes_total:
        return ""
    return f"{start.bytes_done / 1e9:.2f} of {start.bytes_total / 1e9:.2f} GB downloaded"


def _held_deployment(
    client: PrewarmClient, plan: DeployPlan, existing: Live, log: Log
) -> Mapping[str, Any]:
    deployment = existing.get(f"Deployment/{plan.workload.name}")
    if deployment is not None:
        return deployment
    held = plan.with_context(hold=True)
    log.info(
        "%s: applying the workload with 0 replicas until the model cache is warm",
        plan.workload.name,
    )
    apply_plan(client, held, existing, log)
    found = client.get("apps/v1", "Deployment", plan.workload.name, plan.namespace)
    if found is None:
        raise WorkloadError(
            "the Deployment vanished right after it was applied; retry the task",
            name=plan.workload.name,
            namespace=plan.namespace,
            reason="PrewarmFailed",
        )
    return found


def _ensure_job(
    client: PrewarmClient,
    plan: DeployPlan,
    owner: Mapping[str, Any],
    log: Log,
    sleep: Callable[[float], None],
) -> None:
    meta = owner["metadata"]
    wanted = render_prewarm_job(
        plan.workload,
        plan.namespace,
        plan.options,
        Stamp(plan.spec_hash, plan.context),
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"], "uid": meta["uid"]},
    )
    name = wanted["metadata"]["name"]
    live = client.get("batch/v1", "Job", name, plan.namespace)
    if live is not None and _reusable(live, wanted, meta["uid"]):
        log.info(
            "%s: reusing prewarm Job %s (%s)", plan.workload.name, name, prewarm_of(plan.workload)
        )
        return
    if live is not None:
        log.info(
            "%s: replacing prewarm Job %s (failed, or for another cache)", plan.workload.name, name
        )
        client.delete(live if "kind" in live else {**live, "apiVersion": "batch/v1", "kind": "Job"})
        for _ in range(300):
            if client.get("batch/v1", "Job", name, plan.namespace) is None:
                break
            sleep(0.2)
    client.apply([wanted])
    log.info("%s: created prewarm Job %s (%s)", plan.workload.name, name, prewarm_of(plan.workload))


def _failure(follower: _Follower, why: str) -> WorkloadError:
    start = follower.last
    where = f" while {start.label}" if start else ""
    spent = format_seconds(sum(start.durations.values())) if start else "?"
    detail = ""
    cause = likely_cause(follower.tail)
    if cause:
        detail = f"; likely cause: {cause}"
    elif start is not None and start.stall is not None:
        detail = f"; likely cause: {start.stall.cause}"
    elif follower.tail:
        detail = f"; log: {log_excerpt(follower.tail)}"
    return WorkloadError(
        f"prewarm Job {follower.name} {why}{where}, after {spent}{detail}",
        name=follower.plan.workload.name,
        namespace=follower.plan.namespace,
        reason="PrewarmFailed" if why == "failed" else "Timeout",
    )


def prewarm_cache(
    client: PrewarmClient,
    plan: DeployPlan,
    existing: Live,
    log: Log,
    wait: PrewarmWait = PrewarmWait(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """Run the prewarm Job to completion before the replicas scale up.

    Args:
        client: The cluster verbs.
        plan: The deploy (nothing happens unless its workload has ``cache.prewarm``).
        existing: What the name claim found live (a Deployment there owns the Job
            already; otherwise the workload is applied held at zero replicas first).
        log: Where progress goes.
        wait: Timeout, poll interval and stall limit.
        sleep: Injected for tests.
        clock: Injected for tests.

    Returns:
        The Job's breakdown (``job``, ``phases`` in seconds, ``total_seconds``,
        ``downloaded_bytes``, ``cache_was_complete``), or None without prewarm.

    Raises:
        WorkloadError: The Job failed (reason ``PrewarmFailed``, with the phase, the
            time and the likely cause) or did not finish in time (``Timeout``).
    """
    if not plan.workload.cache.prewarm:
        return None
    owner = _held_deployment(client, plan, existing, log)
    _ensure_job(client, plan, owner, log, sleep)
    follower = _Follower(client, plan, log, wait)
    deadline = clock() + wait.timeout
    while True:
        job = follower.look()
        outcome = job_outcome(job)
        if outcome == "Complete":
            break
        if outcome == "Failed":
            raise _failure(follower, "failed")
        if clock() >= deadline:
            raise _failure(follower, f"did not finish within {wait.timeout:.0f}s")
        sleep(wait.poll_interval)
    return _breakdown(follower)


def _breakdown(follower: _Follower) -> dict[str, Any]:
    start = follower.last
    tail = follower.tail or ""
    return {
        "job": follower.name,
        "phases": dict(start.durations) if start else {},
        "total_seconds": round(sum(start.durations.values()), 3) if start else 0.0,
        "downloaded_bytes": start.bytes_done if start else None,
        "cache_was_complete": f"{PREWARM_MARK} cache complete" in tail,
    }


__all__: Sequence[str] = ("PrewarmClient", "PrewarmWait", "prewarm_cache")
