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
* **Deferral.** With ``deferrable=True`` the worker follows the rollout only until
  the Deployment controller has acted on the new spec (normally well under a
  second: until then the readiness model still judges the replaced revision's
  pods), then hands the wait to
  :class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger` and frees its
  slot. The way back cannot stay in the task's memory: every rollout also records
  the spec it replaces, redacted, in ``hfinfer.io/previous-spec`` on the
  Deployment (same apply), and the resumed task (``execute_rollout_complete``,
  perhaps on another worker) rebuilds the rollback from the live Deployment and
  its own spec. A rolled-back revision is followed the same way
  (``execute_rollback_complete``). Outcome and messages are those of the
  non-deferrable path; the little else a resumed task needs (whether the workload
  existed, the failure's reason) travels in the deferral's kwargs and in XCom
  ``hfinfer_pending_result`` (no secret: the token is masked).

It reuses the create operator's validation, pre-flight, ownership, quota and
apply steps; a workload that does not exist yet is simply created.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel, ConfigDict

from airflow_provider_hfinfer.exceptions import KubeAPIError, WorkloadError
from airflow_provider_hfinfer.hooks.inference import object_ref
from airflow_provider_hfinfer.operators.create import (
    OWNER_ANNOTATION,
    PENDING_RESULT_KEY,
    HFInferenceCreateOperator,
    _task_identity,
    workload_result,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.spec import InferenceWorkload
    from airflow_provider_hfinfer.status import WorkloadStatus
    from airflow_provider_hfinfer.triggers.events import ReadinessEvent

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


def _acted_on(status: WorkloadStatus) -> bool:
    """The controller has acted on the applied spec (or waiting is over anyway)."""
    return _settled(status) or generation_observed(status)


def rollout_failure(event: ReadinessEvent) -> WorkloadError | None:
    """The trigger's verdict on a rollout as the non-deferrable path words it (pure).

    Args:
        event: How the triggerer's wait ended.

    Returns:
        None when the new revision serves; otherwise the error the rollout fails
        with: the readiness model's reason and message, or ``Timeout`` (message
        "not ready after Ns: ...") when the rollout had not got anywhere known.
    """
    from airflow_provider_hfinfer.status import Reason

    if event.status == "ready":
        return None
    reason = event.reason or "Failed"
    if event.status == "timeout" and reason == Reason.ROLLOUT_IN_PROGRESS.value:
        reason = "Timeout"
    return WorkloadError(event.message, name=event.name, namespace=event.namespace, reason=reason)


def _masked(text: str, workload: InferenceWorkload) -> str:
    """``text`` with the workload's token replaced by ``***`` (XCom values are not masked)."""
    from airflow_provider_hfinfer.spec import NewSecretHFAccess, TokenHFAccess

    access = workload.hf_access
    if isinstance(access, TokenHFAccess):
        return text.replace(access.token.get_secret_value(), "***")
    if isinstance(access, NewSecretHFAccess):
        return text.replace(access.value.get_secret_value(), "***")
    return text


class _RolloutState(BaseModel):
    """What a deferred rollout hands to the resumed task besides the cluster's record.

    Passed as the deferral's kwargs and, because ``dag.test()`` resumes a task with
    the event alone, also stored in XCom ``hfinfer_pending_result``. JSON
    primitives only, never a secret. A missing record reads as the defaults.

    Attributes:
        had_workload: The Deployment existed before this rollout (so a failure
            leaves it as it is; a failed first deploy gets ``on_failure``).
        failed_reason: Why the new revision failed (set once it was rolled back).
        failed_message: The failure's message, the token masked.
        previous_spec: The redacted spec rolled back to (``applied_spec_json``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    had_workload: bool = True
    failed_reason: str = ""
    failed_message: str = ""
    previous_spec: str = ""


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

    With ``deferrable`` (and ``wait_for_ready``) the rollout, and a rolled-back
    revision, are followed by the triggerer once the Deployment controller has
    acted on the applied spec, so a model that loads for half an hour holds no
    worker slot. The rollback target survives the worker: each rollout records
    the spec it replaces, redacted, in ``hfinfer.io/previous-spec`` on the
    Deployment, and the resumed task rolls back from there. Result, rollback and
    messages are the same as without deferral. An unchanged spec or a dry run
    never defers.

    XCom: the create operator's result plus ``changed`` (False for a no-op) and
    ``previous_revision``.

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
        from airflow_provider_hfinfer.lifecycle import (
            recorded_previous_spec,
            recorded_spec,
            reopen,
            stamp_previous_spec,
            unchanged,
        )
        from airflow_provider_hfinfer.plan import describe_plan, redact_manifests

        workload = self._resolve_workload()
        self._preflight(workload)
        options = self._cluster_options()
        identity = _task_identity(context)
        manifests = self._render_spec(workload, options, identity)
        result = self._result(workload, options, manifests, identity)
        self.log.info("%s", describe_plan(workload, manifests, self.namespace))
        if self.is_dry_run:
            self._server_dry_run(manifests)
            result["manifests"] = redact_manifests(manifests)
            return result
        existing = self._check_ownership(workload, manifests, identity)
        deployment = existing.get(f"Deployment/{workload.name}")
        previous = recorded_spec(deployment)
        stamp_previous_spec(manifests, previous)  # a resumed (deferred) task's way back
        result["previous_revision"] = previous.model.revision if previous else None
        if existing and unchanged(existing, manifests):
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
            self._had_workload = True
            self._record_state(context, workload.name)
            return self._follow_rollout(
                context, workload, manifests, pending, options, identity, result
            )
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
        self._in_flight = (workload.name, [object_ref(item) for item in manifests])
        self._apply(workload, manifests, existing)
        reopen(self.hook, existing.values())
        return self._follow_rollout(
            context, workload, manifests, previous, options, identity, result
        )

    def _follow_rollout(
        self,
        context: Context,
        workload: InferenceWorkload,
        manifests: list[dict[str, Any]],
        previous: InferenceWorkload | None,
        options: RenderOptions,
        identity: str,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        """Wait (or defer) until the applied spec serves; roll back to ``previous`` if not."""
        if previous is not None and self.rollback:
            self._rollback_to = (previous, self._render_spec(previous, options, identity), identity)
        self._in_flight = (workload.name, [object_ref(item) for item in manifests])
        if self.wait_for_ready:
            deferring = context if self.deferrable else None
            try:
                self._await_rollout(workload, deferring)
            except WorkloadError as err:
                self._fail_rollout(workload, manifests, err, deferring)
        return self._finish(previous, options, identity, manifests, result)

    def _finish(
        self,
        previous: InferenceWorkload | None,
        options: RenderOptions,
        identity: str,
        manifests: list[dict[str, Any]],
        result: dict[str, Any],
    ) -> dict[str, Any]:
        """The new revision serves: forget the way back, delete what only ``previous`` had.

        The ``hfinfer.io/previous-spec`` record goes too: a later try of this task
        that finds it still there knows the rollout was never confirmed.
        """
        from airflow_provider_hfinfer.lifecycle import PREVIOUS_SPEC_ANNOTATION

        self._rollback_to = None
        if previous is not None:
            self._prune(self._render_spec(previous, options, identity), manifests)
            deployment = next((m for m in manifests if m["kind"] == "Deployment"), None)
            if deployment is not None and self.wait_for_ready:
                self.hook.annotate(deployment, {PREVIOUS_SPEC_ANNOTATION: None})
        return result

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
        from airflow_provider_hfinfer.lifecycle import recorded_previous_spec
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        workload = self._resolve_workload()  # first: it masks the token in this process
        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        state = self._pending_state(context, rollout)
        options = self._cluster_options()
        identity = _task_identity(context)
        manifests = self._render_spec(workload, options, identity)
        result = self._result(workload, options, manifests, identity)
        deployment = self.hook.get("apps/v1", "Deployment", workload.name, self.namespace)
        self._check_still_applied(workload, deployment, result["spec_hash"], identity)
        previous = recorded_previous_spec(deployment)
        result["previous_revision"] = previous.model.revision if previous else None
        self._had_workload = state.had_workload
        self._in_flight = (workload.name, list(result["objects"]))
        if previous is not None and self.rollback:
            self._rollback_to = (previous, self._render_spec(previous, options, identity), identity)
        error = rollout_failure(outcome)
        if error is not None:
            self._fail_rollout(workload, manifests, error, context)
        return self._finish(previous, options, identity, manifests, result)

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
        from airflow_provider_hfinfer.lifecycle import spec_from_record
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        workload = self._resolve_workload()  # first: it masks the token in this process
        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        state = self._pending_state(context, rollout)
        reason = state.failed_reason or "Failed"
        previous = spec_from_record(state.previous_spec)
        self._had_workload = True  # rolled back: a failure leaves the workload as it is
        rolled_back: RollbackOutcome | None = None
        if previous is not None:
            try:
                status, _ = self._follow(previous.name, 0, label=f"{previous.name} (rolled back)")
            except KubeAPIError as err:
                rolled_back = RollbackOutcome(True, None, outcome.elapsed_seconds, str(err))
            else:
                rolled_back = RollbackOutcome(True, status, outcome.elapsed_seconds)
            self._log_rollback(previous, workload.model.revision or "(default)", rolled_back)
        raise WorkloadError(
            failure_message(workload, previous, reason, state.failed_message, rolled_back),
            name=workload.name,
            namespace=self.namespace,
            reason=reason,
        )

    def _pending_state(self, context: Context, value: Mapping[str, Any] | None) -> _RolloutState:
        """The deferral's kwargs, else the XCom copy (``dag.test()`` drops the kwargs)."""
        raw = value
        if raw is None:
            raw = context["ti"].xcom_pull(task_ids=self.task_id, key=PENDING_RESULT_KEY)
        return _RolloutState.model_validate(dict(raw or {}))

    def _check_still_applied(
        self,
        workload: InferenceWorkload,
        deployment: Mapping[str, Any] | None,
        digest: str,
        identity: str,
    ) -> None:
        """Fail, touching nothing, when another apply replaced this task's spec meanwhile.

        Rolling back or pruning then would undo someone else's rollout.
        """
        from airflow_provider_hfinfer.render.metadata import SPEC_HASH_ANNOTATION

        meta = (deployment or {}).get("metadata") or {}
        annotations = meta.get("annotations") or {}
        ours = annotations.get(OWNER_ANNOTATION) == identity
        if ours and annotations.get(SPEC_HASH_ANNOTATION) == digest:
            return
        raise WorkloadError(
            f"while the triggerer followed revision {workload.model.revision or '(default)'} "
            f"of {workload.model.id}, Deployment/{workload.name} was deleted or re-applied "
            "by another task: it is left as it is (nothing rolled back or pruned); run the "
            "task again to roll this spec out",
            name=workload.name,
            namespace=self.namespace,
            reason="Superseded",
        )

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
        self,
        workload: InferenceWorkload,
        options: RenderOptions,
        manifests: list[dict[str, Any]],
        identity: str,
    ) -> dict[str, Any]:
        result = workload_result(workload, self.namespace, options, manifests)
        result.update(
            {
                "owner": identity,
                "dry_run": self.is_dry_run,
                "changed": True,
                "previous_revision": None,
            }
        )
        return result

    def _await_rollout(self, workload: InferenceWorkload, context: Context | None = None) -> None:
        """Follow the rollout until ready; raise with the failing reason otherwise.

        With ``context`` (deferrable) the wait moves to the triggerer once the
        controller has acted on the new spec; ``execute_rollout_complete`` resumes.
        """
        if context is None:
            status, _waited = self._follow(workload.name, self.timeout, hint=workload)
        else:
            state = _RolloutState(had_workload=self._had_workload)
            status, _waited = self._follow_or_defer(
                context,
                workload.name,
                self.timeout,
                "execute_rollout_complete",
                state,
                hint=workload,
            )
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

    def _follow_or_defer(
        self,
        context: Context,
        name: str,
        timeout: float,
        method: str,
        state: _RolloutState,
        *,
        hint: InferenceWorkload | None = None,
        label: str | None = None,
    ) -> tuple[WorkloadStatus, float]:
        """Follow until the controller acted on the applied spec, then defer the rest.

        Until the controller has observed the Deployment's new generation, the pods
        the readiness model judges are the replaced revision's (right after a
        rollback: the failed one's), and a trigger started then could report their
        failure as the new revision's. This wait is normally well under a second.

        Returns:
            The verdict and the seconds followed, when the workload settled (or
            ``timeout`` passed) before the controller's step; otherwise defers to
            ``method`` with ``state`` and does not return.
        """
        from airflow_provider_hfinfer.triggers.readiness import InferenceReadyTrigger

        started = time.time()
        status, waited = self._follow(name, timeout, hint=hint, label=label, until=_acted_on)
        if _settled(status) or waited >= timeout:
            return status, waited
        pending = state.model_dump()
        context["ti"].xcom_push(key=PENDING_RESULT_KEY, value=pending)
        self.log.info(
            "the controller has acted on the spec of %s: the triggerer follows it for at "
            "most %.0fs more",
            label or name,
            timeout - waited,
        )
        self.defer(
            trigger=InferenceReadyTrigger(
                name,
                self.namespace,
                self.kubernetes_conn_id,
                timeout=timeout,
                started_at=started,
                accept_scaled_to_zero=True,  # as _served(): an autoscaler's zero serves
            ),
            method_name=method,
            kwargs={"rollout": pending},
            timeout=timedelta(seconds=timeout - waited + 60),
        )

    def _follow(
        self,
        name: str,
        timeout: float,
        *,
        hint: InferenceWorkload | None = None,
        label: str | None = None,
        until: Callable[[WorkloadStatus], bool] = _settled,
    ) -> tuple[WorkloadStatus, float]:
        """Poll the readiness model until it serves, fails for good, or ``timeout`` passes.

        A terminal verdict ends the wait only once the controller has observed the
        Deployment's generation (:func:`generation_observed`).

        Args:
            name: The workload.
            timeout: Seconds to follow it; 0 reads it once.
            hint: The spec rolled out, to point a stuck surge pod to ``Recreate``.
            label: How progress lines name the workload (default ``name``).
            until: When to stop before ``timeout`` (default: the workload settled).

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
            if until(status) or now >= deadline:
                return status, now - started
            time.sleep(min(self.poll_interval, deadline - now))

    def _rollback_wait(self) -> float:
        if self.rollback_timeout is not None:
            return float(self.rollback_timeout)
        return min(float(self.timeout), ROLLBACK_WAIT_CAP)

    def _follow_rollback(
        self,
        previous: InferenceWorkload,
        failed: str,
        deferral: tuple[Context, _RolloutState] | None = None,
    ) -> RollbackOutcome:
        """Follow the restored revision for ``rollback_timeout``; log where it ended.

        With ``deferral`` the wait moves to the triggerer once the controller has
        acted on the restored spec (``execute_rollback_complete`` resumes).
        """
        started = time.monotonic()
        label = f"{previous.name} (rolled back)"
        try:
            if deferral is None:
                status, waited = self._follow(previous.name, self._rollback_wait(), label=label)
            else:
                status, waited = self._follow_or_defer(
                    deferral[0],
                    previous.name,
                    self._rollback_wait(),
                    "execute_rollback_complete",
                    deferral[1],
                    label=label,
                )
        except KubeAPIError as err:
            outcome = RollbackOutcome(True, None, time.monotonic() - started, str(err))
        else:
            outcome = RollbackOutcome(True, status, waited)
        self._log_rollback(previous, failed, outcome)
        return outcome

    def _log_rollback(
        self, previous: InferenceWorkload, failed: str, outcome: RollbackOutcome
    ) -> None:
        log = self.log.warning if outcome.serving else self.log.error
        log("workload %s: %s", previous.name, outcome.sentence(previous, failed))

    def _fail_rollout(
        self,
        workload: InferenceWorkload,
        manifests: list[dict[str, Any]],
        err: WorkloadError,
        context: Context | None = None,
    ) -> NoReturn:
        from airflow_provider_hfinfer.lifecycle import applied_spec_json

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
            deferral = None
            if context is not None:
                state = _RolloutState(
                    failed_reason=reason,
                    failed_message=_masked(err.message, workload),
                    previous_spec=applied_spec_json(target[0]),
                )
                deferral = (context, state)
            outcome = self._follow_rollback(
                target[0], workload.model.revision or "(default)", deferral
            )
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
