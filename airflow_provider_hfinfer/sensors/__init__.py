"""Airflow sensors of the provider."""

from __future__ import annotations

from airflow_provider_hfinfer.sensors.readiness import InferenceReadySensor

__all__ = ["InferenceReadySensor"]
