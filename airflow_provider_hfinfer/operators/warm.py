"""The model-cache steps the create and update operators share (kubernetes backend).

This module owns :func:`check_cache`, the pre-flight of a ``pvc`` model cache (the
claim exists, is bound, every replica can mount it, it holds the model's files),
and :func:`warm_cache`, which runs the ``cache.prewarm`` Job to completion before
the new spec is applied: on a first deploy with the workload held at zero
replicas, on an update next to the replicas still serving the old revision, so
that the new revision's replicas start from a warm cache with ``HF_HUB_OFFLINE=1``.
Both are thin: the work is in :mod:`airflow_provider_hfinfer.deploy.cachecheck`
and :mod:`airflow_provider_hfinfer.deploy.prewarm`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_hfinfer.deploy.apply import Live
    from airflow_provider_hfinfer.deploy.plan import DeployPlan
    from airflow_provider_hfinfer.operators.base import DeployOperatorBase
    from airflow_provider_hfinfer.spec import InferenceWorkload


def check_cache(op: DeployOperatorBase, workload: InferenceWorkload) -> None:
    """Check a ``pvc`` model cache before any GPU is asked for (skipped with ``preflight="off"``).

    Raises:
        SpecError: The claim is missing, unbound, cannot be shared by the replicas or
            is too small for the model's files (``preflight="strict"``).
    """
    from airflow_provider_hfinfer.deploy.cachecheck import check_model_cache

    if workload.cache.type != "pvc" or op.preflight == "off":
        return
    token = workload.inline_token()
    if token is None and not op.is_dry_run:
        token = op.backend_impl.existing_secret_token(workload, op.namespace, op.log)
    check_model_cache(
        op.hook,
        workload,
        op.namespace,
        token=token,
        endpoint=op.hf_endpoint,
        mode=op.preflight,
        log=op.log,
    )


def warm_cache(
    op: DeployOperatorBase, plan: DeployPlan, existing: Live, result: dict[str, Any]
) -> None:
    """Run the prewarm Job (``cache.prewarm``) to completion; its breakdown goes to ``prewarm``.

    Raises:
        WorkloadError: The Job failed (``PrewarmFailed``, with the phase and the likely
            cause) or did not finish in time; the new spec was not applied.
    """
    from airflow_provider_hfinfer.deploy.prewarm import PrewarmWait, prewarm_cache

    wait = PrewarmWait(poll_interval=op.poll_interval, stall_after=op.stall_after)
    warm = prewarm_cache(op.hook, plan, existing, op.log, wait)
    if warm is not None:
        result["prewarm"] = warm


PENDING_UID = "(set when the Deployment is created)"
"""The owner uid a dry run shows in the prewarm Job: only a real apply has it."""


def preview_prewarm(op: DeployOperatorBase, plan: DeployPlan, result: dict[str, Any]) -> None:
    """A dry run: say that the real run fills the cache first, and show the Job (pure render).

    The Job goes into ``result["prewarm_job"]``, not into the manifests the server-side
    dry run checks: it is owned by the live Deployment, whose uid exists only after
    a real apply.
    """
    from airflow_provider_hfinfer.render.context import Stamp
    from airflow_provider_hfinfer.render.prewarm import prewarm_of, render_prewarm_job

    if not plan.workload.cache.prewarm:
        return
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": plan.workload.name,
        "uid": PENDING_UID,
    }
    stamp = Stamp(plan.spec_hash, plan.context)
    job = render_prewarm_job(plan.workload, plan.namespace, plan.options, stamp, owner)
    op.log.info(
        "dry run: the real run first runs prewarm Job %s (%s) to completion, the Deployment "
        "held at 0 replicas on a first deploy, then scales the replicas up",
        job["metadata"]["name"],
        prewarm_of(plan.workload),
    )
    result["prewarm_job"] = job
