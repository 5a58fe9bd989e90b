"""What the Run:ai inference API cannot express: refused before any request, with the reason.

This module owns :func:`runai_problems` and :func:`check_runai`. A spec that is
valid for the kubernetes backend may still ask for something the NVIDIA Run:ai
REST API (versions 2.22 to 3.0) has no field for, or bounds more tightly; every
such field is named with the API's rule and the fix, never dropped silently
(an inline token is not among them: it becomes a Run:ai credential, see
:mod:`.credential`):

* ``compute.gpu_memory``: Run:ai reads ``gpuMemoryRequest`` as a fraction of one
  GPU (GPU sharing), not as "nodes whose GPUs have this much", and refuses it
  with more than one GPU device;
* ``autoscaling.threshold`` that is not whole (``metricThreshold`` is an integer);
* ``scale_to_zero.idle_seconds`` over 3600 (``scaleToZeroRetentionSeconds``);
* ``tolerations[].toleration_seconds`` of 0 (``seconds`` is at least 1);
* label and annotation keys over 63 characters (Run:ai's ``name`` limit);
* a PVC claim name over 63 characters (``claimName``);
* ``update_strategy: Recreate`` (Run:ai rolls a new revision out next to the old);
* ``cache.prewarm`` (a Kubernetes Job beside the workload, which Run:ai's API has no
  place for).

Pure: no I/O.
"""

from __future__ import annotations

from airflow_provider_hfinfer.exceptions import SpecError
from airflow_provider_hfinfer.spec import InferenceWorkload

MAX_RUNAI_KEY = 63
"""Longest annotation or label ``name`` the Run:ai API accepts."""
MAX_RETENTION_SECONDS = 3600
"""Largest ``autoscaling.scaleToZeroRetentionSeconds``."""


def _compute_problems(workload: InferenceWorkload) -> list[str]:
    problems = []
    if workload.compute.gpu_memory:
        problems.append(
            f"compute.gpu_memory ({workload.compute.gpu_memory}) has no Run:ai equivalent: the "
            "API's gpuMemoryRequest asks for that much of one shared GPU (fractional GPUs, "
            "refused with more than one GPU device), not for nodes whose GPUs have that "
            "much memory: remove it and pick the GPU model with node_type or node_pools"
        )
    return problems


def _scaling_problems(workload: InferenceWorkload) -> list[str]:
    problems = []
    rule = workload.autoscaling
    if rule is not None and rule.threshold != int(rule.threshold):
        problems.append(
            f"autoscaling.threshold ({rule.threshold:g}) must be a whole number for Run:ai "
            f"(autoscaling.metricThreshold is an integer): use {int(rule.threshold) or 1} "
            f"or {int(rule.threshold) + 1}"
        )
    idle = workload.scale_to_zero.idle_seconds if workload.scale_to_zero else None
    if idle is not None and idle > MAX_RETENTION_SECONDS:
        problems.append(
            f"scale_to_zero.idle_seconds ({idle}) is over Run:ai's limit of "
            f"{MAX_RETENTION_SECONDS} (autoscaling.scaleToZeroRetentionSeconds): use at "
            "most '1h'"
        )
    if workload.update_strategy == "Recreate":
        problems.append(
            "update_strategy 'Recreate' has no Run:ai equivalent: Run:ai rolls every update "
            "out as a new revision next to the serving one and has no field to stop the old "
            "replicas first: remove update_strategy (RollingUpdate is what Run:ai does)"
        )
    return problems


def _placement_problems(workload: InferenceWorkload) -> list[str]:
    problems = []
    for item in workload.tolerations:
        if item.toleration_seconds == 0:
            problems.append(
                f"tolerations[{item.key}].toleration_seconds is 0, but Run:ai's toleration "
                "seconds must be at least 1: use 1, or remove toleration_seconds to tolerate "
                "the taint for as long as it lasts"
            )
    return problems


def _metadata_problems(workload: InferenceWorkload) -> list[str]:
    problems = []
    for field, mapping in (("labels", workload.labels), ("annotations", workload.annotations)):
        for key in mapping:
            if len(key) > MAX_RUNAI_KEY:
                problems.append(
                    f"{field} key {key[:20]!r}... is {len(key)} characters, more than the "
                    f"{MAX_RUNAI_KEY} Run:ai accepts for a {field[:-1]} name: use a shorter key"
                )
    claim = workload.cache.claim_name
    if claim and len(claim) > MAX_RUNAI_KEY:
        problems.append(
            f"cache.claim_name is {len(claim)} characters, more than the {MAX_RUNAI_KEY} "
            "Run:ai accepts for storage.pvc[].claimName: use a claim with a shorter name"
        )
    if workload.cache.prewarm:
        problems.append(
            "cache.prewarm fills the claim with a Kubernetes Job before the replicas start, "
            "and the Run:ai backend submits one inference workload and nothing else: remove "
            "cache.prewarm (the replicas then download into the claim themselves), or "
            "prewarm the claim once with the kubernetes backend"
        )
    return problems


def runai_problems(workload: InferenceWorkload) -> list[str]:
    """Every field of ``workload`` the Run:ai API cannot express, one line each (pure).

    Args:
        workload: A spec already valid for the kubernetes backend.

    Returns:
        Lines naming the field, Run:ai's rule and the fix; empty when it can be submitted.
    """
    problems = _compute_problems(workload)
    problems += _scaling_problems(workload)
    problems += _placement_problems(workload)
    problems += _metadata_problems(workload)
    return problems


def check_runai(workload: InferenceWorkload) -> None:
    """Refuse a spec the Run:ai API cannot express.

    Raises:
        SpecError: One line per field, each with the rule and the fix.
    """
    problems = runai_problems(workload)
    if problems:
        raise SpecError(
            "invalid workload spec for the runai backend (backend='runai'):\n  "
            + "\n  ".join(problems)
        )
