"""The delete operator: removes every object of a workload, found by its labels.

This module owns deletion by the provider's labels only, so objects this
provider does not manage are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hfinfer.exceptions import WorkloadError
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.operators.backends import choose_backend

if TYPE_CHECKING:
    from airflow.sdk import Context


class HFInferenceDeleteOperator(BaseOperator):
    """Delete every object of a workload, found by the provider's labels.

    Succeeds when the workload is already gone. Objects with the same name that
    this provider does not manage are never touched.

    Args:
        name: The workload name (templated; e.g. from the create task's XCom).
        namespace: The project's namespace (templated).
        kubernetes_conn_id: The Airflow Kubernetes connection.
        wait_for_pods: Wait until the workload's pods are gone.
        timeout: Seconds to wait for the pods.
        poll_interval: Seconds between pod checks.
        dry_run: Only log which objects would be deleted; contacts no cluster.
        backend: ``kubernetes`` or ``runai`` (delete the Run:ai inference workload of that
            name in project ``namespace``, if this provider submitted it); default
            ``runai`` exactly when ``runai_conn_id`` is given.
        runai_conn_id: The Airflow ``runai`` connection, for ``backend="runai"``.
    """

    template_fields: Sequence[str] = ("name", "namespace", "kubernetes_conn_id", "runai_conn_id")

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        wait_for_pods: bool = False,
        timeout: float = 600,
        poll_interval: float = 5,
        dry_run: bool = False,
        backend: str | None = None,
        runai_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.backend = choose_backend(backend, runai_conn_id)
        self.runai_conn_id = runai_conn_id or "runai_default"
        self.is_dry_run = dry_run
        self.name = name
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.wait_for_pods = wait_for_pods
        self.timeout = timeout
        self.poll_interval = poll_interval

    def execute(self, context: Context) -> list[str]:
        """Delete the workload's objects; return ``Kind/name`` of those deleted."""
        from airflow_provider_hfinfer.deploy.finish import delete_objects
        from airflow_provider_hfinfer.render.metadata import workload_selector

        if self.is_dry_run:
            self.log.info(
                "dry run: would delete every object labelled %s in namespace %s",
                workload_selector(self.name),
                self.namespace,
            )
            return []
        if self.backend == "runai":
            return self._delete_on_runai()
        hook = HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)
        objects = hook.list_workload_objects(self.name, self.namespace)
        deleted = delete_objects(hook, objects)
        if deleted:
            self.log.info("deleted %s", ", ".join(deleted))
        else:
            self.log.info("workload %s/%s is already gone", self.namespace, self.name)

        def terminating() -> str | None:
            pods = hook.list_objects(
                res.POD, self.namespace, label_selector=workload_selector(self.name)
            )
            return f"{len(pods)} pod(s) still terminating" if pods else None

        self._wait_gone(terminating)
        return deleted

    def _wait_gone(self, remaining: Callable[[], str | None]) -> None:
        """With ``wait_for_pods``, poll until ``remaining()`` says nothing is left."""
        deadline = time.monotonic() + self.timeout
        while self.wait_for_pods and (left := remaining()) is not None:
            if time.monotonic() >= deadline:
                raise WorkloadError(
                    f"{left} after {self.timeout:.0f}s",
                    name=self.name,
                    namespace=self.namespace,
                    reason="Timeout",
                )
            time.sleep(self.poll_interval)

    def _delete_on_runai(self) -> list[str]:
        """Delete the Run:ai workload of that name (this provider's only), then wait it out."""
        from airflow_provider_hfinfer.hooks.runai import RunaiHook
        from airflow_provider_hfinfer.runai.apply import delete_named, find_ours

        session = RunaiHook(self.runai_conn_id).session
        target = session.resolve(self.namespace)
        deleted = delete_named(session, self.name, target)
        if deleted:
            self.log.info("deleted %s from Run:ai project %s", ", ".join(deleted), self.namespace)
        else:
            self.log.info("workload %s/%s is already gone", self.namespace, self.name)
        self._wait_gone(
            lambda: (
                "Run:ai still lists the workload"
                if find_ours(session, self.name, target) is not None
                else None
            )
        )
        return deleted
