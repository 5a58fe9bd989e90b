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
  spec had are deleted, and the restored revision is followed with the same
  readiness model for at most ``rollback_timeout`` seconds. The task then fails
  with the failed revision's reason *and* the rollback's outcome: the previous
  revision serves again, or it is not ready (and why), so the failure message
  says whether the endpoint serves. A kill or failure callback rolls back
  without that wait (see ``_settle_failure``).
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
from dataclasses import dataclass
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


ROLLBACK_WAIT_CAP = 600.0
"""Seconds the default ``rollback_timeout`` never exceeds (it is ``timeout`` below that)."""


def generation_observed(status: WorkloadStatus) -> bool:
    """True once the Deployment controller has acted on the latest spec (pure).

    Until then the pods :func:`~airflow_provider_hfinfer.status.assess` judges are
    those of the revision the last apply replaced (right after a rollback: the
    failed one), so a terminal verdict is not yet about the applied spec.
    """
    if status.generation is None:
        return True
    return status.observed_generation is not None and (
        status.observed_generation >= status.generation
    )


def _served(status: WorkloadStatus) -> bool:
    from airflow_provider_hfinfer.status import Phase

    return status.is_ready or status.phase is Phase.SCALED_TO_ZERO


def _settled(status: WorkloadStatus) -> bool:
    """Waiting is over: the workload serves, or fails in a way waiting will not heal."""
    return _served(status) or (status.is_failed and generation_observed(status))


@dataclass(frozen=True)
class RollbackOutcome:
    """Where the restored revision stood when the task stopped following it.

    Attributes:
        applied: The previous spec was applied again.
        status: The last readiness verdict; None when none could be read.
        waited: Seconds the restored revision was followed.
        error: Why the rollback could not be applied or its readiness not read.
    """

    applied: bool
    status: WorkloadStatus | None = None
    waited: float = 0.0
    error: str = ""

    @property
    def serving(self) -> bool:
        """True when the previous revision serves again (or its autoscaler holds it at 0)."""
        return self.applied and self.status is not None and _served(self.status)

    def sentence(self, previous: InferenceWorkload, failed: str) -> str:
        """What the rollback to ``previous`` left, in one sentence (pure).

        Args:
            previous: The spec rolled back to.
            failed: The revision that failed, as the message names it.

        Returns:
            E.g. "Rolled back to revision r1 of org/model; previous revision serving
            again (2/2 ready)" or "..., but the previous revision is not ready after
            600s: ModelLoading: ...".
        """
        back = f"revision {previous.model.revision or '(default)'} of {previous.model.id}"
        status = self.status
        if not self.applied:
            return (
                f"Rolling back to {back} failed: {self.error}. Revision {failed} may still be "
                "applied, so the endpoint may not serve: fix the cause and run the task again"
            )
        if status is None:
            return (
                f"Rolled back to {back}, but whether the previous revision serves could not "
                f"be read: {self.error}"
            )
        if status.is_ready:
            return (
                f"Rolled back to {back}; previous revision serving again "
                f"({status.ready_replicas}/{status.desired_replicas} ready)"
            )
        if self.serving:
            return f"Rolled back to {back}; previous revision scaled to zero: {status.message}"
        text = (
            f"Rolled back to {back}, but the previous revision is not ready after "
            f"{self.waited:.0f}s: {status.reason}: {status.message}"
        )
        if status.is_failed and generation_observed(status):
            return f"{text}. It fails too, waiting will not help: fix the cause, run the task again"
        return (
            f"{text}. It may still come up: follow it with InferenceReadySensor, or raise "
            "rollback_timeout"
        )


def failure_message(
    new: InferenceWorkload,
    previous: InferenceWorkload | None,
    reason: str,
    message: str,
    rollback: RollbackOutcome | None = None,
) -> str:
    """What the task reports when a revision fails, and what the rollback left (pure)."""
    revision = new.model.revision or "(default)"
    text = f"revision {revision} of {new.model.id} failed ({reason}): {message}"
    if reason == "Unschedulable" and new.update_strategy == "RollingUpdate":
        text += f". {RECREATE_HINT}"
    if previous is None:
        return text
    if rollback is None:
        return (
            f"{text}. Rolled back to revision {previous.model.revision or '(default)'} of "
            f"{previous.model.id}"
        )
    return f"{text}. {rollback.sentence(previous, revision)}"


class HFInferenceUpdateOperator(HFInferenceCreateOperator):
    """Roll an inference workload forward to a new spec, rolling back if it fails.

    Takes every parameter of :class:`HFInferenceCreateOperator` (``if_exists`` is
    always ``update``; objects this provider does not manage are never touched).
    An unchanged spec is a no-op without a single write. Otherwise the new spec
    is applied as a rolling update (old replicas keep serving), the rollout is
    followed with the readiness model, and on a terminal failure or timeout the
    previous spec (kept redacted in ``hfinfer.io/applied-spec`` on the
    Deployment) is applied again and the task fails with the failed revision's
    reason. The rolled-back revision is then followed until it serves again (at
    most ``rollback_timeout`` seconds), and the failure message says which: "Rolled
    back to revision r1 ...; previous revision serving again (2/2 ready)" or "...,
    but the previous revision is not ready after 600s: <reason>". A workload that
    does not exist yet is created; if that first deploy fails, ``on_failure``
    applies as for the create operator.

    XCom: the create operator's result plus ``changed`` (False for a no-op) and
    ``previous_revision``. The rollout is followed from the worker even when
    ``deferrable`` is set: the rollback must run in the task that applied.

    :param rollback: Roll back to the previous spec when the rollout fails (default
        True); False leaves the failed revision applied (the old replicas of a
        rolling update keep serving until it is fixed).
    :param rollback_timeout: Seconds to follow the rolled-back revision until it serves
        again before the task fails (default: ``timeout``, at most 600). With
        ``update_strategy: Recreate`` the old pods were stopped and reload the model;
        with ``RollingUpdate`` they usually still serve. 0 checks once without waiting.
        Keep ``timeout`` plus this within ``execution_timeout``.
    :param wait_for_ready: Follow the rollout (default True; rollback needs it).
    :param kwargs: Every other parameter of :class:`HFInferenceCreateOperator`.
    """

    ui_color = "#ffe87a"

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
        super().__init__(if_exists="update", wait_for_ready=wait_for_ready, **kwargs)
        self.rollback = rollback
        self.rollback_timeout = rollback_timeout
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
        status, _waited = self._follow(workload.name, self.timeout, hint=workload)
        if _served(status):
            return
        name = workload.name
        if status.is_failed and generation_observed(status):
            raise WorkloadError(
                status.message, name=name, namespace=self.namespace, reason=status.reason
            )
        known = status.reason != "RolloutInProgress" and generation_observed(status)
        raise WorkloadError(
            f"not ready after {self.timeout:.0f}s: {status.message}",
            name=name,
            namespace=self.namespace,
            reason=status.reason if known else "Timeout",
        )

    def _follow(
        self,
        name: str,
        timeout: float,
        *,
        hint: InferenceWorkload | None = None,
        label: str | None = None,
    ) -> tuple[WorkloadStatus, float]:
        """Poll the readiness model until it serves, fails for good, or ``timeout`` passes.

        A terminal verdict ends the wait only once the controller has observed the
        Deployment's generation (:func:`generation_observed`).

        Args:
            name: The workload.
            timeout: Seconds to follow it; 0 reads it once.
            hint: The spec rolled out, to point a stuck surge pod to ``Recreate``.
            label: How progress lines name the workload (default ``name``).

        Returns:
            The last verdict and the seconds followed.
        """
        from airflow_provider_hfinfer.status import assess, progress_line

        started = time.monotonic()
        deadline = started + timeout
        last = ""
        hinted = False
        while True:
            snapshot = self.hook.workload_snapshot(name, self.namespace)
            status = assess(**snapshot, now=datetime.now(timezone.utc))
            if status.fingerprint() != last:
                self.log.info("%s", progress_line(status, name=label or name))
                last = status.fingerprint()
            if hint is not None and not hinted and _surge_unschedulable(status, hint):
                self.log.warning("rollout of %s is stuck: %s", name, RECREATE_HINT)
                hinted = True
            now = time.monotonic()
            if _settled(status) or now >= deadline:
                return status, now - started
            time.sleep(min(self.poll_interval, deadline - now))

    def _rollback_wait(self) -> float:
        if self.rollback_timeout is not None:
            return float(self.rollback_timeout)
        return min(float(self.timeout), ROLLBACK_WAIT_CAP)

    def _follow_rollback(self, previous: InferenceWorkload, failed: str) -> RollbackOutcome:
        """Follow the restored revision for ``rollback_timeout``; log where it ended."""
        started = time.monotonic()
        try:
            status, waited = self._follow(
                previous.name, self._rollback_wait(), label=f"{previous.name} (rolled back)"
            )
        except KubeAPIError as err:
            outcome = RollbackOutcome(True, None, time.monotonic() - started, str(err))
        else:
            outcome = RollbackOutcome(True, status, waited)
        log = self.log.warning if outcome.serving else self.log.error
        log("workload %s: %s", previous.name, outcome.sentence(previous, failed))
        return outcome

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
        try:
            self._restore(target, manifests)
        except WorkloadError as restore_err:
            self.log.error("rollback of workload %s failed: %s", workload.name, restore_err)
            outcome = RollbackOutcome(False, error=str(restore_err))
        else:
            outcome = self._follow_rollback(target[0], workload.model.revision or "(default)")
        raise WorkloadError(
            failure_message(workload, target[0], reason, err.message, outcome),
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

        The rollback here is applied but not followed (no ``rollback_timeout`` wait):
        ``on_kill`` runs in the few seconds a stopping task gets before it is killed
        for good, and a callback must not hold its process for minutes. The log says
        so; whether the previous revision serves again is for a readiness sensor (or
        the next run) to tell.
        """
        if not getattr(self, "_lock_for_execution", False):
            self.log.warning("rollout task lost (%s); the workload is kept as it is", reason)
            return
        target = self._rollback_to
        if target is not None:
            try:
                self._restore(target, [])
            except WorkloadError as err:
                self.log.error("rollback after '%s' failed: %s", reason, err)
                return
            self.log.warning(
                "not waiting for revision %s of workload %s to serve again (%s): follow it "
                "with InferenceReadySensor",
                target[0].model.revision or "(default)",
                target[0].name,
                reason,
            )
            return
        if self._had_workload:
            self.log.warning("rollout stopped (%s); the existing workload is kept as it is", reason)
            return
        super()._settle_failure(reason, context)


def _surge_unschedulable(status: WorkloadStatus, workload: InferenceWorkload) -> bool:
    return workload.update_strategy == "RollingUpdate" and status.reason == "Unschedulable"
