"""The one synchronous wait: read the workload, judge it, until it settles or time runs out.

This module owns :func:`observe` (one snapshot through the hook, judged by the
pure readiness model, re-judged with the crashed pod's log tail when that
explains a failure) and :func:`follow` (the polling loop the create and update
operators use; the sensor pokes :func:`observe` once per poke and lets Airflow
run the loop). The trigger judges its watch cache with the same verdict
(:mod:`airflow_provider_hfinfer.status.verdict`). It reaches the cluster only
through the hook-like :class:`StatusClient` and imports no Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_hfinfer.status import DEFAULT_GRACE_PERIOD_SECONDS, WorkloadStatus, assess
from airflow_provider_hfinfer.status.verdict import log_tail_pod


class StatusClient(Protocol):
    """The reads a wait needs (``HFInferenceHook`` has them)."""

    def workload_snapshot(self, name: str, namespace: str) -> dict[str, Any]:
        """Deployment, ReplicaSets, pods, events and scaler of the workload."""

    def pod_log_tail(self, pod: str, namespace: str, lines: int = 20) -> str | None:
        """The last lines of a pod's log; None when they cannot be read."""


def observe(
    client: StatusClient,
    name: str,
    namespace: str,
    *,
    grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
    grace_periods: Mapping[str, float] | None = None,
    min_ready: int | None = None,
    with_log_tail: bool = False,
    snapshot: dict[str, Any] | None = None,
) -> WorkloadStatus:
    """Read the workload once and judge it.

    Args:
        client: The cluster reads.
        name: The workload.
        namespace: Its namespace.
        grace_period: Seconds failures that heal on their own are waited on.
        grace_periods: Seconds per failure class, overriding its default.
        min_ready: Ready replicas required (default: all desired).
        with_log_tail: On a terminal crash, read the crashed pod's log tail and
            judge again with it quoted.
        snapshot: The workload's objects when the caller already read them (the
            cold-start model judges the same read).
    """
    objects = snapshot if snapshot is not None else client.workload_snapshot(name, namespace)

    def judge(log_tails: dict[str, str]) -> WorkloadStatus:
        return assess(
            **objects,
            now=datetime.now(timezone.utc),
            grace_period_seconds=grace_period,
            grace_periods=grace_periods,
            log_tails=log_tails,
            min_ready=min_ready,
        )

    status = judge({})
    pod = log_tail_pod(status) if with_log_tail and status.is_failed else None
    tail = client.pod_log_tail(pod, namespace) if pod else None
    return judge({pod: tail}) if pod and tail else status


def follow(
    read: Callable[[], WorkloadStatus],
    *,
    timeout: float,
    poll_interval: float,
    until: Callable[[WorkloadStatus], bool],
    on_status: Callable[[WorkloadStatus], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[WorkloadStatus, float]:
    """Read the workload every ``poll_interval`` until ``until`` holds or ``timeout`` passes.

    Args:
        read: One look at the workload (e.g. :func:`observe` bound to a hook).
        timeout: Seconds to follow it; 0 reads it once.
        poll_interval: Seconds between reads.
        until: When to stop before ``timeout``.
        on_status: Called with every status whose fingerprint changed (progress logs).
        sleep: Injected for tests.
        clock: Injected for tests.

    Returns:
        The last status and the seconds followed.
    """
    started = clock()
    deadline = started + timeout
    last = ""
    while True:
        status = read()
        if on_status is not None and status.fingerprint() != last:
            on_status(status)
            last = status.fingerprint()
        now = clock()
        if until(status) or now >= deadline:
            return status, now - started
        sleep(min(poll_interval, deadline - now))
