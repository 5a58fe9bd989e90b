"""The workload spec: typed, validated models of the Hugging Face inference form.

Importing this package imports neither ``kubernetes`` nor ``airflow``.
"""

from __future__ import annotations

from airflow_provider_hfinfer.spec.models import (
    DEFAULT_IMAGE,
    MAX_NAME_LENGTH,
    PROVIDER_PREFIX,
    Autoscaling,
    Compute,
    EndpointAccess,
    ExistingSecretHFAccess,
    ModelCache,
    ModelRef,
    NewSecretHFAccess,
    NoHFAccess,
    Replicas,
    ScaleToZero,
    TokenHFAccess,
    Toleration,
    VLLMOptions,
)
from airflow_provider_hfinfer.spec.workload import InferenceWorkload

__all__ = [
    "DEFAULT_IMAGE",
    "MAX_NAME_LENGTH",
    "PROVIDER_PREFIX",
    "Autoscaling",
    "Compute",
    "EndpointAccess",
    "ExistingSecretHFAccess",
    "InferenceWorkload",
    "ModelCache",
    "ModelRef",
    "NewSecretHFAccess",
    "NoHFAccess",
    "Replicas",
    "ScaleToZero",
    "TokenHFAccess",
    "Toleration",
    "VLLMOptions",
]
