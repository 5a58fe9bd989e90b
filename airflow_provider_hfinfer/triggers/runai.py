"""The deferrable Run:ai readiness wait: a trigger that polls with backoff (the API has no watch).

This module owns :class:`RunaiReadyTrigger`. In the triggerer it reads the
workload with one ``GET /api/v1/workloads/{workloadId}`` per look (the token
is fetched once and reused for its lifetime), judges it with the same
readiness mapping and verdict as the polling waits, and ends with exactly one
:class:`~.events.ReadinessEvent`: ready, failed (the mapped reason and message)
or timeout. Between looks it waits ``poll_interval`` seconds, doubling the wait
each time nothing changed, up to ``max_interval``, and starting over from
``poll_interval`` when something did: at most one request every
``poll_interval`` seconds while a workload changes, one a ``max_interval`` while
it loads a model for half an hour. Only the connection id, names and ids are
serialized, never a credential. The HTTP call runs in a worker thread, so the
triggerer's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hfinfer.status import DEFAULT_GRACE_PERIOD_SECONDS, WorkloadStatus
from airflow_provider_hfinfer.status.verdict import Outcome, WaitRule, verdict
from airflow_provider_hfinfer.triggers.events import ReadinessEvent, ReadinessOutcome

CLASSPATH = "airflow_provider_hfinfer.triggers.runai.RunaiReadyTrigger"


def next_interval(current: float, changed: bool, *, first: float, cap: float) -> float:
    """The wait before the next look: back to ``first`` after a change, else doubled (pure)."""
    return first if changed else min(current * 2, cap)


class RunaiReadyTrigger(BaseTrigger):
    """Wait in the triggerer until a Run:ai inference workload serves, fails or runs out of time.

    Args:
        name: The workload name.
        namespace: Its Run:ai project.
        runai_conn_id: The Airflow ``runai`` connection; the triggerer reads it itself.
        workload_id: The workload's id, when known (else found by name on the first look).
        written_at: ISO time (the control plane's clock) of the task's last write; an
            older phase still describes the previous spec.
        timeout: Seconds from ``started_at`` after which a ``timeout`` event is emitted.
        started_at: Epoch seconds the wait began (kept across triggerer restarts).
        grace_period: Seconds failures that may heal are waited on.
        min_ready_replicas: Replicas that must run (default: Run:ai's minimum).
        accept_scaled_to_zero: A workload held at zero replicas counts as ready.
        poll_interval: Seconds between looks while the workload changes.
        max_interval: Longest wait between looks while nothing changes.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        runai_conn_id: str = "runai_default",
        *,
        workload_id: str | None = None,
        written_at: str | None = None,
        timeout: float | None = None,
        started_at: float | None = None,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        min_ready_replicas: int | None = None,
        accept_scaled_to_zero: bool = False,
        poll_interval: float = 5.0,
        max_interval: float = 60.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is untyped
        self.name = name
        self.namespace = namespace
        self.runai_conn_id = runai_conn_id
        self.workload_id = workload_id
        self.written_at = written_at
        self.timeout = None if timeout is None else float(timeout)
        self.started_at = time.time() if started_at is None else float(started_at)
        self.grace_period = float(grace_period)
        self.min_ready_replicas = min_ready_replicas
        self.accept_scaled_to_zero = bool(accept_scaled_to_zero)
        self.poll_interval = max(0.01, float(poll_interval))
        self.max_interval = max(self.poll_interval, float(max_interval))
        self.looks = 0
        """Reads sent by the last run (for tests and the README's request-rate figures)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-primitive keyword arguments (no credentials)."""
        return (
            CLASSPATH,
            {
                "name": self.name,
                "namespace": self.namespace,
                "runai_conn_id": self.runai_conn_id,
                "workload_id": self.workload_id,
                "written_at": self.written_at,
                "timeout": self.timeout,
                "started_at": self.started_at,
                "grace_period": self.grace_period,
                "min_ready_replicas": self.min_ready_replicas,
                "accept_scaled_to_zero": self.accept_scaled_to_zero,
                "poll_interval": self.poll_interval,
                "max_interval": self.max_interval,
            },
        )

    def _look(self) -> WorkloadStatus:
        """One read (in a worker thread): find the workload once, then judge it."""
        from airflow_provider_hfinfer.hooks.runai import RunaiHook
        from airflow_provider_hfinfer.runai.apply import observe_named

        if not hasattr(self, "_session"):
            self._session = RunaiHook(self.runai_conn_id).session
        status, _, workload_id = observe_named(
            self._session,
            self.name,
            self.namespace,
            workload_id=self.workload_id,
            grace_period=self.grace_period,
            min_ready=self.min_ready_replicas,
            written_at=datetime.fromisoformat(self.written_at) if self.written_at else None,
        )
        self.workload_id = workload_id or self.workload_id
        return status

    def _event(
        self, outcome: ReadinessOutcome, status: WorkloadStatus, message: str | None = None
    ) -> TriggerEvent:
        event = ReadinessEvent.from_status(
            outcome,
            status,
            name=self.name,
            namespace=self.namespace,
            elapsed_seconds=time.time() - self.started_at,
            message=message,
        )
        return TriggerEvent(event.model_dump(mode="json"))  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Look, judge, back off; yield one event when the wait is over."""
        rule = WaitRule(accept_scaled_to_zero=self.accept_scaled_to_zero)
        interval, last = self.poll_interval, ""
        while True:
            status = await asyncio.to_thread(self._look)
            self.looks += 1
            outcome = verdict(status, rule)
            if outcome is Outcome.SERVING:
                yield self._event("ready", status)
                return
            if outcome is Outcome.FAILED:
                yield self._event("failed", status)
                return
            remaining = (
                None if self.timeout is None else self.started_at + self.timeout - time.time()
            )
            if remaining is not None and remaining <= 0:
                text = f"not ready after {self.timeout:.0f}s: {status.message}"
                yield self._event("timeout", status, text)
                return
            changed = status.fingerprint() != last
            last = status.fingerprint()
            if changed:
                self.log.info(
                    "%s/%s: %s (%s)", self.namespace, self.name, status.phase.value, status.reason
                )
            interval = next_interval(
                interval, changed, first=self.poll_interval, cap=self.max_interval
            )
            await asyncio.sleep(interval if remaining is None else min(interval, remaining))
