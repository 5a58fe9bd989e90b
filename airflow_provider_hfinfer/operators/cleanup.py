"""The cleanup operator: delete every workload whose auto-deletion timeframe has passed.

This module owns :class:`HFInferenceCleanupOperator`. It lists the provider's
objects with **one list call per object kind** (per namespace given, or
cluster-wide), decides expiry with the pure
:func:`~airflow_provider_hfinfer.deploy.marks.find_expired` and deletes each
expired workload's objects (the Deployment with background propagation, so
its ReplicaSets and pods go too). It never touches an object without the
provider's ``app.kubernetes.io/managed-by`` label, nor a workload without a
finished mark.

If Airflow is down, nothing is lost: deletion is only late; the next cleanup
run after Airflow comes back lists every managed object and deletes all that
expired in the meantime (a scheduled DAG with ``catchup=False`` runs once, not
once per missed interval, and one run is enough).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.operators.backends import RunaiBackend, choose_backend
from airflow_provider_hfinfer.operators.complete import Clock, utc_now

if TYPE_CHECKING:
    from airflow.sdk import Context


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

    Args:
        namespaces: Namespaces to clean (templated); None or empty: cluster-wide
            (needs list permission on every namespace).
        kubernetes_conn_id: The Airflow Kubernetes connection.
        dry_run: List what would be deleted; delete nothing.
        clock: Returns the current time; injected by tests (default: UTC now).
        backend: ``kubernetes`` or ``runai`` (the Run:ai projects in ``namespaces``, which
            must be given: one listing per project, one read per inference workload);
            default ``runai`` exactly when ``runai_conn_id`` is given.
        runai_conn_id: The Airflow ``runai`` connection, for ``backend="runai"``.
    """

    template_fields: Sequence[str] = ("namespaces", "kubernetes_conn_id", "runai_conn_id")

    def __init__(
        self,
        *,
        namespaces: Sequence[str] | str | None = None,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        dry_run: bool = False,
        clock: Clock | None = None,
        backend: str | None = None,
        runai_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend = choose_backend(backend, runai_conn_id)
        self.runai_conn_id = runai_conn_id or "runai_default"
        self.namespaces = namespaces
        self.kubernetes_conn_id = kubernetes_conn_id
        self.is_dry_run = dry_run
        self.clock = clock or utc_now

    def _scopes(self) -> list[str] | None:
        raw = self.namespaces
        names = [raw] if isinstance(raw, str) else list(raw or [])
        cleaned = [name.strip() for name in names if name and name.strip()]
        return sorted(set(cleaned)) or None

    def _list(self, hook: Any, selector: str, scopes: list[str] | None) -> list[Any] | None:
        """List the managed objects; None in a dry run without a reachable cluster."""
        if not self.is_dry_run:
            return list(hook.list_selected(selector, scopes))
        from airflow.sdk.exceptions import AirflowException
        from kubernetes.config import ConfigException

        from airflow_provider_hfinfer.exceptions import KubeAPIError, RunaiAPIError
        from airflow_provider_hfinfer.kube.client import RetryPolicy

        retry = {} if self.backend == "runai" else {"retry": RetryPolicy(attempts=2, timeout=10)}
        try:
            return list(hook.list_selected(selector, scopes, **retry))
        except (AirflowException, ConfigException, OSError, KubeAPIError, RunaiAPIError) as err:
            # No connection or kubeconfig is the normal case for a laptop dry run.
            self.log.warning("dry run: no cluster reachable, nothing listed: %s", err)
            return None

    def execute(self, context: Context) -> list[str]:
        """List, decide, delete; return ``namespace/name`` of the deleted workloads."""
        from airflow_provider_hfinfer.deploy.finish import delete_objects
        from airflow_provider_hfinfer.deploy.marks import find_expired
        from airflow_provider_hfinfer.exceptions import KubeAPIError, RunaiAPIError, WorkloadError
        from airflow_provider_hfinfer.spec.names import MANAGED_SELECTOR, object_ref

        hook: Any = HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)
        if self.backend == "runai":
            hook = RunaiBackend(self.runai_conn_id).workload_client()
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
                    ", ".join(object_ref(obj) for obj in item.objects),
                )
            return [item.ref for item in expired]
        deleted: list[str] = []
        failed: list[str] = []
        for item in expired:
            try:
                delete_objects(hook, item.objects)
            except (KubeAPIError, RunaiAPIError) as err:
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
