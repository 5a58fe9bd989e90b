"""Airflow hooks of the provider."""

from __future__ import annotations

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook

__all__ = ["HFInferenceHook"]
