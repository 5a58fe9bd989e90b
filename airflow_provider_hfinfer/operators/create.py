"""The create operator: deploy a workload, optionally wait until it serves.

This module owns :class:`HFInferenceCreateOperator`, which composes the shared
steps: the spec after templating and pre-flight (:mod:`.base`), the pure plan
(:func:`~airflow_provider_hfinfer.deploy.plan.prepare`), the apply step (name
ownership and safe retries, quota, strict node-pool placement, apply with
rollback of a partial apply: :mod:`airflow_provider_hfinfer.deploy.apply`), and
the wait (polling, or deferred to the readiness trigger).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import WorkloadError
from airflow_provider_hfinfer.operators.base import (
    DeployOperatorBase,
    mask_spec_tokens,
    task_identity,
)
from airflow_provider_hfinfer.spec.names import PENDING_RESULT_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context


__all__ = ["HFInferenceCreateOperator", "mask_spec_tokens"]


class HFInferenceCreateOperator(DeployOperatorBase):
    """Deploy a Hugging Face model as a vLLM inference workload.

    Validates the spec after templating, renders it, checks name ownership and
    the project's quota, applies every object with server-side apply and
    returns the endpoint. A retry of the same task reconciles its own objects;
    a name used by anything else fails with a request to choose another. Takes
    every argument of :class:`~airflow_provider_hfinfer.operators.base.DeployOperatorBase`.

    Args:
        if_exists: ``fail`` (default: the name is taken, choose another) or
            ``update`` (apply the new spec to the existing workload).
        kwargs: The shared deploy arguments (``workload``, ``namespace``,
            ``kubernetes_conn_id``, ``wait_for_ready``, ``on_failure``...).
    """

    def __init__(self, *, if_exists: Literal["fail", "update"] = "fail", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if if_exists not in ("fail", "update"):
            raise ValueError(f"if_exists ({if_exists!r}) must be 'fail' or 'update'")
        self.if_exists = if_exists

    def deploy(self, context: Context) -> dict[str, Any]:
        """Validate, plan, check, apply; return the endpoint and objects."""
        from airflow_provider_hfinfer.deploy import apply as step
        from airflow_provider_hfinfer.deploy.describe import describe_plan, redact_manifests
        from airflow_provider_hfinfer.deploy.plan import prepare
        from airflow_provider_hfinfer.operators.warm import check_cache, preview_prewarm, warm_cache
        from airflow_provider_hfinfer.render import RenderContext

        workload = self.resolve_workload()
        report = self.run_preflight(workload)
        check_cache(self, workload)
        options = self.cluster_options()
        context_ = RenderContext(
            owner=task_identity(context),
            record_spec=True,
            model_bytes=report.weight_bytes if report is not None else None,
        )
        plan = prepare(workload, self.namespace, options, context_)
        self.log.info("%s", describe_plan(workload, plan.manifests, self.namespace))
        result = plan.result(dry_run=self.is_dry_run)
        if self.is_dry_run:
            plan = self.preview(plan, if_exists=self.if_exists)
            result["manifests"] = redact_manifests(plan.manifests)
            preview_prewarm(self, plan, result)
            return result
        existing = step.claim(self.hook, plan, if_exists=self.if_exists, log=self.log)
        self.record_state(context, workload.name)
        if self.check_quota:
            step.check_quota(self.hook, plan, updating=bool(existing))
        if self.strict_node_pool_order:
            plan = step.pin_pool(self.hook, plan, self.log)
        self.applied = step.in_flight(plan, existing)
        warm_cache(self, plan, existing, result)
        step.apply_plan(self.hook, plan, existing, self.log)
        if self.wait_for_ready and self.deferrable:
            self._defer_until_ready(context, result)
        if self.wait_for_ready:
            result["cold_start"] = self.wait_until_serving(workload.name)
        return result

    def _defer_until_ready(self, context: Context, result: dict[str, Any]) -> None:
        """Hand the readiness wait to the triggerer; ``execute_complete`` finishes."""
        from airflow_provider_hfinfer.operators.waiting import defer_wait

        pending = {"result": result, "adopted": bool(self.applied and self.applied.adopted)}
        defer_wait(
            self,
            context,
            name=result["name"],
            timeout=self.timeout,
            started_at=time.time(),
            method="execute_complete",
            kwargs=pending,
            pending=pending,
        )

    def execute_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        adopted: bool = False,
    ) -> dict[str, Any]:
        """Finish a deferred readiness wait: the XCom result, or fail with the reason."""
        from airflow_provider_hfinfer.status.coldstart import with_note
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        self.ran_here = True
        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        if result is None:
            pending = context["ti"].xcom_pull(task_ids=self.task_id, key=PENDING_RESULT_KEY) or {}
            result, adopted = pending.get("result"), bool(pending.get("adopted"))
        done = dict(result or {})
        if outcome.status == "ready":
            done["cold_start"] = outcome.cold_start
            return done
        reason = "Timeout" if outcome.status == "timeout" else outcome.reason
        if outcome.status == "failed":
            # A resumed task is a fresh instance: name what it applied before settling.
            self.applied = AppliedWorkload(
                outcome.name,
                self.namespace,
                tuple(str(ref) for ref in done.get("objects") or []),
                adopted=adopted,
            )
            self.settle_failure(f"{reason}: {outcome.message}")
        raise WorkloadError(
            with_note(outcome.message, outcome.cold_start),
            name=outcome.name,
            namespace=outcome.namespace,
            reason=reason,
        )
