"""The steps for the Run:ai credential an inline token becomes: create or adopt, prune.

This module owns the I/O around :mod:`.credential`, with the same ownership rules
as the workload itself:

* :func:`ensure`: before the workload is submitted, find the planned credential by
  name in the project; this provider's (its marker names the workload) is adopted,
  so a retry after a failure between the two creates never duplicates it; one
  without the marker is a :class:`~airflow_provider_hfinfer.exceptions.
  NameTakenError` naming the credential and the fix; none is created (a 409 from a
  lost answer re-reads and adopts). The plan comes back referencing the Kubernetes
  secret Run:ai reports for it.
* :func:`check`: the same lookup, read-only, for a dry run.
* :func:`prune`: delete this provider's credentials of a workload except the ones
  kept (a rotated token's old one once the new revision serves; all of them when
  the workload is deleted).
* :func:`in_use`: the credential a live workload's ``HF_TOKEN`` comes from (a
  rollback to a recorded spec, whose token is masked, references it again).

The token travels only in the create request's body; the caller masks it in the
task log before anything runs. No Airflow.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_hfinfer.exceptions import NameTakenError, RunaiConflictError
from airflow_provider_hfinfer.runai.credential import (
    KIND,
    CredentialPlan,
    CredentialRef,
    is_ours,
    meta_of,
    secret_name_of,
)
from airflow_provider_hfinfer.runai.session import RunaiSession
from airflow_provider_hfinfer.spec.names import CREDENTIAL_ANNOTATION

if TYPE_CHECKING:
    from airflow_provider_hfinfer.runai.apply import Existing, Log
    from airflow_provider_hfinfer.runai.body import RunaiTarget
    from airflow_provider_hfinfer.runai.plan import RunaiPlan
    from airflow_provider_hfinfer.spec import InferenceWorkload


def _taken(plan: RunaiPlan, credential: CredentialPlan, found: Mapping[str, Any]) -> NameTakenError:
    who = meta_of(dict(found)).get("createdBy") or "someone else"
    return NameTakenError(
        f"a Run:ai credential named {credential.name!r} already exists in project "
        f"{plan.target.project!r} (created by {who}) and is not this provider's credential "
        f"for workload {plan.workload.name!r}: delete or rename that credential, or store "
        "the token yourself and use hf_access: {type: existing_secret, secret_name: "
        "<secret>, key: HF_TOKEN} (it is left untouched)",
        name=plan.workload.name,
        namespace=plan.target.project,
        reason="NameTaken",
    )


def _lookup(session: RunaiSession, plan: RunaiPlan) -> Mapping[str, Any] | None:
    """The credential of the planned name; a foreign one raises."""
    credential = plan.credential
    if credential is None:
        return None
    found = session.credentials(plan.target, credential.name)
    if not found:
        return None
    item = found[0]
    if not is_ours(dict(item), plan.workload.name):
        raise _taken(plan, credential, item)
    return item


def ensure(session: RunaiSession, plan: RunaiPlan, log: Log) -> RunaiPlan:
    """Create (or adopt) the plan's credential; the plan, ``HF_TOKEN`` from its secret.

    Raises:
        NameTakenError: A credential of that name is not this provider's.
    """
    credential = plan.credential
    if credential is None:
        return plan
    found = _lookup(session, plan)
    if found is None:
        try:
            found = session.create_credential(credential.body, plan.target)
        except RunaiConflictError:
            found = _lookup(session, plan)  # its own first send went through
            if found is None:
                raise
            log.info("adopted Run:ai credential %s (created by an earlier send)", credential.name)
        else:
            log.info(
                "created Run:ai credential %s (generic secret, key %s) for the Hugging Face "
                "token of %s",
                credential.name,
                credential.ref.key,
                plan.workload.name,
            )
    else:
        log.info("reusing Run:ai credential %s (same token, created earlier)", credential.name)
    return plan.with_secret(secret_name_of(dict(found)) or credential.ref.secret)


def check(session: RunaiSession, plan: RunaiPlan) -> str | None:
    """A dry run's read-only look: what the real run would do with the credential."""
    if plan.credential is None:
        return None
    verb = "create" if _lookup(session, plan) is None else "reuse"
    return f"{verb} {plan.credential.object_ref}"


def prune(
    session: RunaiSession, name: str, target: RunaiTarget, keep: Collection[str] = ()
) -> list[str]:
    """Delete this provider's credentials of workload ``name`` but ``keep``; what was deleted."""
    deleted = []
    for item in session.credentials(target):
        meta = meta_of(dict(item))
        credential = str(meta.get("name"))
        if not is_ours(dict(item), name) or credential in keep or not meta.get("id"):
            continue
        if session.delete_credential(str(meta["id"]), target):
            deleted.append(f"{KIND}/{credential}")
    return deleted


def in_use(existing: Existing | None) -> CredentialRef | None:
    """The credential the live workload's ``HF_TOKEN`` comes from, if the provider made one."""
    if existing is None:
        return None
    name = existing.annotations.get(CREDENTIAL_ANNOTATION)
    for variable in existing.spec.get("environmentVariables") or []:
        secret = variable.get("secret") if isinstance(variable, Mapping) else None
        if name and variable.get("name") == "HF_TOKEN" and isinstance(secret, Mapping):
            return CredentialRef(name, str(secret.get("key")), str(secret.get("name")))
    return None


def rollback_ref(
    previous: InferenceWorkload | None, existing: Existing | None
) -> CredentialRef | None:
    """The credential a rollback to ``previous`` references (its own token is masked)."""
    if previous is None or previous.inline_token() is None:
        return None
    return in_use(existing)


def kept(plan: RunaiPlan) -> set[str]:
    """The credential names a plan uses (what :func:`prune` keeps for it)."""
    return {plan.token_ref.name} if plan.token_ref is not None else set()
