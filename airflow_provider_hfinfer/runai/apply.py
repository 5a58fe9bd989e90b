"""The steps a deploy takes on Run:ai: claim the name, submit, read the status, delete.

This module owns the runai counterpart of :mod:`airflow_provider_hfinfer.deploy.
apply`, with the same rules as the kubernetes backend:

* :func:`claim`: a Run:ai workload of that name that this provider did not
  submit (no ``app.kubernetes.io/managed-by`` label, or another type) is a
  :class:`~airflow_provider_hfinfer.exceptions.NameTakenError`; one another task
  submitted is one too unless ``if_exists="update"``; the task's own earlier try
  is adopted, never duplicated.
* :func:`submit`: create it, or (when it exists and its spec hash differs)
  replace its spec; a create that meets a 409 because its own first try went
  through is adopted as well.
* :func:`observe`: one read of ``GET /api/v1/workloads/{id}``, judged by
  :func:`.status.assess_runai`, with the URL Run:ai serves it at.
* :func:`delete_named`: delete the workload of a name this provider manages, and
  the credentials it made of an inline token for it (:mod:`.tokens`).

It reaches the control plane only through :class:`~.session.RunaiSession` and
imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_hfinfer.exceptions import (
    NameTakenError,
    RunaiAccessDeniedError,
    RunaiConflictError,
)
from airflow_provider_hfinfer.runai.body import RunaiTarget, pairs_of
from airflow_provider_hfinfer.runai.plan import RunaiPlan
from airflow_provider_hfinfer.runai.session import RunaiSession
from airflow_provider_hfinfer.runai.status import assess_runai
from airflow_provider_hfinfer.spec.names import (
    CREDENTIAL_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    WORKLOAD_LABEL,
)
from airflow_provider_hfinfer.status import DEFAULT_GRACE_PERIOD_SECONDS, WorkloadStatus

INFERENCE_TYPES = frozenset({"inference", "inference-workload"})


class Log(Protocol):
    """Where a step reports progress (a ``logging.Logger`` or Airflow's task log)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Report progress."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Report something the user should know."""


@dataclass(frozen=True)
class Existing:
    """A Run:ai inference of the workload's name that this provider manages.

    Attributes:
        workload_id: Its UUID.
        annotations: Its spec's annotations (the provider's bookkeeping among them).
        labels: Its spec's labels.
        spec: The spec the control plane holds.
    """

    workload_id: str
    annotations: Mapping[str, str]
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def owner(self) -> str | None:
        """The task that submitted it (``hfinfer.io/owner``)."""
        return self.annotations.get(OWNER_ANNOTATION) or None

    @property
    def spec_hash(self) -> str | None:
        """Its ``hfinfer.io/spec-hash``."""
        return self.annotations.get(SPEC_HASH_ANNOTATION) or None


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit` did.

    Attributes:
        workload_id: The workload's UUID.
        written_at: The control plane's time of the create or update (None: nothing
            was written).
        created: A new workload was created.
        changed: The spec was written (created or replaced).
    """

    workload_id: str
    written_at: datetime | None
    created: bool
    changed: bool


def _taken(plan: RunaiPlan, detail: str) -> NameTakenError:
    return NameTakenError(
        detail, name=plan.workload.name, namespace=plan.target.project, reason="NameTaken"
    )


def existing_of(inference: Mapping[str, Any], workload_id: str) -> Existing:
    """An inference as :class:`Existing` (its annotations and labels as mappings)."""
    spec = inference.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    return Existing(
        workload_id, pairs_of(spec.get("annotations")), pairs_of(spec.get("labels")), spec
    )


def is_ours(existing: Existing, name: str) -> bool:
    """Whether this provider manages the workload as ``name``."""
    labels = existing.labels
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(WORKLOAD_LABEL) == name


def claim(session: RunaiSession, plan: RunaiPlan, *, if_exists: str, log: Log) -> Existing | None:
    """Check the name is this task's to use; the workload to reconcile, if any.

    Raises:
        NameTakenError: A workload of that name is not this provider's, or
            (``if_exists="fail"``) another task submitted it.
    """
    name, project = plan.workload.name, plan.target.project
    summary = session.find(name, plan.target)
    if summary is None:
        return None
    workload_id = str(summary.get("id") or summary.get("workloadId"))
    kind = str(summary.get("type") or "inference").lower()
    inference = session.inference(workload_id) if kind in INFERENCE_TYPES else None
    existing = existing_of(inference, workload_id) if inference is not None else None
    if existing is None or not is_ours(existing, name):
        who = summary.get("submittedBy") or summary.get("createdBy") or "someone else"
        raise _taken(
            plan,
            f"a Run:ai {kind} workload named {name!r} already exists in project {project!r} "
            f"(submitted by {who}) and is not managed by this provider: choose another "
            "workload name (it is left untouched)",
        )
    if existing.owner != plan.stamp.owner and if_exists == "fail":
        raise _taken(
            plan,
            f"workload {name!r} already exists in project {project!r} (created by "
            f"{existing.owner or 'another task'}): choose another name, or set "
            "if_exists='update' to roll it forward",
        )
    log.info("reconciling existing Run:ai workload %s (%s)", name, workload_id)
    return existing


def submit(
    session: RunaiSession, plan: RunaiPlan, existing: Existing | None, log: Log
) -> Submitted:
    """Create the workload, or replace its spec when the spec hash differs.

    A create answered 409 because this task's own earlier send went through (its
    answer was lost) is adopted, not duplicated.
    """
    if existing is None:
        try:
            answer, written_at = session.create(plan.body, plan.target)
        except RunaiConflictError:
            existing = claim(session, plan, if_exists="fail", log=log)
            if existing is None:
                raise
        else:
            workload_id = str(answer.get("workloadId") or answer.get("id"))
            log.info("submitted Run:ai inference %s (%s)", plan.workload.name, workload_id)
            return Submitted(workload_id, written_at, created=True, changed=True)
    if existing.spec_hash == plan.spec_hash:
        log.info(
            "Run:ai workload %s already runs this spec (spec-hash %s): nothing to write",
            plan.workload.name,
            plan.spec_hash,
        )
        return Submitted(existing.workload_id, None, created=False, changed=False)
    written_at = session.update(existing.workload_id, plan.spec, plan.target)
    log.info("replaced the spec of Run:ai workload %s", plan.workload.name)
    return Submitted(existing.workload_id, written_at, created=False, changed=True)


def endpoint_of(record: Mapping[str, Any] | None) -> str | None:
    """The first URL Run:ai reports for the workload, if any."""
    urls = record.get("urls") if record else None
    if isinstance(urls, list):
        return next((str(url) for url in urls if url), None)
    return None


def observe(
    session: RunaiSession,
    workload_id: str | None,
    *,
    grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
    min_ready: int | None = None,
    written_at: datetime | None = None,
) -> tuple[WorkloadStatus, str | None]:
    """Read the workload once and judge it; also the URL it serves at, when known."""
    record = session.workload(workload_id) if workload_id else None
    status = assess_runai(
        record,
        now=datetime.now(timezone.utc),
        grace_period_seconds=grace_period,
        min_ready=min_ready,
        written_at=written_at,
    )
    return status, endpoint_of(record)


def find_ours(session: RunaiSession, name: str, target: RunaiTarget) -> Existing | None:
    """The workload of that name if this provider manages it (others are never touched)."""
    summary = session.find(name, target)
    if summary is None:
        return None
    workload_id = str(summary.get("id") or summary.get("workloadId"))
    inference = session.inference(workload_id)
    existing = existing_of(inference, workload_id) if inference is not None else None
    return existing if existing is not None and is_ours(existing, name) else None


def delete_named(session: RunaiSession, name: str, target: RunaiTarget) -> list[str]:
    """Delete the workload of that name this provider manages, then its credentials.

    The credentials go even when the workload is already gone (a create that failed
    after its credential was made leaves nothing behind once the workload is deleted).
    """
    from airflow_provider_hfinfer.runai.tokens import prune

    existing = find_ours(session, name, target)
    if existing is not None:
        gone = session.delete(existing.workload_id, target)
        deleted = [f"InferenceWorkload/{name}"] if gone else []
        if CREDENTIAL_ANNOTATION in existing.annotations:
            deleted += prune(session, name, target)
        return deleted
    try:
        return prune(session, name, target)
    except RunaiAccessDeniedError:  # may not view credentials: it made none to leave behind
        return []


def observe_named(
    session: RunaiSession,
    name: str,
    project: str,
    *,
    workload_id: str | None = None,
    grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
    min_ready: int | None = None,
    written_at: datetime | None = None,
) -> tuple[WorkloadStatus, str | None, str | None]:
    """Judge the workload of that name (found first when its id is not known yet).

    Returns:
        The status, the URL it serves at (when reported) and its id (None: not found).
    """
    if workload_id is None:
        existing = find_ours(session, name, session.resolve(project))
        workload_id = existing.workload_id if existing is not None else None
    status, url = observe(
        session,
        workload_id,
        grace_period=grace_period,
        min_ready=min_ready,
        written_at=written_at,
    )
    return status, url, workload_id
