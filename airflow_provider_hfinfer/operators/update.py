"""The update operator: roll a workload forward to a new spec, back again if it fails.

This module owns the rollout rules of a scheduled model rollout (the nightly
"deploy the newest revision, keep serving if it fails" pipeline), composed from
the same shared steps as the create operator (:mod:`.base`, the pure plan and
the apply step in ``deploy/``):

* **No-op.** When every object already carries the new ``hfinfer.io/spec-hash``
  nothing is written (only the ownership check's reads are sent).
* **Rolling update.** The new spec is applied with server-side apply; the
  Deployment's ``RollingUpdate`` strategy (``maxUnavailable: 0``) keeps the old
  replicas serving until new ones are ready. The rollout is followed with the
  one readiness verdict (:mod:`airflow_provider_hfinfer.status.verdict`).
* **Rollback.** The spec each apply came from is kept, redacted, in
  ``hfinfer.io/applied-spec`` on the Deployment. When the new revision fails
  (terminal failure or timeout) or the task is killed mid-rollout, the previous
  spec is rendered and applied again (its Secret excepted: a token is never
  stored in an annotation, so the Secret is left as it is), objects only the new
  spec had are deleted, and the restored revision is followed for at most
  ``rollback_timeout`` seconds. The task then fails with the failed revision's
  reason *and* the rollback's outcome (:mod:`airflow_provider_hfinfer.deploy.rollout`).
  A kill or failure callback rolls back without that wait.
* **Prune.** After a successful rollout, objects the previous spec rendered and
  the new one does not are deleted, so two autoscalers never fight.
* **Deferral.** With ``deferrable=True`` the worker follows the rollout only until
  the Deployment controller has acted on the new spec, then hands the wait to
  :class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger`. Every rollout
  also records the spec it replaces, redacted, in ``hfinfer.io/previous-spec``
  on the Deployment (same apply), and the resumed task
  (``execute_rollout_complete``, perhaps on another worker) rebuilds the rollback
  from the live Deployment and its own spec. A rolled-back revision is followed
  the same way (``execute_rollback_complete``). The little else a resumed task
  needs travels in the deferral's kwargs and in XCom ``hfinfer_pending_result``
  (no secret: the token is masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_hfinfer.deploy.rollout import (
    RollbackOutcome,
    RolloutState,
    failure_message,
    masked,
    rollout_failure,
    superseded,
)
from airflow_provider_hfinfer.exceptions import KubeAPIError, WorkloadError
from airflow_provider_hfinfer.operators.base import DeployOperatorBase, task_identity
from airflow_provider_hfinfer.operators.rollout_wait import (
    await_rollout,
    follow,
    follow_rollback,
    log_rollback,
)
from airflow_provider_hfinfer.spec.names import PENDING_RESULT_KEY, PREVIOUS_SPEC_ANNOTATION

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.deploy.plan import DeployPlan
    from airflow_provider_hfinfer.render import RenderOptions
    from airflow_provider_hfinfer.spec import InferenceWorkload


class HFInferenceUpdateOperator(DeployOperatorBase):
    """Roll an inference workload forward to a new spec, rolling back if it fails.

    Takes every argument of the create operator (``if_exists`` is always
    ``update``; objects this provider does not manage are never touched). An
    unchanged spec is a no-op without a single write. Otherwise the new spec is
    applied as a rolling update (old replicas keep serving), the rollout is
    followed with the readiness verdict, and on a terminal failure or timeout
    the previous spec (kept redacted in ``hfinfer.io/applied-spec`` on the
    Deployment) is applied again and the task fails with the failed revision's
    reason. The rolled-back revision is then followed until it serves again (at
    most ``rollback_timeout`` seconds), and the failure message says which:
    "Rolled back to revision r1 ...; previous revision serving again (2/2 ready)"
    or "..., but the previous revision is not ready after 600s: <reason>". A
    workload that does not exist yet is created; if that first deploy fails,
    ``on_failure`` applies as for the create operator.

    With ``deferrable`` (and ``wait_for_ready``) the rollout, and a rolled-back
    revision, are followed by the triggerer once the Deployment controller has
    acted on the applied spec, so a model that loads for half an hour holds no
    worker slot. Result, rollback and messages are the same as without deferral.
    An unchanged spec or a dry run never defers.

    XCom: the create operator's result plus ``changed`` (False for a no-op) and
    ``previous_revision``.

    Args:
        rollback: Roll back to the previous spec when the rollout fails (default
            True); False leaves the failed revision applied (the old replicas of a
            rolling update keep serving until it is fixed).
        rollback_timeout: Seconds to follow the rolled-back revision until it serves
            again before the task fails (default: ``timeout``, at most 600). With
            ``update_strategy: Recreate`` the old pods were stopped and reload the
            model; with ``RollingUpdate`` they usually still serve. 0 checks once
            without waiting. Keep ``timeout`` plus this within ``execution_timeout``.
        wait_for_ready: Follow the rollout (default True; rollback needs it).
        kwargs: Every other argument of the create operator.
    """

    ui_color = "#ffe87a"
    pipeline = "update"

    def __init__(
        self,
        *,
        rollback: bool = True,
        rollback_timeout: float | None = None,
        wait_for_ready: bool = True,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("if_exists", "update") != "update":
            raise ValueError("HFInferenceUpdateOperator always updates: drop if_exists")
        if rollback_timeout is not None and not rollback_timeout >= 0:
            raise ValueError(
                f"rollback_timeout ({rollback_timeout!r}) must be 0 or more seconds: use 0 "
                "to check the rolled-back revision once, or None for the default"
            )
        super().__init__(wait_for_ready=wait_for_ready, **kwargs)
        self.if_exists = "update"
        self.rollback = rollback
        self.rollback_timeout = rollback_timeout

    # ------------------------------------------------------------- the plans

    def _plan(
        self,
        workload: InferenceWorkload,
        options: RenderOptions,
        identity: str,
        previous: InferenceWorkload | None = None,
        model_bytes: int | None = None,
    ) -> DeployPlan:
        from airflow_provider_hfinfer.deploy.plan import prepare
        from airflow_provider_hfinfer.render import RenderContext

        context = RenderContext(
            owner=identity, record_spec=True, previous=previous, model_bytes=model_bytes
        )
        return prepare(workload, self.namespace, options, context)

    def _way_back(self, previous: InferenceWorkload | None, plan: DeployPlan) -> DeployPlan | None:
        """The previous spec's plan, when a failed rollout rolls back to it."""
        if previous is None or not self.rollback:
            return None
        # Another revision of the same model weighs about the same: keep its startup window.
        same_model = previous.model.id == plan.workload.model.id
        weight = plan.context.model_bytes if same_model else None
        return self._plan(previous, plan.options, plan.owner or "", model_bytes=weight)

    # -------------------------------------------------------------- executing

    def deploy(self, context: Context) -> dict[str, Any]:
        """Plan, claim, apply the new spec (unless unchanged), then follow the rollout."""
        from dataclasses import replace

        from airflow_provider_hfinfer.deploy import apply as step
        from airflow_provider_hfinfer.deploy.describe import describe_plan, redact_manifests
        from airflow_provider_hfinfer.deploy.drift import unchanged
        from airflow_provider_hfinfer.operators.warm import check_cache, preview_prewarm, warm_cache
        from airflow_provider_hfinfer.render.records import recorded_previous_spec, recorded_spec

        workload = self.resolve_workload()
        report = self.run_preflight(workload)
        check_cache(self, workload)
        options = self.cluster_options()
        weight = report.weight_bytes if report is not None else None
        plan = self._plan(workload, options, task_identity(context), model_bytes=weight)
        result = plan.result(dry_run=self.is_dry_run, changed=True, previous_revision=None)
        self.log.info("%s", describe_plan(workload, plan.manifests, self.namespace))
        if self.is_dry_run:
            plan = self.preview(plan, if_exists="update")
            result["manifests"] = redact_manifests(plan.manifests)
            preview_prewarm(self, plan, result)
            return result
        existing = step.claim(self.hook, plan, if_exists="update", log=self.log)
        deployment = existing.get(f"Deployment/{workload.name}")
        previous = recorded_spec(deployment)
        plan = plan.with_context(previous=previous)  # a resumed (deferred) task's way back
        result["previous_revision"] = previous.model.revision if previous else None
        if existing and unchanged(existing, plan.manifests):
            pending = recorded_previous_spec(deployment)
            if pending is None:
                self.log.info(
                    "workload %s already runs this spec (spec-hash %s): nothing to do",
                    workload.name,
                    result["spec_hash"],
                )
                result["changed"] = False
                return result
            # An earlier try applied this spec but never saw it serve (killed, or its
            # deferral timed out): follow that rollout now instead of calling it done.
            self.log.warning(
                "workload %s runs this spec, but its rollout from revision %s was never "
                "confirmed: following it now",
                workload.name,
                pending.model.revision or "(default)",
            )
            result["previous_revision"] = pending.model.revision
            self.applied = replace(step.in_flight(plan, existing), adopted=False, existed=True)
            self.record_state(context, workload.name)
            return self._follow_rollout(context, plan, pending, result)
        if deployment is not None and previous is None:
            self.log.warning(
                "Deployment/%s records no previous spec (%s): a failed rollout cannot be "
                "rolled back automatically",
                workload.name,
                "hfinfer.io/applied-spec",
            )
        self.record_state(context, workload.name)
        if self.check_quota:
            step.check_quota(self.hook, plan, updating=bool(existing))
        if self.strict_node_pool_order:
            plan = step.pin_pool(self.hook, plan, self.log)
        self.applied = replace(step.in_flight(plan, existing), adopted=False)
        warm_cache(self, plan, existing, result)
        step.apply_plan(self.hook, plan, existing, self.log)
        return self._follow_rollout(context, plan, previous, result)

    def _follow_rollout(
        self,
        context: Context,
        plan: DeployPlan,
        previous: InferenceWorkload | None,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        """Wait (or defer) until the applied spec serves; roll back to ``previous`` if not."""
        if self.applied is not None:
            self.applied = self.applied.with_rollback(self._way_back(previous, plan))
        if self.wait_for_ready:
            deferring = context if self.deferrable else None
            try:
                await_rollout(self, plan.workload, deferring)
            except WorkloadError as err:
                self._fail_rollout(plan, err, deferring)
        return self._finish(previous, plan, result)

    def _finish(
        self, previous: InferenceWorkload | None, plan: DeployPlan, result: dict[str, Any]
    ) -> dict[str, Any]:
        """The new revision serves: forget the way back, delete what only ``previous`` had.

        The ``hfinfer.io/previous-spec`` record goes too: a later try of this task
        that finds it still there knows the rollout was never confirmed.
        """
        from airflow_provider_hfinfer.deploy.rollback import prune

        if self.applied is not None:
            self.applied = self.applied.with_rollback(None)
        if previous is not None:
            old = self._plan(previous, plan.options, plan.owner or "")
            prune(self.hook, old.manifests, plan.manifests, self.log)
            if plan.deployment is not None and self.wait_for_ready:
                self.hook.annotate(plan.deployment, {PREVIOUS_SPEC_ANNOTATION: None})
        return result

    # ------------------------------------------------------ deferred halves

    def execute_rollout_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        rollout: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Resume a deferred rollout: prune and return the result, or roll back and fail.

        The task may resume on another worker, so what it knew is rebuilt: its own
        spec (templated fields are rendered again), and the rollback target from
        ``hfinfer.io/previous-spec`` on the live Deployment. Nothing is rolled back
        or pruned when the Deployment no longer carries this task's spec.
        """
        from airflow_provider_hfinfer.deploy.state import AppliedWorkload
        from airflow_provider_hfinfer.render.records import recorded_previous_spec
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        self.ran_here = True
        workload = self.resolve_workload()  # first: it masks the token in this process
        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        state = self._pending_state(context, rollout)
        plan = self._plan(workload, self.cluster_options(), task_identity(context))
        result = plan.result(dry_run=self.is_dry_run, changed=True, previous_revision=None)
        deployment = self.hook.get("apps/v1", "Deployment", workload.name, self.namespace)
        stale = superseded(plan.workload, self.namespace, plan.owner, plan.spec_hash, deployment)
        if stale is not None:
            raise stale
        previous = recorded_previous_spec(deployment)
        result["previous_revision"] = previous.model.revision if previous else None
        self.applied = AppliedWorkload(
            workload.name,
            self.namespace,
            tuple(result["objects"]),
            existed=state.had_workload,
            rollback=self._way_back(previous, plan),
        )
        error = rollout_failure(outcome)
        if error is not None:
            self._fail_rollout(plan, error, context)
        return self._finish(previous, plan, result)

    def execute_rollback_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        rollout: Mapping[str, Any] | None = None,
    ) -> NoReturn:
        """Resume after the triggerer followed a rolled-back revision; fail the task.

        The message is the non-deferrable path's: the failed revision's reason and
        where the restored one stands (read once more now, so it says what serves
        at the end), e.g. "...; previous revision serving again (2/2 ready)".
        """
        from airflow_provider_hfinfer.deploy.state import AppliedWorkload
        from airflow_provider_hfinfer.render.records import spec_from_record
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        self.ran_here = True
        workload = self.resolve_workload()  # first: it masks the token in this process
        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        state = self._pending_state(context, rollout)
        reason = state.failed_reason or "Failed"
        previous = spec_from_record(state.previous_spec)
        # Rolled back: a failure leaves the workload as it is.
        self.applied = AppliedWorkload(workload.name, self.namespace, existed=True)
        rolled_back: RollbackOutcome | None = None
        if previous is not None:
            try:
                status, _ = follow(self, previous.name, 0, label=f"{previous.name} (rolled back)")
            except KubeAPIError as err:
                rolled_back = RollbackOutcome(True, None, outcome.elapsed_seconds, str(err))
            else:
                rolled_back = RollbackOutcome(True, status, outcome.elapsed_seconds)
            log_rollback(self, previous, workload.model.revision or "(default)", rolled_back)
        raise WorkloadError(
            failure_message(workload, previous, reason, state.failed_message, rolled_back),
            name=workload.name,
            namespace=self.namespace,
            reason=reason,
        )

    def _pending_state(self, context: Context, value: Mapping[str, Any] | None) -> RolloutState:
        """The deferral's kwargs, else the XCom copy (``dag.test()`` drops the kwargs)."""
        raw = value
        if raw is None:
            raw = context["ti"].xcom_pull(task_ids=self.task_id, key=PENDING_RESULT_KEY)
        return RolloutState.model_validate(dict(raw or {}))

    def _restore(self, failed: list[dict[str, Any]]) -> DeployPlan | None:
        """Roll back to the recorded target, once; return it (None: no way back)."""
        from airflow_provider_hfinfer.deploy.rollback import restore

        if self.applied is None or self.applied.rollback is None:
            return None
        target = self.applied.rollback
        self.applied = self.applied.with_rollback(None)
        restore(self.hook, target, failed, self.log)
        return target

    def _fail_rollout(
        self, plan: DeployPlan, err: WorkloadError, context: Context | None = None
    ) -> NoReturn:
        from airflow_provider_hfinfer.render.records import spec_record

        workload = plan.workload
        reason = err.reason or "Failed"
        target = self.applied.rollback if self.applied is not None else None
        if target is None:
            if not (self.applied and self.applied.existed):
                super().settle_failure(f"{reason}: {err.message}")
            raise WorkloadError(
                failure_message(workload, None, reason, err.message),
                name=workload.name,
                namespace=self.namespace,
                reason=reason,
            ) from err
        previous = target.workload
        try:
            self._restore(plan.manifests)
        except WorkloadError as restore_err:
            self.log.error("rollback of workload %s failed: %s", workload.name, restore_err)
            outcome = RollbackOutcome(False, error=str(restore_err))
        else:
            deferral = None
            if context is not None:
                state = RolloutState(
                    failed_reason=reason,
                    failed_message=masked(err.message, workload),
                    previous_spec=spec_record(previous),
                )
                deferral = (context, state)
            outcome = follow_rollback(
                self, previous, workload.model.revision or "(default)", deferral
            )
        raise WorkloadError(
            failure_message(workload, previous, reason, err.message, outcome),
            name=workload.name,
            namespace=self.namespace,
            reason=reason,
        ) from err

    def settle_failure(self, reason: str, context: Context | None = None) -> None:
        """A killed or failed rollout rolls back; only a first deploy gets ``on_failure``.

        A failure callback the DAG processor runs for a worker that died (a freshly
        parsed task, not the one that ran) leaves the workload alone: it cannot tell
        a first deploy from a rollout of a serving workload, and must not mark the
        latter Failed.

        The rollback here is applied but not followed (no ``rollback_timeout`` wait):
        ``on_kill`` runs in the few seconds a stopping task gets before it is killed
        for good, and a callback must not hold its process for minutes. The log says
        so; whether the previous revision serves again is for a readiness sensor (or
        the next run) to tell.
        """
        if not self.ran_here and self.applied is None:
            self.log.warning("rollout task lost (%s); the workload is kept as it is", reason)
            return
        if self.applied is not None and self.applied.rollback is not None:
            try:
                target = self._restore([])
            except WorkloadError as err:
                self.log.error("rollback after '%s' failed: %s", reason, err)
                return
            if target is not None:
                self.log.warning(
                    "not waiting for revision %s of workload %s to serve again (%s): follow "
                    "it with InferenceReadySensor",
                    target.workload.model.revision or "(default)",
                    target.workload.name,
                    reason,
                )
            return
        if self.applied is not None and self.applied.existed:
            self.log.warning("rollout stopped (%s); the existing workload is kept as it is", reason)
            return
        super().settle_failure(reason, context)
