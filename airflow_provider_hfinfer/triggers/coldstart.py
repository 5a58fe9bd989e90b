"""The readiness trigger's cold-start report: phase lines and stall warnings from its watch.

This module owns the small hook the readiness trigger calls on every
re-assessment: :class:`TriggerColdStart` judges the watch cache with the
cold-start model, reads the log tails of downloading or loading pods through
the watch (at most every ``LOG_INTERVAL_SECONDS`` per pod), logs one line per
phase change and one warning per stall, and hands the breakdown to the event
the trigger emits. Kept apart from the trigger so that the trigger's watches can
change without touching it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_hfinfer.deploy.coldstart import LOG_TAIL_LINES, ColdStartReport

READY_LAG_SECONDS = 2.0
"""How long the pods' cache may trail the Deployment's once the workload serves."""


class TailSource(Protocol):
    """What the hook reads from the trigger's watch."""

    def snapshot(self, scaler: Any = None) -> Any:
        """The workload's objects, as ``assess`` takes them."""

    async def log_tail(self, pod: str, lines: int = 20) -> str | None:
        """A pod's last log lines; None when they cannot be read."""


class TriggerColdStart(ColdStartReport):
    """A :class:`~airflow_provider_hfinfer.deploy.coldstart.ColdStartReport` fed by a watch."""

    async def observe(self, watch: TailSource, *, final: bool = False, ready: bool = False) -> None:
        """Judge the watch's cache, read the tails that split it, report the result.

        Args:
            watch: The trigger's watch (its cache and its log reads).
            final: The wait ends now: read every unsplit pod's tail once more.
            ready: It ends because the workload serves. The Deployment's and the
                pods' watches deliver apart, so the pod that became ready may lag
                in the cache: it is given ``READY_LAG_SECONDS`` to catch up.
        """
        start = self.assess(watch.snapshot(), datetime.now(timezone.utc))
        waited = 0.0
        while ready and (start is None or not start.serving) and waited < READY_LAG_SECONDS:
            await asyncio.sleep(0.1)
            waited += 0.1
            start = self.assess(watch.snapshot(), datetime.now(timezone.utc))
        wanted = self.tails_due(start, final=final)
        for pod in wanted:
            tail = await watch.log_tail(pod, LOG_TAIL_LINES)
            if tail:
                self.tails[pod] = tail
        if wanted:
            start = self.assess(watch.snapshot(), datetime.now(timezone.utc))
        self.report(start)
