"""Complete and TTL-cleanup operators, and the create operator's failure policy.

This module owns the Airflow side of a workload's end of life:

* :class:`HFInferenceCompleteOperator` marks a workload Completed (or Failed)
  with :func:`~airflow_provider_hfinfer.lifecycle.mark_finished`; with
  ``auto_delete_after: 0`` the workload is deleted on the spot, otherwise its
  TTL starts.
* :class:`HFInferenceCleanupOperator` deletes workloads whose TTL ran out. It
  lists the provider's objects with **one list call per object kind** (per
  namespace given, or cluster-wide), decides expiry with the pure
  :func:`~airflow_provider_hfinfer.lifecycle.find_expired` and deletes each
  expired workload's objects (the Deployment with background propagation, so
  its ReplicaSets and pods go too). It never touches an object without the
  provider's ``app.kubernetes.io/managed-by`` label, nor a workload without a
  finished mark.
* :func:`settle_failed_workload` and :func:`workload_failure_callback` apply the
  create operator's ``on_failure`` policy (``mark_failed``, ``delete``, ``keep``)
  when its readiness wait ends on a terminal failure, when the task is killed
  (``on_kill``, also on ``execution_timeout``) and when it fails for good
  (``on_failure_callback``; Airflow runs it on the worker, or in the DAG
  processor when the worker died without a trace).

If Airflow is down, nothing is lost: the finished mark, its timestamp and the
TTL live as annotations on the cluster objects, not in Airflow. Deletion is
only late; the next cleanup run after Airflow comes back lists every managed
object and deletes all that expired in the meantime (a scheduled DAG with
``catchup=False`` runs once, not once per missed interval, and one run is
enough).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook

if TYPE_CHECKING:
    from airflow.sdk import Context

FailurePolicy = Literal["mark_failed", "delete", "keep"]
FAILURE_POLICIES: tuple[str, ...] = ("mark_failed", "delete", "keep")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


def check_failure_policy(value: str) -> str:
    """Return ``value`` when it is a failure policy; raise ``ValueError`` with the fix."""
    if value not in FAILURE_POLICIES:
        raise ValueError(
            f"on_failure ({value!r}) must be 'mark_failed' (default: the TTL applies), "
            "'delete' (remove at once) or 'keep' (leave it running, e.g. to debug)"
        )
    return value


def adopted(objects: Iterable[Mapping[str, Any]], owner_key: str, identity: str) -> bool:
    """Whether any live object was deployed by another task than ``identity`` (pure)."""
    return any(
        (obj.get("metadata", {}).get("annotations") or {}).get(owner_key) != identity
        for obj in objects
    )


def _target(operator: Any, context: Context | None) -> tuple[str, str] | None:
    """``(name, namespace)`` of the workload this task applied, if it applied one."""
    in_flight = getattr(operator, "_in_flight", None)
    if in_flight:
        return str(in_flight[0]), str(operator.namespace)
    # A task prepared for execution ran in this process: nothing in flight means
    # it failed before applying anything (bad spec, name taken, quota), so there
    # is nothing of its own to settle.
    if getattr(operator, "_lock_for_execution", False) or context is None:
        return None
    # The DAG processor runs failure callbacks of a worker that died on a freshly
    # parsed task: the state store the create operator wrote is the only trace.
    from airflow_provider_hfinfer.operators.create import STATE_KEY

    store = context.get("task_state_store")
    try:
        state = store.get(STATE_KEY) if store is not None else None
    except Exception as err:  # noqa: BLE001 - a missing store backend must not mask the failure
        operator.log.warning("cannot read the task state store: %s", err)
        return None
    if isinstance(state, dict) and state.get("name") and state.get("namespace"):
        return str(state["name"]), str(state["namespace"])
    return None


def settle_failed_workload(
    operator: Any, reason: str, context: Context | None = None, *, now: datetime | None = None
) -> None:
    """Apply the operator's ``on_failure`` policy to the workload it applied, once.

    Args:
        operator: A create (or update) operator; reads ``on_failure``,
            ``kubernetes_conn_id`` and what it applied.
        reason: Why the task failed (short; goes into ``hfinfer.io/finish-reason``).
        context: The task context, when called from a callback.
        now: The moment of failure (default: the current UTC time).
    """
    from airflow_provider_hfinfer.lifecycle import FinishedPhase, delete_objects, mark_finished

    if getattr(operator, "_failure_settled", False):
        return
    target = _target(operator, context)
    policy = getattr(operator, "on_failure", "mark_failed")
    if target is None:
        return
    if getattr(operator, "_adopted", False):
        operator.log.warning(
            "%s: workload %s/%s was deployed by another task before; left as it is",
            reason,
            target[1],
            target[0],
        )
        return
    operator._failure_settled = True
    name, namespace = target
    if policy == "keep":
        operator.log.warning(
            "on_failure='keep': workload %s/%s left as it is; delete it by hand", namespace, name
        )
        return
    hook = HFInferenceHook(kubernetes_conn_id=operator.kubernetes_conn_id)
    if policy == "delete":
        deleted = delete_objects(hook, hook.list_workload_objects(name, namespace))
        operator.log.warning(
            "on_failure='delete': deleted %s", ", ".join(deleted) or "nothing (already gone)"
        )
        return
    result = mark_finished(
        hook, name, namespace, FinishedPhase.FAILED, now or utc_now(), reason=reason
    )
    if result.deleted:
        operator.log.warning(
            "workload %s/%s marked Failed and deleted (auto_delete_after 0)", namespace, name
        )
    else:
        operator.log.warning(
            "workload %s/%s marked Failed at %s; auto-deletion at %s",
            namespace,
            name,
            result.finished_at,
            result.expires_at or "never (no auto_delete_after)",
        )


def workload_failure_callback(context: Context) -> None:
    """``on_failure_callback`` of the create operator: settle the workload it applied."""
    task = context.get("task")
    settle = getattr(task, "_settle_failure", None)
    if not callable(settle):
        return
    error = context.get("exception")
    # The error's short reason or class only: a message could quote anything.
    cause = getattr(error, "reason", None) or (type(error).__name__ if error else None)
    reason = f"task failed: {cause}" if cause else "task failed"
    settle(reason, context)


class HFInferenceCompleteOperator(BaseOperator):
    """Mark a workload finished, so its auto-deletion timeframe starts (or it goes now).

    Every object of the workload gets ``hfinfer.io/phase`` and
    ``hfinfer.io/finished-at`` (RFC 3339). With ``auto_delete_after: 0`` the
    workload is deleted at once; otherwise ``HFInferenceCleanupOperator``
    deletes it when the timeframe has passed. Succeeds (marking nothing) when the
    workload is already gone. Returns what it marked and deleted, and when the
    workload expires.

    :param name: The workload name (templated; e.g. from the create task's XCom).
    :param namespace: The project's namespace (templated).
    :param kubernetes_conn_id: The Airflow Kubernetes connection.
    :param phase: ``Completed`` (default) or ``Failed``.
    :param reason: Why it failed (templated, short, never a secret).
    :param clock: Returns the current time; injected by tests (default: UTC now).
    :param dry_run: Log what would be marked; contact no cluster.
    :param workload_xcom: The create (or update) operator's result (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='deploy') }}"``: gives name and namespace, and
        limits marking to the objects that task applied (its ``owner``), so a
        same-named workload of another run or person is never marked. When it
        renders empty (the deploy task failed before returning), nothing is marked.
    """

    template_fields: Sequence[str] = (
        "name",
        "namespace",
        "kubernetes_conn_id",
        "reason",
        "workload_xcom",
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        namespace: str | None = None,
        workload_xcom: Mapping[str, Any] | str | None = None,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        phase: Literal["Completed", "Failed"] = "Completed",
        reason: str | None = None,
        clock: Clock | None = None,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if phase not in ("Completed", "Failed"):
            raise ValueError(f"phase ({phase!r}) must be 'Completed' or 'Failed'")
        if workload_xcom is None and (not name or not namespace):
            raise ValueError("give the workload as name + namespace, or as workload_xcom")
        self.name = name
        self.namespace = namespace
        self.workload_xcom = workload_xcom
        self.kubernetes_conn_id = kubernetes_conn_id
        self.phase = phase
        self.reason = reason
        self.clock = clock or utc_now
        self.is_dry_run = dry_run

    def _target(self) -> tuple[str, str, str | None] | None:
        """``(name, namespace, owner)`` after templating; None: nothing was deployed."""
        from airflow_provider_hfinfer.target import resolve_target

        if self.workload_xcom is not None:
            text = str(self.workload_xcom).strip()
            if not self.workload_xcom or text in ("None", "null", "{}"):
                return None
        target = resolve_target(self.name, self.namespace, self.workload_xcom)
        owner = target.get("owner")
        return target.name, target.namespace, (str(owner) if owner else None)

    def execute(self, context: Context) -> dict[str, Any]:
        """Mark the workload; delete it at once when its TTL is 0."""
        from airflow_provider_hfinfer.lifecycle import format_rfc3339, mark_finished

        target = self._target()
        if target is None:
            self.log.info("the deploy task returned no workload: nothing to mark")
            return {"name": self.name, "namespace": self.namespace, "marked": [], "deleted": []}
        self.name, self.namespace, owner = target
        if self.is_dry_run:
            now = format_rfc3339(self.clock())
            self.log.info(
                "dry run: would mark %s/%s %s at %s; its auto_delete_after counts from then",
                self.namespace,
                self.name,
                self.phase,
                now,
            )
            return {
                "name": self.name,
                "namespace": self.namespace,
                "phase": self.phase,
                "finished_at": now,
                "marked": [],
                "deleted": [],
                "expires_at": None,
                "dry_run": True,
            }

        hook: Any = HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)
        if owner is not None:
            hook = _OwnedObjectsOnly(hook, owner, self.log)
        result = mark_finished(
            hook, self.name, self.namespace, self.phase, self.clock(), reason=self.reason
        )
        where = f"{self.namespace}/{self.name}"
        if not result.marked:
            self.log.info("workload %s not found (for this deploy): nothing to mark", where)
        elif result.deleted:
            self.log.info(
                "workload %s %s; auto_delete_after 0: deleted %s",
                where,
                result.phase,
                ", ".join(result.deleted),
            )
        else:
            self.log.info(
                "workload %s marked %s at %s; auto-deletion at %s",
                where,
                result.phase,
                result.finished_at,
                result.expires_at or "never (no auto_delete_after)",
            )
        return result.to_xcom()


class _OwnedObjectsOnly:
    """A hook view that lists only the objects one task applied (``hfinfer.io/owner``)."""

    def __init__(self, hook: HFInferenceHook, owner: str, log: Any) -> None:
        self._hook = hook
        self._owner = owner
        self._log = log

    def list_workload_objects(self, name: str, namespace: str) -> list[dict[str, Any]]:
        from airflow_provider_hfinfer.operators.create import OWNER_ANNOTATION

        objects = self._hook.list_workload_objects(name, namespace)
        owned = [
            obj
            for obj in objects
            if (obj.get("metadata", {}).get("annotations") or {}).get(OWNER_ANNOTATION)
            == self._owner
        ]
        if len(owned) < len(objects):
            self._log.warning(
                "%d object(s) of %s/%s were applied by another task: left alone",
                len(objects) - len(owned),
                namespace,
                name,
            )
        return owned

    def annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        return self._hook.annotate(obj, annotations)

    def delete(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        return self._hook.delete(obj, dry_run=dry_run)


class HFInferenceCleanupOperator(BaseOperator):
    """Delete every workload whose auto-deletion timeframe has passed.

    Lists the provider's objects (label ``app.kubernetes.io/managed-by=
    airflow-provider-hfinfer``) with one list call per object kind, per
    namespace given or cluster-wide when none is; a workload expires when its
    Deployment (or, once that is gone, each leftover object) carries a finished
    mark older than its ``hfinfer.io/auto-delete-after``. Expired workloads are
    deleted with everything they own; unmarked ones and foreign objects are
    never touched. Returns ``namespace/name`` of the workloads deleted (or, in a
    dry run, of those that would be).

    If Airflow is down nothing is lost: marks and TTLs live on the cluster
    objects, so deletion is only late and the next run catches up.

    :param namespaces: Namespaces to clean (templated); None or empty: cluster-wide
        (needs list permission on every namespace).
    :param kubernetes_conn_id: The Airflow Kubernetes connection.
    :param dry_run: List what would be deleted; delete nothing.
    :param clock: Returns the current time; injected by tests (default: UTC now).
    """

    template_fields: Sequence[str] = ("namespaces", "kubernetes_conn_id")

    def __init__(
        self,
        *,
        namespaces: Sequence[str] | str | None = None,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        dry_run: bool = False,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespaces = namespaces
        self.kubernetes_conn_id = kubernetes_conn_id
        self.is_dry_run = dry_run
        self.clock = clock or utc_now

    def _scopes(self) -> list[str] | None:
        raw = self.namespaces
        names = [raw] if isinstance(raw, str) else list(raw or [])
        cleaned = [name.strip() for name in names if name and name.strip()]
        return sorted(set(cleaned)) or None

    def _list(
        self, hook: HFInferenceHook, selector: str, scopes: list[str] | None
    ) -> list[dict[str, Any]] | None:
        """List the managed objects; None in a dry run without a reachable cluster."""
        if not self.is_dry_run:
            return hook.list_selected(selector, scopes)
        from airflow.sdk.exceptions import AirflowException
        from kubernetes.config import ConfigException

        from airflow_provider_hfinfer.exceptions import KubeAPIError
        from airflow_provider_hfinfer.kube.client import RetryPolicy

        hook.retry_policy = RetryPolicy(attempts=2, timeout=10)
        try:
            return hook.list_selected(selector, scopes)
        except (AirflowException, ConfigException, OSError, KubeAPIError) as err:
            # No connection or kubeconfig is the normal case for a laptop dry run.
            self.log.warning("dry run: no cluster reachable, nothing listed: %s", err)
            return None

    def execute(self, context: Context) -> list[str]:
        """List, decide, delete; return ``namespace/name`` of the deleted workloads."""
        from airflow_provider_hfinfer.exceptions import KubeAPIError, WorkloadError
        from airflow_provider_hfinfer.lifecycle import (
            MANAGED_SELECTOR,
            delete_objects,
            find_expired,
        )

        hook = HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)
        scopes = self._scopes()
        listed = self._list(hook, MANAGED_SELECTOR, scopes)
        if listed is None:
            return []
        objects = listed
        now = self.clock()
        expired = find_expired(objects, now)
        where = ", ".join(scopes) if scopes else "all namespaces"
        self.log.info(
            "%d managed object(s) in %s; %d workload(s) expired at %s",
            len(objects),
            where,
            len(expired),
            now.isoformat(),
        )
        if self.is_dry_run:
            for item in expired:
                self.log.info(
                    "dry run: would delete %s (%s, expired %s): %s",
                    item.ref,
                    item.phase,
                    item.expired_at.isoformat(),
                    ", ".join(f"{obj['kind']}/{obj['metadata']['name']}" for obj in item.objects),
                )
            return [item.ref for item in expired]
        deleted: list[str] = []
        failed: list[str] = []
        for item in expired:
            try:
                delete_objects(hook, item.objects)
            except KubeAPIError as err:
                failed.append(f"{item.ref}: {err}")
                continue
            deleted.append(item.ref)
        self.log.info("deleted %d workload(s): %s", len(deleted), ", ".join(deleted) or "none")
        if failed:
            context["ti"].xcom_push(key="deleted", value=deleted)
            raise WorkloadError(
                f"{len(failed)} expired workload(s) could not be deleted (the next run retries): "
                + "; ".join(failed),
                reason="CleanupIncomplete",
            )
        return deleted
