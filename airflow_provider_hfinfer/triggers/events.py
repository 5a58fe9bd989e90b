"""The one typed event the readiness trigger emits, and how operators read it.

This module owns :class:`ReadinessEvent`: what a deferred sensor or operator
learns when its wait ends (ready, failed or timed out, with the readiness
model's phase, reason and message). It is pure pydantic so that the worker
side can validate the payload without importing any Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_hfinfer.status import WorkloadStatus

ReadinessOutcome = Literal["ready", "failed", "timeout"]


class ReadinessEvent(BaseModel):
    """How a readiness wait ended.

    Attributes:
        status: ``ready`` (serving), ``failed`` (will not serve without a
            change) or ``timeout`` (the deadline passed first).
        name: The workload (Deployment) name.
        namespace: Its namespace.
        phase: The readiness model's phase at the end (``Ready``, ``Failed``...).
        reason: The readiness model's reason (``Available``, ``CrashLoopBackOff``...).
        message: The readiness model's message: counts and causes.
        ready_replicas: Ready replicas of the current revision.
        desired_replicas: Replicas the Deployment asks for.
        elapsed_seconds: Seconds since the wait began (across triggerer restarts).
        cold_start: The cold-start breakdown when the wait ended (phase, seconds per
            phase in all and per pod), when the workload had pods.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: ReadinessOutcome
    name: str
    namespace: str
    phase: str
    reason: str
    message: str
    ready_replicas: int = 0
    desired_replicas: int = 0
    elapsed_seconds: float = Field(default=0.0, ge=0)
    cold_start: dict[str, Any] | None = None

    @classmethod
    def from_status(
        cls,
        outcome: ReadinessOutcome,
        status: WorkloadStatus,
        *,
        name: str,
        namespace: str,
        elapsed_seconds: float,
        message: str | None = None,
        reason: str | None = None,
        cold_start: dict[str, Any] | None = None,
    ) -> ReadinessEvent:
        """Build the event from a readiness verdict (message/reason may be overridden)."""
        return cls(
            status=outcome,
            name=name,
            namespace=namespace,
            phase=status.phase.value,
            reason=reason or status.reason,
            message=status.message if message is None else message,
            ready_replicas=status.ready_replicas,
            desired_replicas=status.desired_replicas,
            elapsed_seconds=round(max(0.0, elapsed_seconds), 3),
            cold_start=cold_start,
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any] | None) -> ReadinessEvent:
        """Validate a ``TriggerEvent`` payload (raises ``pydantic.ValidationError``)."""
        return cls.model_validate(dict(payload or {}))

    def describe(self) -> str:
        """One line for logs and task failures: ``ns/name: Failed (CrashLoopBackOff) ...``."""
        return (
            f"{self.namespace}/{self.name}: {self.status} after {self.elapsed_seconds:.0f}s, "
            f"{self.phase} ({self.reason}) - {self.message}"
        )
