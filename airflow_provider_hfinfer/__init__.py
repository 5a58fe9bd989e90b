"""Airflow provider that deploys Hugging Face models as vLLM inference services.

This module owns the package version and the provider metadata that Airflow
reads through the ``apache_airflow_provider`` entry point. It imports nothing
heavy so that ``import airflow_provider_hfinfer`` stays cheap for DAG parsing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-hfinfer"
INTEGRATION = "Hugging Face inference on Kubernetes"


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow shows in ``airflow providers list``.

    Returns:
        A dict that validates against Airflow's provider-info JSON schema.
    """
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION,
        "description": (
            "Deploy Hugging Face models as vLLM GPU inference services on Kubernetes, "
            "wait until they serve, roll them forward and clean them up."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "tags": ["software", "ml", "kubernetes"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hfinfer.operators.base",
                    "airflow_provider_hfinfer.operators.create",
                    "airflow_provider_hfinfer.operators.update",
                    "airflow_provider_hfinfer.operators.request",
                    "airflow_provider_hfinfer.operators.delete",
                    "airflow_provider_hfinfer.operators.complete",
                    "airflow_provider_hfinfer.operators.cleanup",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_hfinfer.sensors.readiness"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hfinfer.hooks.inference",
                    "airflow_provider_hfinfer.hooks.runai",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_hfinfer.triggers.readiness",
                    "airflow_provider_hfinfer.triggers.runai",
                ],
            }
        ],
        # The Kubernetes hook uses the cncf-kubernetes provider's "kubernetes" connection
        # (registering it again would clash); the Run:ai hook has its own type.
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_hfinfer.hooks.runai.RunaiHook",
                "connection-type": "runai",
            }
        ],
        "extra-links": ["airflow_provider_hfinfer.links.endpoint.HFInferenceEndpointLink"],
    }
