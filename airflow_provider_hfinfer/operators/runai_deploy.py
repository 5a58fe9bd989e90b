"""How the create operator deploys with ``backend="runai"``, and the steps update shares.

This module owns the Airflow side of the runai backend's create (the update and
its deferral are :mod:`.runai_update`'s), composed from
the same shared steps as the kubernetes pipeline (:mod:`.base`: the spec after
templating, pre-flight, the task identity and state record, the one polling
wait, the deferral and the ``on_failure`` policy) and the runai layer
(:mod:`airflow_provider_hfinfer.runai`: the plan, claim and submit steps):

* **create**: plan (the backend's rules first), claim the name (the task's own
  earlier try adopted, another's refused), create or adopt the Run:ai credential
  an inline token (or ``hf_conn_id``) becomes, submit (its ``HF_TOKEN`` from that
  credential's secret), drop the provider's older credentials of the workload (a
  rotated token's; a first submit the API refuses as invalid drops the new one
  again), then wait (polling, or
  deferred to :class:`~airflow_provider_hfinfer.triggers.runai.RunaiReadyTrigger`);
  the XCom result has the kubernetes backend's keys plus ``backend`` and
  ``workload_id``.
* **dry run**: the exact request bodies (the credential's with its value
  redacted), logged and returned; with a reachable control plane the name checks
  (workload and credential) run read-only as well. Nothing is written.

The token is masked in the task log (``mask_secret``) as soon as the spec is
resolved, before any request or log line.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import RunaiAPIError, RunaiInvalidRequestError
from airflow_provider_hfinfer.operators.backends import RunaiBackend
from airflow_provider_hfinfer.operators.common import task_identity
from airflow_provider_hfinfer.runai.plan import RunaiPlan, describe, placeholder_target, prepare
from airflow_provider_hfinfer.runai.requests import GENERIC_SECRETS, INFERENCES
from airflow_provider_hfinfer.spec.names import CREDENTIAL_ANNOTATION

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.operators.base import DeployOperatorBase
    from airflow_provider_hfinfer.render.options import RenderOptions
    from airflow_provider_hfinfer.runai.apply import Existing
    from airflow_provider_hfinfer.runai.session import RunaiSession
    from airflow_provider_hfinfer.spec import InferenceWorkload


def runai_backend(op: DeployOperatorBase) -> RunaiBackend:
    """The task's runai backend (a TypeError for a kubernetes task)."""
    backend = op.backend_impl
    if not isinstance(backend, RunaiBackend):
        raise TypeError(f"{op.task_id} does not use the runai backend")
    return backend


def options_of(op: DeployOperatorBase, backend: RunaiBackend) -> RenderOptions:
    """The connection's settings plus the operator's (defaults for a dry run without it)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_hfinfer.render.options import RenderOptions

    try:
        return backend.hook.render_options(op.render_options)
    except AirflowNotFoundException as err:
        if not op.is_dry_run:
            raise
        op.log.warning("dry run: %s; rendering with default settings", err)
        return RenderOptions.from_extras({}, op.render_options)


def plan_of(
    op: DeployOperatorBase,
    context: Context,
    *,
    previous: InferenceWorkload | None = None,
) -> tuple[RunaiPlan, bool]:
    """The plan and whether the control plane was reached (False: a dry run without it)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from airflow_provider_hfinfer.runai.rules import check_runai

    backend = runai_backend(op)
    workload = op.resolve_workload()  # an inline or hf_conn_id token is masked from here on
    check_runai(workload)  # before pre-flight or any request
    op.run_preflight(workload)
    options = options_of(op, backend)
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


def dry_run(op: DeployOperatorBase, plan: RunaiPlan, reached: bool, result: dict[str, Any]) -> Any:
    """Log and return the request bodies (values redacted); read-only name checks."""
    from airflow_provider_hfinfer.runai import apply as step
    from airflow_provider_hfinfer.runai import tokens

    if plan.credential is not None:
        result["credential_request"] = plan.credential.redacted()
        op.log.info(
            "dry run: the real run would first send POST %s with this body (value redacted):\n%s",
            GENERIC_SECRETS,
            json.dumps(result["credential_request"], indent=2, sort_keys=True),
        )
    body = plan.redacted_body()
    op.log.info(
        "dry run: the real run would send POST %s with this body:\n%s",
        INFERENCES,
        json.dumps(body, indent=2, sort_keys=True),
    )
    if reached:
        session = runai_backend(op).hook.session
        existing = step.claim(session, plan, if_exists=_if_exists(op), log=op.log)
        verb = "create" if existing is None else "replace the spec of"
        if existing is not None and existing.spec_hash == plan.spec_hash:
            verb = "leave unchanged"
        credential = tokens.check(session, plan)
        first = f"{credential}, then " if credential else ""
        op.log.info("dry run: name check passed; the real run would %s%s %s", first, verb, plan.ref)
    result["request"] = body
    return result


def ensure_credential(op: DeployOperatorBase, session: RunaiSession, plan: RunaiPlan) -> RunaiPlan:
    """Create or adopt the credential an inline token becomes; the plan referencing it."""
    from airflow_provider_hfinfer.runai import tokens

    return tokens.ensure(session, plan, op.log)


def prune_credentials(
    op: DeployOperatorBase,
    session: RunaiSession,
    plan: RunaiPlan,
    existing: Existing | None,
    keep: set[str] | None = None,
) -> None:
    """Delete the provider's other credentials of the workload (a rotated token's old one).

    Only when a credential is involved (the plan's, or the live workload's), so a
    spec with an existing secret sends no credential request at all.
    """
    from airflow_provider_hfinfer.runai import tokens

    had = existing is not None and CREDENTIAL_ANNOTATION in existing.annotations
    if plan.token_ref is None and not had:
        return
    keep = tokens.kept(plan) if keep is None else keep
    deleted = tokens.prune(session, plan.workload.name, plan.target, keep)
    if deleted:
        op.log.info("deleted %s (no longer used by %s)", ", ".join(deleted), plan.ref)


def _if_exists(op: DeployOperatorBase) -> str:
    return str(getattr(op, "if_exists", "fail"))


def fill_endpoint(backend: RunaiBackend, name: str, result: dict[str, Any]) -> None:
    """Fill the URL Run:ai serves the workload at, from the last look (or one read now)."""
    if name not in backend.urls:
        try:
            backend.observe(name, result["namespace"])
        except RunaiAPIError as err:
            backend.hook.log.warning("could not read the workload's URL: %s", err)
    result["endpoint_url"] = backend.urls.get(name)


def create_on_runai(op: DeployOperatorBase, context: Context) -> dict[str, Any]:
    """Plan, claim, submit; wait (or defer) until it serves; return where it serves."""
    from airflow_provider_hfinfer.operators.waiting import defer_wait
    from airflow_provider_hfinfer.runai import apply as step

    backend = runai_backend(op)
    plan, reached = plan_of(op, context)
    result = plan.result(dry_run=op.is_dry_run)
    if op.is_dry_run:
        return dict(dry_run(op, plan, reached, result))
    session = backend.hook.session
    existing = step.claim(session, plan, if_exists=_if_exists(op), log=op.log)
    op.record_state(context, plan.workload.name)
    op.applied = applied = _applied(plan, existing)
    plan = ensure_credential(op, session, plan)
    try:
        submitted = step.submit(session, plan, existing, op.log)
    except RunaiInvalidRequestError:
        if existing is None:  # refused as sent, and would be again: leave no credential behind
            prune_credentials(op, session, plan, None, keep=set())
        raise
    prune_credentials(op, session, plan, existing)
    # A new workload's phases are all about this spec; only an update can be read too early.
    written = None if submitted.created else submitted.written_at
    backend.remember(plan.workload.name, submitted.workload_id, written)
    result["workload_id"] = submitted.workload_id
    if existing is not None and not submitted.changed:
        _reopen(backend, plan)
    fill_endpoint(backend, plan.workload.name, result)
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
        fill_endpoint(backend, plan.workload.name, result)
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
