"""Pure rules of a rollout: when it counts as failed, what the message says, what travels.

This module owns the pieces of a model rollout that need no cluster: the
trigger's verdict worded as the polling path words it (:func:`rollout_failure`),
the failure message naming the failed revision and what the rollback left
(:func:`failure_message`, :class:`RollbackOutcome`), the state a deferred
rollout hands to its resumed half (:class:`RolloutState`, JSON primitives,
never a secret), and the hint for a surge pod no node can hold. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from airflow_provider_hfinfer.exceptions import WorkloadError
from airflow_provider_hfinfer.spec.names import SPEC_HASH_ANNOTATION, annotations_of, owner_of
from airflow_provider_hfinfer.status.verdict import generation_observed, serving

if TYPE_CHECKING:
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


def masked(text: str, workload: InferenceWorkload) -> str:
    """``text`` with the workload's token replaced by ``***`` (XCom values are not masked)."""
    token = workload.inline_token()
    return text.replace(token, "***") if token else text


class RolloutState(BaseModel):
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
        return self.applied and self.status is not None and serving(self.status)

    def sentence(
        self, previous: InferenceWorkload, failed: str, *, same_revision: bool = False
    ) -> str:
        """What the rollback to ``previous`` left, in one sentence (pure).

        Args:
            previous: The spec rolled back to.
            failed: The revision that failed, as the message names it.
            same_revision: The failed spec had the same model revision (only other
                fields changed), so the way back is named "the previous spec of ...".

        Returns:
            E.g. "Rolled back to revision r1 of org/model; previous revision serving
            again (2/2 ready)" or "..., but the previous revision is not ready after
            600s: ModelLoading: ...".
        """
        back = f"revision {previous.model.revision or '(default)'} of {previous.model.id}"
        if same_revision:
            back = f"the previous spec of {back}"
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


def changed_fields(
    previous: InferenceWorkload, new: InferenceWorkload, limit: int = 4
) -> list[str]:
    """Dotted paths of the spec fields that differ between two specs (secrets masked; pure).

    Mappings are compared key by key (``labels.team``); anything else as a whole.
    At most ``limit`` paths, then ``N more``.
    """
    found: list[str] = []

    def walk(old: Any, now: Any, path: str) -> None:
        if isinstance(old, Mapping) and isinstance(now, Mapping):
            for key in sorted(set(old) | set(now), key=str):
                walk(old.get(key), now.get(key), f"{path}.{key}" if path else str(key))
        elif old != now:
            found.append(path or "spec")

    walk(previous.redacted(), new.redacted(), "")
    if len(found) > limit:
        return [*found[:limit], f"{len(found) - limit} more"]
    return found


def failure_message(
    new: InferenceWorkload,
    previous: InferenceWorkload | None,
    reason: str,
    message: str,
    rollback: RollbackOutcome | None = None,
) -> str:
    """What the task reports when a revision fails, and what the rollback left (pure).

    When the model revision did not change, the failed spec is named by the fields
    that did (``revision main of org/model (changed: labels.team)``), so the
    message tells the two specs apart.
    """
    revision = new.model.revision or "(default)"
    same = previous is not None and (previous.model.id, previous.model.revision) == (
        new.model.id,
        new.model.revision,
    )
    failed, changed = revision, ""
    if previous is not None and same:
        changed = f" (changed: {', '.join(changed_fields(previous, new)) or 'the token only'})"
        failed = f"{revision}{changed}"
    text = f"revision {revision} of {new.model.id}{changed} failed ({reason}): {message}"
    if reason == "Unschedulable" and new.update_strategy == "RollingUpdate":
        text += f". {RECREATE_HINT}"
    if previous is None:
        return text
    if rollback is None:
        back = f"revision {previous.model.revision or '(default)'} of {previous.model.id}"
        return f"{text}. Rolled back to {'the previous spec of ' if same else ''}{back}"
    return f"{text}. {rollback.sentence(previous, failed, same_revision=same)}"


def surge_unschedulable(status: WorkloadStatus, workload: InferenceWorkload) -> bool:
    """A rolling update's extra pod finds no node (the way out: ``Recreate``)."""
    return workload.update_strategy == "RollingUpdate" and status.reason == "Unschedulable"


def superseded(
    workload: InferenceWorkload,
    namespace: str,
    owner: str | None,
    digest: str,
    deployment: Mapping[str, Any] | None,
) -> WorkloadError | None:
    """The error when another apply replaced this task's spec while it waited (pure).

    Rolling back or pruning then would undo someone else's rollout, so the
    resumed task touches nothing and fails with ``Superseded``; None when the
    live Deployment still carries this task's owner and spec hash.
    """
    if deployment is not None and owner_of(deployment) == owner:
        if annotations_of(deployment).get(SPEC_HASH_ANNOTATION) == digest:
            return None
    return WorkloadError(
        f"while the triggerer followed revision {workload.model.revision or '(default)'} "
        f"of {workload.model.id}, Deployment/{workload.name} was deleted or re-applied "
        "by another task: it is left as it is (nothing rolled back or pruned); run the "
        "task again to roll this spec out",
        name=workload.name,
        namespace=namespace,
        reason="Superseded",
    )
