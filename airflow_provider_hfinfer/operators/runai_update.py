"""How the update operator rolls a Run:ai workload forward, and back (no operator here).

This module owns the runai backend's update, composed from the create side's
steps (:mod:`.runai_deploy`: the plan, the dry run, the credential steps) and
the shared waits (:mod:`.rollout_wait`), plus the dispatch the deploy operators
call (:func:`deploy_on_runai`):

* **update**: an unchanged spec hash is a no-op (the hash includes the credential
  an inline token became, so a rotated token is a change); otherwise the new
  token's credential is created first, the spec is replaced (``PATCH``) and
  followed, and the provider's older credentials of the workload are deleted once
  it serves. When the new revision fails, the spec recorded in
  ``hfinfer.io/applied-spec`` is rendered and written back (referencing the
  credential the live workload used: a recorded token is masked), followed for
  ``rollback_timeout``, and the task fails with both outcomes.
* **deferral**: with ``deferrable`` the new revision, and a rolled-back one, are
  followed by the Run:ai trigger; ``execute_runai_complete`` resumes (perhaps on
  another worker) from the state the deferral carries.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import RunaiAPIError, WorkloadError
from airflow_provider_hfinfer.operators.common import task_identity
from airflow_provider_hfinfer.operators.runai_deploy import (
    create_on_runai,
    dry_run,
    ensure_credential,
    fill_endpoint,
    options_of,
    plan_of,
    prune_credentials,
    runai_backend,
)
from airflow_provider_hfinfer.render.records import spec_record
from airflow_provider_hfinfer.runai.credential import CredentialRef
from airflow_provider_hfinfer.runai.plan import RunaiPlan, prepare
from airflow_provider_hfinfer.spec.names import APPLIED_SPEC_ANNOTATION

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.operators.backends import RunaiBackend
    from airflow_provider_hfinfer.operators.base import DeployOperatorBase
    from airflow_provider_hfinfer.operators.update import HFInferenceUpdateOperator
    from airflow_provider_hfinfer.runai.apply import Existing
    from airflow_provider_hfinfer.spec import InferenceWorkload


def deploy_on_runai(op: DeployOperatorBase, context: Context) -> Any:
    """The runai pipeline of the create or update operator (``op.pipeline`` decides)."""
    if op.pipeline == "update":
        return update_on_runai(cast("HFInferenceUpdateOperator", op), context)
    return create_on_runai(op, context)


# ----------------------------------------------------------------- update


def _recorded(existing: Existing | None) -> InferenceWorkload | None:
    from airflow_provider_hfinfer.render.records import spec_from_record

    return spec_from_record(existing.annotations.get(APPLIED_SPEC_ANNOTATION)) if existing else None


def update_on_runai(op: HFInferenceUpdateOperator, context: Context) -> dict[str, Any]:
    """Replace the spec (unless unchanged), follow it, roll back to the recorded one if it fails."""
    from airflow_provider_hfinfer.runai import apply as step
    from airflow_provider_hfinfer.runai import tokens

    backend = runai_backend(op)
    plan, reached = plan_of(op, context)
    result = plan.result(dry_run=op.is_dry_run, changed=True, previous_revision=None)
    if op.is_dry_run:
        return dict(dry_run(op, plan, reached, result))
    session = backend.hook.session
    existing = step.claim(session, plan, if_exists="update", log=op.log)
    previous = _recorded(existing)
    result["previous_revision"] = previous.model.revision if previous else None
    if existing is not None and existing.spec_hash == plan.spec_hash:
        op.log.info("workload %s already runs this spec: nothing to do", plan.workload.name)
        result.update(changed=False, workload_id=existing.workload_id)
        fill_endpoint(backend, plan.workload.name, result)
        return result
    plan = plan.with_stamp(previous=previous)
    op.record_state(context, plan.workload.name)
    op.applied = AppliedWorkload(
        plan.workload.name, plan.target.project, (plan.ref,), existed=existing is not None
    )
    back_ref = tokens.rollback_ref(previous, existing)
    plan = ensure_credential(op, session, plan)
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
                "credentials": sorted(tokens.kept(plan)),
                "rollback_ref": list(vars(back_ref).values()) if back_ref else None,
                "had_credential": tokens.in_use(existing) is not None,
            }
            _defer(op, context, plan.workload.name, op.timeout, state)
        try:
            _await_rollout(op, plan.workload.name, existed=existing is not None)
        except WorkloadError as err:
            _fail_update(op, backend, plan, (previous, back_ref), submitted.workload_id, err)
    prune_credentials(op, session, plan, existing)
    fill_endpoint(backend, plan.workload.name, result)
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
    way_back: tuple[InferenceWorkload | None, CredentialRef | None],
    workload_id: str,
    err: WorkloadError,
) -> NoReturn:
    """Write the recorded spec back and follow it; fail with both outcomes.

    ``way_back`` is the recorded spec and the credential the live workload used
    (None when its token came from an existing secret).
    """
    from airflow_provider_hfinfer.deploy.rollout import RollbackOutcome, failure_message
    from airflow_provider_hfinfer.operators.rollout_wait import follow, log_rollback, rollback_wait

    workload, reason = plan.workload, err.reason or "Failed"
    previous, back_ref = way_back
    if previous is None or not op.rollback:
        raise WorkloadError(
            failure_message(workload, None, reason, err.message),
            name=workload.name,
            namespace=plan.target.project,
            reason=reason,
        ) from err
    back = prepare(previous, plan.target, plan.options, owner=plan.stamp.owner, token_ref=back_ref)
    started = time.monotonic()
    session = backend.hook.session
    try:
        written_at = session.update(workload_id, back.spec, plan.target)
    except RunaiAPIError as restore_err:
        outcome = RollbackOutcome(False, error=str(restore_err))
    else:
        backend.remember(workload.name, workload_id, written_at)
        prune_credentials(op, session, plan, None, keep={back_ref.name} if back_ref else set())
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
    workload = op.resolve_workload()
    outcome = ReadinessEvent.from_payload(event)
    op.log.info("%s", outcome.describe())
    raw = pending or context["ti"].xcom_pull(task_ids=op.task_id, key=PENDING_RESULT_KEY)
    state = dict(raw or {})
    backend = runai_backend(op)
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
        _prune_resumed(op, backend, workload.name, state, set(state.get("credentials") or ()))
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
    raw_ref = state.get("rollback_ref")
    back_ref = CredentialRef(*raw_ref) if raw_ref else None
    back = prepare(
        previous, target, options_of(op, backend), owner=task_identity(context), token_ref=back_ref
    )
    written_at = session.update(str(state.get("workload_id")), back.spec, target)
    backend.remember(workload.name, str(state.get("workload_id")), written_at)
    _prune_resumed(op, backend, workload.name, state, {back_ref.name} if back_ref else set())
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


def _prune_resumed(
    op: DeployOperatorBase,
    backend: RunaiBackend,
    name: str,
    state: Mapping[str, Any],
    keep: set[str],
) -> None:
    """After a deferred rollout serves (or is rolled back): drop the credentials not kept."""
    from airflow_provider_hfinfer.runai import tokens

    if not (state.get("credentials") or state.get("had_credential")):
        return
    session = backend.hook.session
    deleted = tokens.prune(session, name, session.resolve(op.namespace), keep)
    if deleted:
        op.log.info("deleted %s (no longer used by %s)", ", ".join(deleted), name)
