"""The deferrable readiness wait: a trigger that watches a workload until it serves.

This module owns :class:`InferenceReadyTrigger`. In the triggerer it opens the
cncf-kubernetes ``AsyncKubernetesHook`` connection (only the connection id,
and optionally a config file and context, are serialized; never credentials),
shares one API client per connection among the triggers of the event loop
(:mod:`airflow_provider_hfinfer.kube.shared`), follows the workload's Deployment,
ReplicaSets, pods and events with :class:`~airflow_provider_hfinfer.kube.watch.
WorkloadWatch` (list + watch with resourceVersion, no polling; the watches are
shared by every trigger of the namespace, :mod:`airflow_provider_hfinfer.kube.
informer`), re-assesses with
the shared readiness model and the one verdict on every change (and on
a short clock tick, so grace periods run out without a cluster change), and
ends with exactly one :class:`~.events.ReadinessEvent`: ready, failed (with
the model's reason and message) or timeout (with the last message).

Endpoint verification is not done here: the task verifies the endpoint in
``execute_complete`` with the same synchronous code as poke mode, so both
modes judge "serving" identically.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hfinfer.exceptions import AccessDeniedError
from airflow_provider_hfinfer.kube.shared import shared_api_client
from airflow_provider_hfinfer.kube.watch import WatchSettings, WorkloadWatch, watch_workload
from airflow_provider_hfinfer.status import (
    DEFAULT_GRACE_PERIOD_SECONDS,
    Phase,
    WorkloadStatus,
    assess,
    progress_line,
)
from airflow_provider_hfinfer.status.coldstart import DEFAULT_STALL_AFTER_SECONDS
from airflow_provider_hfinfer.status.verdict import Outcome, WaitRule, log_tail_pod, verdict
from airflow_provider_hfinfer.triggers.coldstart import TriggerColdStart
from airflow_provider_hfinfer.triggers.events import ReadinessEvent, ReadinessOutcome

CLASSPATH = "airflow_provider_hfinfer.triggers.readiness.InferenceReadyTrigger"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _trigger_event(event: ReadinessEvent) -> TriggerEvent:
    """Wrap the typed event in Airflow's (untyped) ``TriggerEvent``, JSON-ready."""
    return TriggerEvent(event.model_dump(mode="json"))  # type: ignore[no-untyped-call]


class InferenceReadyTrigger(BaseTrigger):
    """Wait in the triggerer until an inference workload serves, fails or runs out of time.

    Args:
        name: The workload (Deployment) name.
        namespace: Its namespace.
        kubernetes_conn_id: The Airflow Kubernetes connection; the triggerer
            reads it itself, so no credential is serialized.
        config_file: Optional kubeconfig path on the triggerer host.
        cluster_context: Optional kubeconfig context.
        in_cluster: Optional override of the connection's in-cluster setting.
        timeout: Seconds from ``started_at`` after which a ``timeout`` event
            is emitted (None: wait until the task's own deferral timeout).
        started_at: Epoch seconds the wait began; kept across triggerer
            restarts so the deadline and ``elapsed_seconds`` do not restart.
        grace_period: Seconds failures that heal on their own are waited on
            before they count as terminal (failures only a user can fix wait
            less; see :mod:`~airflow_provider_hfinfer.status.healing`).
        grace_periods: Seconds per failure class, overriding its default.
        min_ready_replicas: Ready replicas required (default: all desired).
        accept_scaled_to_zero: A workload its autoscaler holds at zero counts as ready.
        resync_interval: Seconds (jittered up to twice as long) after which each
            watch is renewed from its last resourceVersion; lists are only sent
            again after a 410 Gone.
        tick: Longest time between re-assessments without a cluster change, so
            grace periods run out on time (default: a tenth of the grace period,
            between 0.1 and 5 s; each wait is jittered between half of it and all
            of it). Re-assessing reads the cache; it sends no request.
        stall_after: Seconds a cold-start phase may show no progress before a
            warning names it and its likely cause.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        kubernetes_conn_id: str = "kubernetes_default",
        *,
        config_file: str | None = None,
        cluster_context: str | None = None,
        in_cluster: bool | None = None,
        timeout: float | None = None,
        started_at: float | None = None,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        grace_periods: Mapping[str, float] | None = None,
        min_ready_replicas: int | None = None,
        accept_scaled_to_zero: bool = False,
        resync_interval: float = 300.0,
        tick: float | None = None,
        stall_after: float = DEFAULT_STALL_AFTER_SECONDS,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is untyped
        self.name = name
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.in_cluster = in_cluster
        self.timeout = None if timeout is None else float(timeout)
        self.started_at = time.time() if started_at is None else float(started_at)
        self.grace_period = float(grace_period)
        self.grace_periods = {key: float(value) for key, value in (grace_periods or {}).items()}
        self.min_ready_replicas = min_ready_replicas
        self.accept_scaled_to_zero = bool(accept_scaled_to_zero)
        self.resync_interval = float(resync_interval)
        self.tick = float(tick) if tick is not None else min(5.0, max(0.1, grace_period / 10))
        self.stall_after = float(stall_after)
        self.cold_start: TriggerColdStart | None = None
        """Follows the cold start of the current run (phase lines, the event's breakdown)."""
        self.stats: Any = None
        """The last run's :class:`~airflow_provider_hfinfer.kube.watch.WatchStats`, for tests."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-primitive keyword arguments (no credentials)."""
        return (
            CLASSPATH,
            {
                "name": self.name,
                "namespace": self.namespace,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "config_file": self.config_file,
                "cluster_context": self.cluster_context,
                "in_cluster": self.in_cluster,
                "timeout": self.timeout,
                "started_at": self.started_at,
                "grace_period": self.grace_period,
                "grace_periods": self.grace_periods,
                "min_ready_replicas": self.min_ready_replicas,
                "accept_scaled_to_zero": self.accept_scaled_to_zero,
                "resync_interval": self.resync_interval,
                "tick": self.tick,
                "stall_after": self.stall_after,
            },
        )

    def _hook(self, client_configuration: Any = None) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook

        return AsyncKubernetesHook(
            conn_id=self.kubernetes_conn_id,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            in_cluster=self.in_cluster,
            client_configuration=client_configuration,
        )

    @property
    def _connection_key(self) -> tuple[str, str | None, str | None, bool | None]:
        return (self.kubernetes_conn_id, self.config_file, self.cluster_context, self.in_cluster)

    @property
    def deadline(self) -> float | None:
        """Epoch seconds after which the wait reports ``timeout``."""
        return None if self.timeout is None else self.started_at + self.timeout

    def _elapsed(self) -> float:
        return max(0.0, time.time() - self.started_at)

    def _event(
        self, outcome: ReadinessOutcome, status: WorkloadStatus, **override: str
    ) -> ReadinessEvent:
        return ReadinessEvent.from_status(
            outcome,
            status,
            name=self.name,
            namespace=self.namespace,
            elapsed_seconds=self._elapsed(),
            cold_start=self.cold_start.breakdown() if self.cold_start else None,
            **override,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch until ready, failed or timed out; yield exactly one event."""
        self.log.info(
            "waiting for workload %s/%s to serve (watching, resync every %.0fs)",
            self.namespace,
            self.name,
            self.resync_interval,
        )
        event = await self._wait()
        self.log.info("%s", event.describe())
        yield _trigger_event(event)

    async def _wait(self) -> ReadinessEvent:
        try:
            return await self._wait_connected()
        except Exception as err:  # noqa: BLE001 - any failure to connect ends the wait readably
            self.log.warning("cannot reach the cluster of %s: %s", self.kubernetes_conn_id, err)
            return ReadinessEvent(
                status="failed",
                name=self.name,
                namespace=self.namespace,
                phase=Phase.NOT_FOUND.value,
                reason="ConnectionFailed",
                message=(
                    f"cannot connect with Kubernetes connection {self.kubernetes_conn_id!r}: "
                    f"{type(err).__name__}: {err}"
                ),
                elapsed_seconds=round(self._elapsed(), 3),
            )

    async def _wait_connected(self) -> ReadinessEvent:
        settings = WatchSettings(resync_seconds=self.resync_interval)
        async with (
            shared_api_client(self._connection_key, self._hook) as api_client,
            watch_workload(api_client, self.name, self.namespace, settings) as watch,
        ):
            self.stats = watch.stats
            follower = asyncio.ensure_future(watch.run())
            try:
                return await self._decide(watch, follower)
            finally:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)

    async def _assess(self, watch: WorkloadWatch, log_tails: dict[str, str]) -> WorkloadStatus:
        deployment = watch.snapshot()["deployment"]
        scaler = None
        if isinstance(deployment, dict) and (deployment.get("spec") or {}).get("replicas") == 0:
            scaler = await watch.scaler()
        return assess(
            **watch.snapshot(scaler),
            now=_now(),
            grace_period_seconds=self.grace_period,
            grace_periods=self.grace_periods,
            log_tails=log_tails,
            min_ready=self.min_ready_replicas,
        )

    async def _with_logs(self, watch: WorkloadWatch, status: WorkloadStatus) -> WorkloadStatus:
        """Re-assess a terminal crash with the crashed pod's log tail quoted."""
        pod = log_tail_pod(status)
        tail = await watch.log_tail(pod) if pod else None
        if not pod or not tail:
            return status
        return await self._assess(watch, {pod: tail})

    def _verdict(self, status: WorkloadStatus) -> ReadinessOutcome | None:
        outcome = verdict(status, WaitRule(accept_scaled_to_zero=self.accept_scaled_to_zero))
        if outcome is Outcome.SERVING:
            return "ready"
        if outcome is Outcome.FAILED:
            return "failed"
        return None

    async def _decide(self, watch: WorkloadWatch, follower: asyncio.Future[None]) -> ReadinessEvent:
        last_fingerprint = ""
        status: WorkloadStatus | None = None
        self.cold_start = TriggerColdStart(
            self.name, self.log, stall_after=self.stall_after, min_ready=self.min_ready_replicas
        )
        while True:
            if follower.done():
                return self._watch_failed(follower, status)
            if watch.synced:
                status = await self._assess(watch, {})
                if status.fingerprint() != last_fingerprint:
                    last_fingerprint = status.fingerprint()
                    self.log.info("%s", progress_line(status, name=self.name))
                outcome = self._verdict(status)
                await self.cold_start.observe(
                    watch, final=outcome is not None, ready=outcome == "ready"
                )
                if outcome == "failed":
                    return self._event(outcome, await self._with_logs(watch, status))
                if outcome is not None:
                    return self._event(outcome, status)
            deadline = self.deadline
            remaining = self.tick if deadline is None else deadline - time.time()
            if remaining <= 0:
                return self._timed_out(status)
            watch.changed.clear()
            # Jittered, so that many waits of one triggerer do not re-assess at once.
            tick = self.tick * random.uniform(0.5, 1.0)
            try:
                await asyncio.wait_for(watch.changed.wait(), timeout=min(tick, remaining))
            except TimeoutError:
                pass

    def _timed_out(self, status: WorkloadStatus | None) -> ReadinessEvent:
        waited = f"not ready after {self.timeout:.0f}s"
        if status is None:
            return ReadinessEvent(
                status="timeout",
                name=self.name,
                namespace=self.namespace,
                phase=Phase.NOT_FOUND.value,
                reason="Timeout",
                message=f"{waited}: the workload's objects could not be listed",
                elapsed_seconds=round(self._elapsed(), 3),
            )
        return self._event("timeout", status, message=f"{waited}: {status.message}")

    def _watch_failed(
        self, follower: asyncio.Future[None], status: WorkloadStatus | None
    ) -> ReadinessEvent:
        error = follower.exception() if not follower.cancelled() else None
        reason = "WatchFailed"
        message = f"watching the workload stopped: {error or 'cancelled'}"
        if isinstance(error, AccessDeniedError):
            reason = error.reason or "Forbidden"
            message = (
                f"the connection may not watch the workload's objects ({error.status} "
                f"{reason}: {error.message}); grant get/list/watch on deployments, "
                "replicasets, pods and events (see deploy/rbac.yaml)"
            )
        return ReadinessEvent(
            status="failed",
            name=self.name,
            namespace=self.namespace,
            phase=status.phase.value if status else Phase.NOT_FOUND.value,
            reason=reason,
            message=message,
            ready_replicas=status.ready_replicas if status else 0,
            desired_replicas=status.desired_replicas if status else 0,
            elapsed_seconds=round(self._elapsed(), 3),
        )

    async def cleanup(self) -> None:
        """Release nothing but local state: the workload is never touched here.

        ``cleanup()`` also runs when the triggerer restarts or hands the trigger
        to another triggerer, so deleting or marking the workload here would
        break a wait that simply moves.
        """
        await super().cleanup()

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow >= 3.3): there is no job to cancel.

        The trigger only observes; the workload belongs to the task that created
        it. The create operator's ``on_failure`` policy runs from its
        ``on_failure_callback`` when the task fails, so nothing is deleted here.
        """
        self.log.info(
            "readiness wait for %s/%s cancelled by a user; the workload is left as it is",
            self.namespace,
            self.name,
        )
