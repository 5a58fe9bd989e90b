"""The update operator: roll a workload forward to a new spec, back again if it fails.

This module owns the rollout rules of a scheduled model rollout (the nightly
"deploy the newest revision, keep serving if it fails" pipeline):

* **No-op.** When every object already carries the new ``hfinfer.io/spec-hash``
  nothing is written (only the ownership check's reads are sent).
* **Rolling update.** The new spec is applied with server-side apply; the
  Deployment's ``RollingUpdate`` strategy (``maxUnavailable: 0``) keeps the old
  replicas serving until new ones are ready. The rollout is followed with the
  readiness model (:func:`~airflow_provider_hfinfer.status.assess`).
* **Rollback.** The spec each apply came from is kept, redacted, in
  ``hfinfer.io/applied-spec`` on the Deployment. When the new revision fails
  (terminal failure or timeout) or the task is killed mid-rollout, the previous
  spec is rendered and applied again (its Secret excepted: a token is never
  stored in an annotation, so the Secret is left as it is), objects only the new
  spec had are deleted, and the task fails with the failed revision's reason.
  An Unschedulable surge pod (no free GPU for the extra replica a rolling update
  needs) is named as such, with the way out: ``update_strategy: Recreate``.
* **Prune.** After a successful rollout, objects the previous spec rendered and
  the new one does not (a ScaledObject replaced by an HTTPScaledObject, say) are
  deleted, so two autoscalers never fight over one Deployment.

It reuses the create operator's validation, pre-flight, ownership, quota and
apply steps; a workload that does not exist yet is simply created.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_hfinfer.exceptions import KubeAPIError, WorkloadError
from airflow_provider_hfinfer.hooks.inference import object_ref
from airflow_provider_hfinfer.operators.create import (
    OWNER_ANNOTATION,
    HFInferenceCreateOperator,
    _task_identity,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.spec import InferenceWorkload
    from airflow_provider_hfinfer.status import WorkloadStatus

RECREATE_HINT = (
    "the cluster has no free GPU for the extra (surge) pod a rolling update starts beside "
    "the serving ones: free a GPU, or set update_strategy: Recreate in the workload (it stops "
    "the old replicas first, so the endpoint is down while the new revision starts)"
)


def failure_message(
    new: InferenceWorkload, previous: InferenceWorkload | None, reason: str, message: str
) -> str:
    """What the task reports when a revision fails (pure)."""
    revision = new.model.revision or "(default)"
    text = f"revision {revision} of {new.model.id} failed ({reason}): {message}"
    if reason == "Unschedulable" and new.update_strategy == "RollingUpdate":
        text += f". {RECREATE_HINT}"
    if previous is not None:
        text += (
            f". Rolled back to revision {previous.model.revision or '(default)'} of "
            f"{previous.model.id}"
        )
    return text


class HFInferenceUpdateOperator(HFInferenceCreateOperator):
    """Roll an inference workload forward to a new spec, rolling back if it fails.

    Takes every parameter of :class:`HFInferenceCreateOperator` (``if_exists`` is
    always ``update``; objects this provider does not manage are never touched).
    An unchanged spec is a no-op without a single write. Otherwise the new spec
    is applied as a rolling update (old replicas keep serving), the rollout is
    followed with the readiness model, and on a terminal failure or timeout the
    previous spec (kept redacted in ``hfinfer.io/applied-spec`` on the
    Deployment) is applied again and the task fails with the failed revision's
    reason. A workload that does not exist yet is created; if that first deploy
    fails, ``on_failure`` applies as for the create operator.

    XCom: the create operator's result plus ``changed`` (False for a no-op) and
    ``previous_revision``. The rollout is followed from the worker even when
    ``deferrable`` is set: the rollback must run in the task that applied.

    :param rollback: Roll back to the previous spec when the rollout fails (default
        True); False leaves the failed revision applied (the old replicas of a
        rolling update keep serving until it is fixed).
    :param wait_for_ready: Follow the rollout (default True; rollback needs it).
    :param kwargs: Every other parameter of :class:`HFInferenceCreateOperator`.
    """

    ui_color = "#ffe87a"

    def __init__(
        self, *, rollback: bool = True, wait_for_ready: bool = True, **kwargs: Any
    ) -> None:
        if kwargs.pop("if_exists", "update") != "update":
            raise ValueError("HFInferenceUpdateOperator always updates: drop if_exists")
        super().__init__(if_exists="update", wait_for_ready=wait_for_ready, **kwargs)
        self.rollback = rollback
        self._rollback_to: tuple[InferenceWorkload, list[dict[str, Any]], str] | None = None
        self._had_workload = False

    def _execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hfinfer.lifecycle import recorded_spec, reopen, unchanged
        from airflow_provider_hfinfer.plan import describe_plan, redact_manifests

        workload = self._resolve_workload()
        self._preflight(workload)
        options = self.hook.render_options(self.render_options)
        identity = _task_identity(context)
        manifests = self._render_spec(workload, options, identity)
        result = self._result(workload, options, manifests)
        self.log.info("%s", describe_plan(workload, manifests, self.namespace))
        if self.is_dry_run:
            self._server_dry_run(manifests)
            result["manifests"] = redact_manifests(manifests)
            return result
        existing = self._check_ownership(workload, manifests, identity)
        deployment = existing.get(f"Deployment/{workload.name}")
        previous = recorded_spec(deployment)
        result["previous_revision"] = previous.model.revision if previous else None
        if existing and unchanged(existing, manifests):
            self.log.info(
                "workload %s already runs this spec (spec-hash %s): nothing to do",
                workload.name,
                result["spec_hash"],
            )
            result["changed"] = False
            return result
        self._had_workload = deployment is not None
        if self._had_workload and previous is None:
            self.log.warning(
                "Deployment/%s records no previous spec (%s): a failed rollout cannot be "
                "rolled back automatically",
                workload.name,
                "hfinfer.io/applied-spec",
            )
        self._record_state(context, workload.name)
        if self.check_quota:
            self._check_quota(workload, options, updating=bool(existing))
        if previous is not None and self.rollback:
            self._rollback_to = (previous, self._render_spec(previous, options, identity), identity)
        self._in_flight = (workload.name, [object_ref(item) for item in manifests])
        self._apply(workload, manifests, existing)
        reopen(self.hook, existing.values())
        if self.wait_for_ready:
            try:
                self._await_rollout(workload)
            except WorkloadError as err:
                self._fail_rollout(workload, manifests, err)
        self._rollback_to = None
        if previous is not None:
            self._prune(self._render_spec(previous, options, identity), manifests)
        return result

    def _render_spec(
        self, workload: InferenceWorkload, options: RenderOptions, identity: str
    ) -> list[dict[str, Any]]:
        from airflow_provider_hfinfer.lifecycle import stamp_applied_spec
        from airflow_provider_hfinfer.render import render_manifests

        manifests = render_manifests(workload, namespace=self.namespace, options=options)
        for manifest in manifests:
            manifest["metadata"]["annotations"][OWNER_ANNOTATION] = identity
        stamp_applied_spec(manifests, workload)
        return manifests

    def _result(
        self, workload: InferenceWorkload, options: RenderOptions, manifests: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from airflow_provider_hfinfer.render import endpoint_url, spec_hash

        return {
            "name": workload.name,
            "namespace": self.namespace,
            "endpoint_url": endpoint_url(workload, self.namespace, options),
            "served_model_name": workload.model.served_model_name,
            "model": workload.model.id,
            "revision": workload.model.revision,
            "spec_hash": spec_hash(workload, self.namespace, options),
            "objects": [object_ref(item) for item in manifests],
            "dry_run": self.is_dry_run,
            "changed": True,
            "previous_revision": None,
        }

    def _await_rollout(self, workload: InferenceWorkload) -> None:
        """Follow the rollout until ready; raise with the failing reason otherwise."""
        from airflow_provider_hfinfer.status import Phase, assess, progress_line

        name = workload.name
        deadline = time.monotonic() + self.timeout
        last = ""
        hinted = False
        while True:
            snapshot = self.hook.workload_snapshot(name, self.namespace)
            status = assess(**snapshot, now=datetime.now(timezone.utc))
            if status.fingerprint() != last:
                self.log.info("%s", progress_line(status, name=name))
                last = status.fingerprint()
            if status.is_ready or status.phase == Phase.SCALED_TO_ZERO:
                return
            if _surge_unschedulable(status, workload) and not hinted:
                self.log.warning("rollout of %s is stuck: %s", name, RECREATE_HINT)
                hinted = True
            if status.is_failed:
                raise WorkloadError(
                    status.message, name=name, namespace=self.namespace, reason=status.reason
                )
            if time.monotonic() >= deadline:
                stuck = status.reason if status.reason != "RolloutInProgress" else "Timeout"
                raise WorkloadError(
                    f"not ready after {self.timeout:.0f}s: {status.message}",
                    name=name,
                    namespace=self.namespace,
                    reason=stuck,
                )
            time.sleep(self.poll_interval)

    def _fail_rollout(
        self, workload: InferenceWorkload, manifests: list[dict[str, Any]], err: WorkloadError
    ) -> NoReturn:
        reason = err.reason or "Failed"
        target = self._rollback_to
        if target is None:
            if not self._had_workload:
                self._settle_failure(f"{reason}: {err.message}")
            raise WorkloadError(
                failure_message(workload, None, reason, err.message),
                name=workload.name,
                namespace=self.namespace,
                reason=reason,
            ) from err
        self._restore(target, manifests)
        raise WorkloadError(
            failure_message(workload, target[0], reason, err.message),
            name=workload.name,
            namespace=self.namespace,
            reason=reason,
        ) from err

    def _restore(
        self,
        target: tuple[InferenceWorkload, list[dict[str, Any]], str],
        failed: list[dict[str, Any]],
    ) -> None:
        """Apply the previous spec again (its Secret left as it is); drop what it lacked."""
        previous, manifests, _identity = target
        self._rollback_to = None
        keep = [item for item in manifests if item["kind"] != "Secret"]
        self.hook.apply(keep)
        self._prune(failed, manifests)
        self.log.warning(
            "rolled back workload %s to revision %s (%d objects re-applied; Secret left as is)",
            previous.name,
            previous.model.revision or "(default)",
            len(keep),
        )

    def _prune(self, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        """Delete objects ``old`` rendered that ``new`` does not."""
        wanted = {object_ref(item) for item in new}
        stale = [item for item in reversed(old) if object_ref(item) not in wanted]
        removed = [object_ref(item) for item in stale if self.hook.delete(item)]
        if removed:
            self.log.info("removed objects the current spec no longer has: %s", ", ".join(removed))

    def _settle_failure(self, reason: str, context: Context | None = None) -> None:
        """A killed or failed rollout rolls back; only a first deploy gets ``on_failure``.

        A failure callback the DAG processor runs for a worker that died (a freshly
        parsed task, not the one that ran) leaves the workload alone: it cannot tell
        a first deploy from a rollout of a serving workload, and must not mark the
        latter Failed.
        """
        if not getattr(self, "_lock_for_execution", False):
            self.log.warning("rollout task lost (%s); the workload is kept as it is", reason)
            return
        target = self._rollback_to
        if target is not None:
            try:
                self._restore(target, [])
            except KubeAPIError as err:
                self.log.error("rollback after '%s' failed: %s", reason, err)
            return
        if self._had_workload:
            self.log.warning("rollout stopped (%s); the existing workload is kept as it is", reason)
            return
        super()._settle_failure(reason, context)


def _surge_unschedulable(status: WorkloadStatus, workload: InferenceWorkload) -> bool:
    return workload.update_strategy == "RollingUpdate" and status.reason == "Unschedulable"
