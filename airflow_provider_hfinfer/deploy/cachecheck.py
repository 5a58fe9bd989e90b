"""The model cache check of a deploy: read the claim and the Hub's file sizes, judge them.

This module owns the I/O half of the ``pvc`` cache pre-flight: it reads the
PersistentVolumeClaim through the hook-like client, lists the model's files on
the Hub (their sizes say what the cache will hold), and applies the pure rules
of :mod:`airflow_provider_hfinfer.checks.preflight.cache` before anything is
applied, so a claim that would leave replicas pending never gets a GPU
requested. ``strict`` fails on an error, ``warn`` logs it, ``off`` skips. It
imports no Airflow.
"""

from __future__ import annotations

from typing import Any, Protocol

from airflow_provider_hfinfer.checks.preflight.cache import check_cache_claim
from airflow_provider_hfinfer.deploy.apply import Log
from airflow_provider_hfinfer.exceptions import HubAccessError, KubeAPIError, SpecError
from airflow_provider_hfinfer.render.prewarm import cache_files
from airflow_provider_hfinfer.spec import InferenceWorkload


class ClaimClient(Protocol):
    """The read the check needs (``HFInferenceHook`` has it)."""

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        """Read one object; None when it does not exist."""


def check_model_cache(
    client: ClaimClient,
    workload: InferenceWorkload,
    namespace: str,
    *,
    token: str | None,
    endpoint: str | None,
    mode: str,
    log: Log,
) -> int | None:
    """Check a ``pvc`` model cache before the workload is applied.

    Args:
        client: The cluster read.
        workload: The workload (nothing is checked unless ``cache.type`` is ``pvc``).
        namespace: The project's namespace.
        token: The Hugging Face token for the file listing (gated models).
        endpoint: The Hub base URL.
        mode: ``strict`` (an error fails the deploy), ``warn`` or ``off``.
        log: Where findings go.

    Returns:
        The bytes the cache will hold, when the Hub listed the files.

    Raises:
        SpecError: In ``strict`` mode, one line per error with the fix.
    """
    from airflow_provider_hfinfer.checks.preflight.hubfiles import fetch_files

    cache = workload.cache
    if cache.type != "pvc" or not cache.claim_name or mode == "off":
        return None
    try:
        pvc = client.get("v1", "PersistentVolumeClaim", cache.claim_name, namespace)
    except KubeAPIError as err:
        if err.status not in (401, 403):
            raise
        log.warning("model cache check skipped: cannot read PVC %s: %s", cache.claim_name, err)
        return None
    needed: int | None = None
    try:
        listing = fetch_files(
            workload.model.id, revision=workload.model.revision, token=token, endpoint=endpoint
        )
        needed = sum(size for _, size in cache_files(listing))
    except HubAccessError as err:
        log.warning("model cache check: capacity not checked, the Hub listed no files: %s", err)
    findings = check_cache_claim(
        pvc,
        claim=cache.claim_name,
        namespace=namespace,
        replicas=workload.replicas.max,
        prewarm=cache.prewarm,
        needed_bytes=needed,
    )
    for finding in findings:
        log.warning("model cache %s [%s]: %s", finding.level, finding.code, finding.message)
    errors = [finding for finding in findings if finding.level == "error"]
    if errors and mode == "strict":
        raise SpecError(
            "the model cache cannot serve this workload:\n  "
            + "\n  ".join(finding.message for finding in errors)
        )
    if not findings:
        held = f"{needed / 1e9:.2f} GB of model files" if needed else "the model (size unknown)"
        log.info(
            "model cache check: PVC %s is bound, mountable by every replica, holds %s",
            cache.claim_name,
            held,
        )
    return needed
