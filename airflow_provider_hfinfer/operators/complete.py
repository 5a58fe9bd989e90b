"""The complete operator: mark a workload finished, so its TTL starts (or it goes now).

This module owns :class:`HFInferenceCompleteOperator`. It marks every object of
a workload with :func:`~airflow_provider_hfinfer.deploy.finish.mark_finished`;
with ``auto_delete_after: 0`` the workload is deleted on the spot, otherwise
its TTL starts and :class:`~airflow_provider_hfinfer.operators.cleanup.
HFInferenceCleanupOperator` deletes it later. Given the deploy task's XCom it
marks only the objects that task applied.

If Airflow is down, nothing is lost: the finished mark, its timestamp and the
TTL live as annotations on the cluster objects, not in Airflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.operators.backends import RunaiBackend, choose_backend

if TYPE_CHECKING:
    from airflow.sdk import Context

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


class HFInferenceCompleteOperator(BaseOperator):
    """Mark a workload finished, so its auto-deletion timeframe starts (or it goes now).

    Every object of the workload gets ``hfinfer.io/phase`` and
    ``hfinfer.io/finished-at`` (RFC 3339). With ``auto_delete_after: 0`` the
    workload is deleted at once; otherwise ``HFInferenceCleanupOperator``
    deletes it when the timeframe has passed. Succeeds (marking nothing) when the
    workload is already gone. Returns what it marked and deleted, and when the
    workload expires.

    Args:
        name: The workload name (templated; e.g. from the create task's XCom).
        namespace: The project's namespace (templated).
        kubernetes_conn_id: The Airflow Kubernetes connection.
        phase: ``Completed`` (default) or ``Failed``.
        reason: Why it failed (templated, short, never a secret).
        clock: Returns the current time; injected by tests (default: UTC now).
        dry_run: Log what would be marked; contact no cluster.
        workload_xcom: The create (or update) operator's result (templated), e.g.
            ``"{{ ti.xcom_pull(task_ids='deploy') }}"``: gives name and namespace, and
            limits marking to the objects that task applied (its ``owner``), so a
            same-named workload of another run or person is never marked. When it
            renders empty (the deploy task failed before returning), nothing is marked.
        backend: ``kubernetes`` or ``runai`` (the marks go on the Run:ai workload's spec
            annotations, a new revision; the Run:ai inference API has no auto-deletion);
            default ``runai`` when ``runai_conn_id`` is given or ``workload_xcom`` says so.
        runai_conn_id: The Airflow ``runai`` connection, for ``backend="runai"``.
    """

    template_fields: Sequence[str] = (
        "name",
        "namespace",
        "kubernetes_conn_id",
        "reason",
        "workload_xcom",
        "runai_conn_id",
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
        backend: str | None = None,
        runai_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        choose_backend(backend, runai_conn_id)  # an unknown backend fails at parse time
        self.backend = backend
        self.runai_conn_id = runai_conn_id
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
        from airflow_provider_hfinfer.deploy.target import resolve_target

        if self.workload_xcom is not None:
            text = str(self.workload_xcom).strip()
            if not self.workload_xcom or text in ("None", "null", "{}"):
                return None
        target = resolve_target(self.name, self.namespace, self.workload_xcom)
        self.backend = choose_backend(self.backend or target.get("backend"), self.runai_conn_id)
        owner = target.get("owner")
        return target.name, target.namespace, (str(owner) if owner else None)

    def execute(self, context: Context) -> dict[str, Any]:
        """Mark the workload; delete it at once when its TTL is 0."""
        from airflow_provider_hfinfer.deploy.finish import mark_finished
        from airflow_provider_hfinfer.deploy.marks import format_rfc3339

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
        if self.backend == "runai":
            hook = RunaiBackend(self.runai_conn_id or "runai_default").workload_client()
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
        from airflow_provider_hfinfer.spec.names import owner_of

        objects = self._hook.list_workload_objects(name, namespace)
        owned = [obj for obj in objects if owner_of(obj) == self._owner]
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
