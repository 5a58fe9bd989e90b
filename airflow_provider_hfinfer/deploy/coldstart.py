"""Following a cold start: one log line per phase change, a warning per stall, the breakdown.

This module owns how a waiter reports the cold-start model
(:mod:`airflow_provider_hfinfer.status.coldstart`): :class:`ColdStartReport`
decides what to log (one line when the workload's or a pod's phase changes,
with the time so far; one warning per pod and phase that stalls, with its
likely cause) and keeps the log tails it was given so that a phase split seen
once survives the tail scrolling on. :class:`ColdStartFollower` adds the reads
a synchronous waiter (the sensor, the operators' polling wait) needs: the log
tails of pods that are downloading or loading, dated by the kubelet, at most
once per ``log_interval`` per pod. The trigger uses :class:`ColdStartReport`
with its own asynchronous reads. It reaches the cluster only through the
hook-like :class:`LogClient` and imports no Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from airflow_provider_hfinfer.status.coldstart import (
    DEFAULT_STALL_AFTER_SECONDS,
    ColdStart,
    StartPhase,
    cold_start,
    failure_note,
    with_note,
)

__all__ = ["ColdStartFollower", "ColdStartReport", "failure_note", "with_note"]

LOG_TAIL_LINES = 300
"""Enough of a vLLM log to still hold the first shard line once the server is up."""

LOG_INTERVAL_SECONDS = 15.0
"""A downloading or loading pod's log is read at most this often."""


class Log(Protocol):
    """Where the report goes (a ``logging.Logger`` or Airflow's task log)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Report a phase change."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Report a stall."""


class LogClient(Protocol):
    """The one read the follower adds (``HFInferenceHook`` has it)."""

    def pod_log_tail(
        self, pod: str, namespace: str, lines: int = 20, *, timestamps: bool = False
    ) -> str | None:
        """A pod's last log lines; None when they cannot be read."""


def _split(durations: Mapping[str, float], download: float) -> dict[str, float]:
    """Durations whose unsplit time after the start is split at ``download`` seconds."""
    merged = dict(durations)
    lump = merged.pop(StartPhase.DOWNLOADING_OR_LOADING.key, None)
    if lump is not None:
        merged[StartPhase.DOWNLOADING_WEIGHTS.key] = download
        merged[StartPhase.LOADING_MODEL.key] = round(max(0.0, lump - download), 3)
    return merged


class ColdStartReport:
    """What a waiter logs about a cold start, and the last breakdown.

    Args:
        name: The workload, leading every line.
        log: Where lines and warnings go.
        stall_after: Seconds without progress before a phase is reported as stalled.
        min_ready: Ready replicas required (default: all desired).
        clock: Monotonic seconds, injected for tests.
    """

    def __init__(
        self,
        name: str,
        log: Log,
        *,
        stall_after: float = DEFAULT_STALL_AFTER_SECONDS,
        min_ready: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.log = log
        self.stall_after = stall_after
        self.min_ready = min_ready
        self.clock = clock
        self.log_interval = LOG_INTERVAL_SECONDS
        """Seconds between reads of one pod's log (the module default, read at start)."""
        self._read_at: dict[str, float] = {}
        self.tails: dict[str, str] = {}
        self.last: ColdStart | None = None
        self._key: tuple[str, ...] = ()
        self._warned: set[tuple[str, int]] = set()
        self._splits: dict[str, float] = {}

    def assess(self, snapshot: Mapping[str, Any], now: Any) -> ColdStart | None:
        """The cold start of ``snapshot`` at ``now``, with the tails kept so far."""
        return cold_start(
            **snapshot,
            now=now,
            log_tails=self.tails,
            min_ready=self.min_ready,
            stall_after_seconds=self.stall_after,
        )

    def report(self, start: ColdStart | None) -> ColdStart | None:
        """Log a phase change or a new stall; remember the start (splits survive)."""
        if start is None:
            return None
        start = self._keep_splits(start)
        if start.key() != self._key:
            self._key = start.key()
            self.log.info("%s", start.line(self.name))
        for stall in start.stalls:
            # By rank: "downloading weights / loading" becoming "downloading weights"
            # once the log is read is the same stall, warned once.
            seen = (stall.pod, stall.phase.rank)
            if seen not in self._warned:
                self._warned.add(seen)
                self.log.warning("%s: %s", self.name, stall.describe())
        self.last = start
        return start

    def _keep_splits(self, start: ColdStart) -> ColdStart:
        """Pods once split into downloading and loading stay split when the tail scrolls."""
        pods = []
        phases = start.phases
        for pod in start.pods:
            if StartPhase.LOADING_MODEL.key in pod.durations:
                self._splits[pod.name] = pod.durations[StartPhase.DOWNLOADING_WEIGHTS.key]
            elif pod.phase is StartPhase.SERVING and pod.name in self._splits:
                durations = _split(pod.durations, self._splits[pod.name])
                if pod.name == start.pod:
                    phases = _split(phases, self._splits[pod.name])
                pod = pod.model_copy(update={"durations": durations})
            pods.append(pod)
        return start.model_copy(update={"pods": tuple(pods), "phases": phases})

    def tails_due(self, start: ColdStart | None, *, final: bool = False) -> list[str]:
        """Pods whose log tail is worth reading now (each at most every ``LOG_INTERVAL``).

        Those downloading or loading; with ``final``, also every pod whose time
        after its container started is not split yet, whatever the interval.
        """
        if start is None:
            return []
        reading = (
            StartPhase.DOWNLOADING_WEIGHTS,
            StartPhase.DOWNLOADING_OR_LOADING,
            StartPhase.LOADING_MODEL,
        )
        unsplit = StartPhase.DOWNLOADING_OR_LOADING.key
        moment = self.clock()
        due = []
        for pod in start.pods:
            if final and unsplit in pod.durations:
                due.append(pod.name)
            elif pod.phase in reading:
                last = self._read_at.get(pod.name)
                if last is None or moment - last >= self.log_interval:
                    due.append(pod.name)
        for name in due:
            self._read_at[name] = moment
        return due

    def breakdown(self) -> dict[str, Any] | None:
        """The last cold start as the ``cold_start`` XCom entry (None before any)."""
        if self.last is None:
            return None
        return self.last.breakdown()


class ColdStartFollower(ColdStartReport):
    """A :class:`ColdStartReport` that reads the log tails itself, through a hook.

    Args:
        name: The workload.
        namespace: Its namespace.
        client: The log reads.
        log: Where lines and warnings go.
        stall_after: Seconds without progress before a phase is reported as stalled.
        min_ready: Ready replicas required.
    """

    def __init__(
        self,
        name: str,
        namespace: str,
        client: LogClient,
        log: Log,
        *,
        stall_after: float = DEFAULT_STALL_AFTER_SECONDS,
        min_ready: int | None = None,
    ) -> None:
        super().__init__(name, log, stall_after=stall_after, min_ready=min_ready)
        self.namespace = namespace
        self.client = client

    def observe(self, snapshot: Mapping[str, Any], now: Any, *, final: bool = False) -> None:
        """Judge ``snapshot`` (reading the tails that split it) and report it.

        With ``final`` the tails of every current pod whose split is unknown are
        read once more, so the breakdown the task returns is as fine as it gets.
        """
        start = self.assess(snapshot, now)
        wanted = self.tails_due(start, final=final)
        for pod in wanted:
            tail = self.client.pod_log_tail(pod, self.namespace, LOG_TAIL_LINES, timestamps=True)
            if tail:
                self.tails[pod] = tail
        self.report(self.assess(snapshot, now) if wanted else start)
