"""Airflow operators of the provider."""

from __future__ import annotations

from airflow_provider_hfinfer.operators.create import HFInferenceCreateOperator
from airflow_provider_hfinfer.operators.delete import HFInferenceDeleteOperator

__all__ = ["HFInferenceCreateOperator", "HFInferenceDeleteOperator"]
