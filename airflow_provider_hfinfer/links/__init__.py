"""Operator extra links: buttons in the Airflow UI that open what a task made."""

from __future__ import annotations

from airflow_provider_hfinfer.links.endpoint import HFInferenceEndpointLink

__all__ = ["HFInferenceEndpointLink"]
