"""Airflow operators of the provider."""

from __future__ import annotations

from airflow_provider_hfinfer.operators.cleanup import HFInferenceCleanupOperator
from airflow_provider_hfinfer.operators.complete import HFInferenceCompleteOperator
from airflow_provider_hfinfer.operators.create import HFInferenceCreateOperator
from airflow_provider_hfinfer.operators.delete import HFInferenceDeleteOperator
from airflow_provider_hfinfer.operators.request import HFInferenceRequestOperator
from airflow_provider_hfinfer.operators.update import HFInferenceUpdateOperator

__all__ = [
    "HFInferenceCleanupOperator",
    "HFInferenceCompleteOperator",
    "HFInferenceCreateOperator",
    "HFInferenceDeleteOperator",
    "HFInferenceRequestOperator",
    "HFInferenceUpdateOperator",
]
