"""Airflow operators of the provider."""

from __future__ import annotations

from airflow_provider_hfinfer.operators.inference import (
    HFInferenceCreateOperator,
    HFInferenceDeleteOperator,
)

__all__ = ["HFInferenceCreateOperator", "HFInferenceDeleteOperator"]
