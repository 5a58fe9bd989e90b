"""How the create and update operators deploy with ``backend="runai"`` (no operator here).

This module owns the Airflow side of the runai backend's deploy, composed from
the same shared steps as the kubernetes pipeline (:mod:`.base`: the spec after
templating, pre-flight, the task identity and state record, the one polling
wait, the deferral and the ``on_failure`` policy) and the runai layer
(:mod:`airflow_provider_hfinfer.runai`: the plan, claim and submit steps):

* **create**: plan (the backend's rules first), claim the name (the task's own
  earlier try adopted, another's refused), submit, then wait (polling, or
  deferred to :class:`~airflow_provider_hfinfer.triggers.runai.RunaiReadyTrigger`);
  the XCom result has the kubernetes backend's keys plus ``backend`` and
  ``workload_id``.
* **update**: an unchanged spec hash is a no-op; otherwise the spec is replaced
  (``PATCH``) and followed, and when the new revision fails the spec recorded in
  ``hfinfer.io/applied-spec`` is rendered and written back, followed for
  ``rollback_timeout``, and the task fails with both outcomes.
* **deferral**: with ``deferrable`` the new revision, and a rolled-back one, are
  followed by the Run:ai trigger; ``execute_runai_complete`` resumes (perhaps on
  another worker) from the state the deferral carries.
* **dry run**: the exact request body, secrets redacted, logged and returned;
  with a reachable control plane the name check runs read-only as well.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import RunaiAPIError, SpecError, WorkloadError
from airflow_provider_hfinfer.operators.backends import RunaiBackend
from airflow_provider_hfinfer.operators.common import spec_error, task_identity
from airflow_provider_hfinfer.render.records import spec_record
from airflow_provider_hfinfer.runai.plan import RunaiPlan, describe, placeholder_target, prepare
from airflow_provider_hfinfer.runai.requests import INFERENCES
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.operators.base import DeployOperatorBase
    from airflow_provider_hfinfer.operators.update import HFInferenceUpdateOperator
    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.runai.apply import Existing
    from airflow_provider_hfinfer.spec import InferenceWorkload


def _backend(op: DeployOperatorBase) -> RunaiBackend:
    backend = op.backend_impl
    if not isinstance(backend, RunaiBackend):
        raise TypeError(f"{op.task_id} does not use the runai backend")
    return backend


def _workload(op: DeployOperatorBase) -> InferenceWorkload:
    """The validated spec; ``hf_conn_id`` is refused before its connection is read."""
    from pydantic import ValidationError

    from airflow_provider_hfinfer.runai.rules import check_runai
    from airflow_provider_hfinfer.spec import InferenceWorkload

    if op.hf_conn_id:
        try:
            parsed = InferenceWorkload.parse(op.workload)
        except (ValidationError, SpecError) as err:
            raise spec_error(err) from None
        check_runai(parsed, hf_conn_id=op.hf_conn_id)
    return op.resolve_workload()


def _options(op: DeployOperatorBase, backend: RunaiBackend) -> RenderOptions:
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_hfinfer.render.options import RenderOptions

    try:
        return backend.hook.render_options(op.render_options)
    except AirflowNotFoundException as err:
        if not op.is_dry_run:
            raise
        op.log.warning("dry run: %s; rendering with default settings", err)
        return RenderOptions.from_extras({}, op.render_options)


def _plan(
    op: DeployOperatorBase,
    context: Context,
    *,
    previous: InferenceWorkload | None = None,
) -> tuple[RunaiPlan, bool]:
    """The plan and whether the control plane was reached (False: a dry run without it)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_hfinfer.runai.rules import check_runai

    backend = _backend(op)
    workload = _workload(op)
    check_runai(workload)  # before pre-flight or any request
    op.run_preflight(workload)
    options = _options(op, backend)
    reached = True
    try:
        target = backend.hook.session.resolve(op.namespace)
    except (AirflowNotFoundException, RunaiAPIError, ValueError) as err:
        status = getattr(err, "status", 0)
        if not op.is_dry_run or status not in (0, 401, 403):
            raise
        op.log.warning("dry run: the Run:ai control plane was not reached (%s)", err)
        target, reached = placeholder_target(op.namespace), False
    plan = prepare(workload, target, options, owner=task_identity(context), previous=previous)
    op.log.info("%s", describe(plan))
    return plan, reached


def _dry_run(op: DeployOperatorBase, plan: RunaiPlan, reached: bool, result: dict[str, Any]) -> Any:
    from airflow_provider_hfinfer.runai import apply as step

    body = plan.redacted_body()
    op.log.info(
        "dry run: the real run would send POST %s with this body:\n%s",
        INFERENCES,
        json.dumps(body, indent=2, sort_keys=True),
    )
    if reached:
        existing = step.claim(_backend(op).hook.session, plan, if_exists=_if_exists(op), log=op.log)
        verb = "create" if existing is None else "replace the spec of"
        if existing is not None and existing.spec_hash == plan.spec_hash:
            verb = "leave unchanged"
        op.log.info("dry run: name check passed; the real run would %s %s", verb, plan.ref)
    result["request"] = body
    return result


def _if_exists(op: DeployOperatorBase) -> str:
    return str(getattr(op, "if_exists", "fail"))


def _endpoint(backend: RunaiBackend, name: str, result: dict[str, Any]) -> None:
    """Fill the URL Run:ai serves the workload at, from the last look (or one read now)."""
    if name not in backend.urls:
        try:
            backend.observe(name, result["namespace"])
        except RunaiAPIError as err:
            backend.hook.log.warning("could not read the workload's URL: %s", err)
    result["endpoint_url"] = backend.urls.get(name)


def deploy_on_runai(op: DeployOperatorBase, context: Context) -> Any:
    """The runai pipeline of the create or update operator (``op.pipeline`` decides)."""
    if op.pipeline == "update":
        return update_on_runai(cast("HFInferenceUpdateOperator", op), context)
    return create_on_runai(op, context)


def create_on_runai(op: DeployOperatorBase, context: Context) -> dict[str, Any]:
    """Plan, claim, submit; wait (or defer) until it serves; return where it serves."""
    from airflow_provider_hfinfer.operators.waiting import defer_wait
    from airflow_provider_hfinfer.runai import apply as step

    backend = _backend(op)
    plan, reached = _plan(op, context)
    result = plan.result(dry_run=op.is_dry_run)
    if op.is_dry_run:
        return dict(_dry_run(op, plan, reached, result))
    session = backend.hook.session
    existing = step.claim(session, plan, if_exists=_if_exists(op), log=op.log)
    op.record_state(context, plan.workload.name)
    op.applied = applied = _applied(plan, existing)
    submitted = step.submit(session, plan, existing, op.log)
    # A new workload's phases are all about this spec; only an update can be read too early.
    written = None if submitted.created else submitted.written_at
    backend.remember(plan.workload.name, submitted.workload_id, written)
    result["workload_id"] = submitted.workload_id
    if existing is not None and not submitted.changed:
        _reopen(backend, plan)
    _endpoint(backend, plan.workload.name, result)
    if op.wait_for_ready and op.deferrable:
        pending = {"result": result, "adopted": applied.adopted}
        defer_wait(
            op,
            context,
            name=plan.workload.name,
            timeout=op.timeout,
            started_at=time.time(),
            method="execute_complete",
            kwargs=pending,
            pending=pending,
        )
    if op.wait_for_ready:
        op.wait_until_serving(plan.workload.name)
        _endpoint(backend, plan.workload.name, result)
    return result


def _applied(plan: RunaiPlan, existing: Existing | None) -> AppliedWorkload:
    return AppliedWorkload(
        plan.workload.name,
        plan.target.project,
        (plan.ref,),
        adopted=existing is not None and existing.owner != plan.stamp.owner,
        existed=existing is not None,
    )


def _reopen(backend: RunaiBackend, plan: RunaiPlan) -> None:
    """A workload deployed again is running, not finished: drop an old finished mark."""
    from airflow_provider_hfinfer.deploy.finish import reopen

    client = backend.workload_client()
    reopen(client, client.list_workload_objects(plan.workload.name, plan.target.project))


# ----------------------------------------------------------------- update


def _recorded(existing: Existing | None) -> InferenceWorkload | None:
    from airflow_provider_hfinfer.render.records import spec_from_record

    return spec_from_record(existing.annotations.get(APPLIED_SPEC_ANNOTATION)) if existing else None


def update_on_runai(op: HFInferenceUpdateOperator, context: Context) -> dict[str, Any]:
    """Replace the spec (unless unchanged), follow it, roll back to the recorded one if it fails."""
    from airflow_provider_hfinfer.runai import apply as step

    backend = _backend(op)
    plan, reached = _plan(op, context)
    result = plan.result(dry_run=op.is_dry_run, changed=True, previous_revision=None)
    if op.is_dry_run:
        return dict(_dry_run(op, plan, reached, result))
    session = backend.hook.session
    existing = step.claim(session, plan, if_exists="update", log=op.log)
    previous = _recorded(existing)
    result["previous_revision"] = previous.model.revision if previous else None
    if existing is not None and existing.spec_hash == plan.spec_hash:
        op.log.info("workload %s already runs this spec: nothing to do", plan.workload.name)
        result.update(changed=False, workload_id=existing.workload_id)
        _endpoint(backend, plan.workload.name, result)
        return result
    plan = plan.with_stamp(previous=previous)
    op.record_state(context, plan.workload.name)
    op.applied = AppliedWorkload(
        plan.workload.name, plan.target.project, (plan.ref,), existed=existing is not None
    )
    submitted = step.submit(session, plan, existing, op.log)
    written = None if submitted.created else submitted.written_at
    backend.remember(plan.workload.name, submitted.workload_id, written)
    result["workload_id"] = submitted.workload_id
    if op.wait_for_ready:
        if op.deferrable:
            state = {
                "kind": "rollout",
                "result": result,
                "workload_id": submitted.workload_id,
                "written_at": written.isoformat() if written else None,
                "previous_spec": spec_record(previous) if previous else "",
                "had_workload": existing is not None,
            }
            _defer(op, context, plan.workload.name, op.timeout, state)
        try:
            _await_rollout(op, plan.workload.name, existed=existing is not None)
        except WorkloadError as err:
            _fail_update(op, backend, plan, previous, submitted.workload_id, err)
    _endpoint(backend, plan.workload.name, result)
    return result


def _await_rollout(op: HFInferenceUpdateOperator, name: str, *, existed: bool) -> None:
    """Follow the new revision; a failure raises (a first deploy's also gets ``on_failure``)."""
    from airflow_provider_hfinfer.operators.rollout_wait import follow
    from airflow_provider_hfinfer.status.verdict import Outcome, verdict

    if not existed:
        op.wait_until_serving(name)
        return
    status, waited = follow(op, name, op.timeout)
    outcome = verdict(status)
    if outcome is Outcome.SERVING:
        return
    if outcome is Outcome.FAILED:
        raise WorkloadError(status.message, name=name, namespace=op.namespace, reason=status.reason)
    raise WorkloadError(
        f"not ready after {waited:.0f}s: {status.message}",
        name=name,
        namespace=op.namespace,
        reason="Timeout",
    )


def _fail_update(
    op: HFInferenceUpdateOperator,
    backend: RunaiBackend,
    plan: RunaiPlan,
    previous: InferenceWorkload | None,
    workload_id: str,
    err: WorkloadError,
) -> NoReturn:
    """Write the recorded spec back and follow it; fail with both outcomes."""
    from airflow_provider_hfinfer.deploy.rollout import RollbackOutcome, failure_message
    from airflow_provider_hfinfer.operators.rollout_wait import follow, log_rollback, rollback_wait

    workload, reason = plan.workload, err.reason or "Failed"
    if previous is None or not op.rollback:
        raise WorkloadError(
            failure_message(workload, None, reason, err.message),
            name=workload.name,
            namespace=plan.target.project,
            reason=reason,
        ) from err
    back = prepare(previous, plan.target, plan.options, owner=plan.stamp.owner)
    started = time.monotonic()
    try:
        written_at = backend.hook.session.update(workload_id, back.spec, plan.target)
    except RunaiAPIError as restore_err:
        outcome = RollbackOutcome(False, error=str(restore_err))
    else:
        backend.remember(workload.name, workload_id, written_at)
        try:
            label = f"{workload.name} (rolled back)"
            status, waited = follow(op, workload.name, rollback_wait(op), label=label)
        except RunaiAPIError as read_err:
            outcome = RollbackOutcome(True, None, time.monotonic() - started, str(read_err))
        else:
            outcome = RollbackOutcome(True, status, waited)
        log_rollback(op, previous, workload.model.revision or "(default)", outcome)
    raise WorkloadError(
        failure_message(workload, previous, reason, err.message, outcome),
        name=workload.name,
        namespace=plan.target.project,
        reason=reason,
    ) from err


# ------------------------------------------------------- deferred update


def _defer(
    op: DeployOperatorBase, context: Context, name: str, timeout: float, state: dict[str, Any]
) -> None:
    """Hand the wait to the Run:ai trigger; ``execute_runai_complete`` resumes with ``state``."""
    from airflow_provider_hfinfer.operators.waiting import defer_wait

    defer_wait(
        op,
        context,
        name=name,
        timeout=timeout,
        started_at=time.time(),
        method="execute_runai_complete",
        kwargs={"pending": state},
        pending=state,
    )


def resume_on_runai(
    op: DeployOperatorBase,
    context: Context,
    event: Mapping[str, Any] | None,
    pending: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Resume a deferred Run:ai update: done, or roll back (deferring again), or fail.

    A resumed task may run on another worker: what it needs comes from the
    deferral's ``pending`` state (or its XCom copy, which ``dag.test()`` uses), its
    own templated spec, and the control plane.
    """
    from datetime import datetime

    from airflow_provider_hfinfer.deploy.rollout import (
        RollbackOutcome,
        failure_message,
        rollout_failure,
    )
    from airflow_provider_hfinfer.render.records import spec_from_record
    from airflow_provider_hfinfer.spec.names import PENDING_RESULT_KEY
    from airflow_provider_hfinfer.triggers.events import ReadinessEvent

    op.ran_here = True
    workload = _workload(op)
    outcome = ReadinessEvent.from_payload(event)
    op.log.info("%s", outcome.describe())
    raw = pending or context["ti"].xcom_pull(task_ids=op.task_id, key=PENDING_RESULT_KEY)
    state = dict(raw or {})
    backend = _backend(op)
    written = state.get("written_at")
    backend.remember(
        workload.name,
        str(state.get("workload_id")),
        datetime.fromisoformat(written) if written else None,
    )
    previous = spec_from_record(state.get("previous_spec"))
    op.applied = AppliedWorkload(
        workload.name, op.namespace, existed=bool(state.get("had_workload"))
    )
    if state.get("kind") == "rollback":
        status = backend.observe(workload.name, op.namespace)
        rolled = RollbackOutcome(True, status, outcome.elapsed_seconds)
        raise WorkloadError(
            failure_message(
                workload,
                previous,
                str(state.get("failed_reason")),
                str(state.get("failed_message")),
                rolled,
            ),
            name=workload.name,
            namespace=op.namespace,
            reason=str(state.get("failed_reason")),
        )
    error = rollout_failure(outcome)
    if error is None:
        return dict(state.get("result") or {})
    reason = error.reason or "Failed"
    update = cast("HFInferenceUpdateOperator", op)
    if previous is None or not update.rollback:
        if not state.get("had_workload"):
            op.settle_failure(f"{reason}: {error.message}")
        raise WorkloadError(
            failure_message(workload, None, reason, error.message),
            name=workload.name,
            namespace=op.namespace,
            reason=reason,
        )
    session = backend.hook.session
    target = session.resolve(op.namespace)
    back = prepare(previous, target, _options(op, backend), owner=task_identity(context))
    written_at = session.update(str(state.get("workload_id")), back.spec, target)
    backend.remember(workload.name, str(state.get("workload_id")), written_at)
    op.log.warning(
        "revision %s failed (%s): rolled back to revision %s; following it",
        workload.model.revision or "(default)",
        reason,
        previous.model.revision or "(default)",
    )
    state.update(
        kind="rollback",
        written_at=written_at.isoformat(),
        failed_reason=reason,
        failed_message=error.message,
    )
    from airflow_provider_hfinfer.operators.rollout_wait import rollback_wait

    _defer(op, context, workload.name, rollback_wait(update), state)
    raise RuntimeError("the deferral did not hand the task to the triggerer")
