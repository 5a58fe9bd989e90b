"""Airflow triggers of the provider (deferrable waits run in the triggerer)."""

from __future__ import annotations

from airflow_provider_hfinfer.triggers.events import ReadinessEvent
from airflow_provider_hfinfer.triggers.readiness import InferenceReadyTrigger

__all__ = ["InferenceReadyTrigger", "ReadinessEvent"]
