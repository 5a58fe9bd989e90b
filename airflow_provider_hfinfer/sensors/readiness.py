"""The readiness sensor: wait until an inference workload really serves.

This module owns :class:`InferenceReadySensor`: which workload to wait on
(explicit ``name``/``namespace`` or the create operator's XCom), the poke
(one snapshot through the hook, judged by the shared readiness model), the
progress log (one line each time the verdict's fingerprint changes), failing
fast with the model's reason and message on terminal failures, endpoint
verification, and deferral to :class:`~airflow_provider_hfinfer.triggers.
InferenceReadyTrigger` with ``deferrable=True``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_hfinfer.deploy.target import resolve_target
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.operators.backends import (
    DeployBackend,
    KubernetesBackend,
    RunaiBackend,
    check_grace_periods,
    choose_backend,
)
from airflow_provider_hfinfer.sensors.endpoint import (
    EndpointCheck,
    check_verify_mode,
    verify_endpoint,
)
from airflow_provider_hfinfer.status import (
    DEFAULT_GRACE_PERIOD_SECONDS,
    WorkloadStatus,
    progress_line,
)
from airflow_provider_hfinfer.status.coldstart import DEFAULT_STALL_AFTER_SECONDS, with_note
from airflow_provider_hfinfer.status.verdict import Outcome, WaitRule, verdict
from airflow_provider_hfinfer.triggers.events import ReadinessEvent

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.deploy.coldstart import ColdStartFollower

VERIFY_RETRY_SECONDS = 2.0
PROXY_IS_KUBERNETES = (
    "verify_endpoint='proxy' goes through the Kubernetes API server's service proxy, which "
    "does not reach a Run:ai workload: use verify_endpoint='url' (the endpoint_url Run:ai "
    "reports, from workload_xcom) or 'none'"
)


class InferenceReadySensor(BaseSensorOperator):
    """Succeed when an inference workload serves; fail fast with the cause when it never will.

    Poke and reschedule modes read one snapshot per poke; ``deferrable=True``
    hands the wait to :class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger`,
    which watches the cluster from the triggerer without a worker slot. The
    result (XCom) is ``name``, ``namespace``, ``phase``, ``reason``,
    ``ready_replicas``, ``desired_replicas``, ``endpoint`` (what was verified), and
    ``served_model_name``, ``endpoint_url`` and ``endpoint_host`` when known (from
    ``workload_xcom``), so it can feed a request operator's ``workload_xcom``, and
    ``cold_start``: where the start's time went (seconds per phase: scheduling,
    pulling image, starting, downloading weights, loading the model), in all and
    per pod. While it waits it logs one line per phase change, and a warning when
    a phase shows no progress for ``stall_after`` seconds.

    Args:
        name: The workload name (templated); or use ``workload_xcom``.
        namespace: Its namespace (templated).
        workload_xcom: The create operator's XCom dict (``name``, ``namespace``,
            optionally ``served_model_name`` and ``endpoint_url``), e.g. ``deploy.output``.
        kubernetes_conn_id: The Airflow Kubernetes connection (templated).
        config_file: Optional kubeconfig path (deferrable mode, on the triggerer).
        cluster_context: Optional kubeconfig context (deferrable mode).
        min_ready_replicas: Ready replicas required (default: all desired).
        accept_scaled_to_zero: Count a workload its autoscaler holds at zero as ready.
        grace_period: Seconds failures that heal on their own (a node being
            added, capacity or quota freeing up, a registry hiccup) are waited
            on before the sensor fails; failures only a user can fix (an image
            that does not exist, a pod no node can ever fit, a quota the pod
            does not declare) fail sooner, at most this long. See the README's
            grace-period table.
        grace_periods: Seconds per failure class, overriding its default, e.g.
            ``{"capacity": 1800, "image-not-found": 0}``.
        verify_endpoint: ``none``, ``proxy`` (``/health`` and ``/v1/models``
            through the API server's service proxy) or ``url`` (at ``endpoint_url``).
        endpoint_url: Base URL for ``verify_endpoint="url"`` (templated).
        served_model_name: The name ``/v1/models`` must list (default: from
            ``workload_xcom``; otherwise any model).
        verify_timeout: Seconds a deferred sensor keeps retrying the endpoint
            after the trigger reported ready.
        deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
        resync_interval: Deferrable mode: seconds between full re-lists.
        stall_after: Seconds a cold-start phase may show no progress before a
            warning names it and its likely cause (default 600).
        dry_run: Log which workload would be waited on and succeed at once,
            contacting no cluster (for a DAG run without a cluster, after a dry-run create).
        backend: ``kubernetes`` or ``runai`` (the workload is a Run:ai inference workload,
            ``namespace`` its project, read with ``runai_conn_id``; ``verify_endpoint``
            ``proxy`` does not apply); default ``runai`` exactly when ``runai_conn_id``
            is given, else the ``workload_xcom``'s ``backend``.
        runai_conn_id: The Airflow ``runai`` connection, for ``backend="runai"``.
    """

    template_fields: Sequence[str] = (
        "name",
        "namespace",
        "workload_xcom",
        "kubernetes_conn_id",
        "endpoint_url",
        "served_model_name",
        "runai_conn_id",
    )
    ui_color = "#ffd21e"

    def __init__(
        self,
        *,
        name: str | None = None,
        namespace: str | None = None,
        workload_xcom: Mapping[str, Any] | str | None = None,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        config_file: str | None = None,
        cluster_context: str | None = None,
        min_ready_replicas: int | None = None,
        accept_scaled_to_zero: bool = False,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        grace_periods: Mapping[str, float] | None = None,
        verify_endpoint: str = "none",
        endpoint_url: str | None = None,
        served_model_name: str | None = None,
        verify_timeout: float = 60.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        resync_interval: float = 300.0,
        stall_after: float = DEFAULT_STALL_AFTER_SECONDS,
        dry_run: bool = False,
        backend: str | None = None,
        runai_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if name is None and workload_xcom is None:
            raise ValueError("give the workload as name + namespace, or as workload_xcom")
        check_verify_mode(verify_endpoint, endpoint_url or "from-xcom")
        self.name = name
        self.namespace = namespace
        self.workload_xcom = workload_xcom
        self.kubernetes_conn_id = kubernetes_conn_id
        self.config_file = config_file
        self.cluster_context = cluster_context
        self.min_ready_replicas = min_ready_replicas
        self.accept_scaled_to_zero = accept_scaled_to_zero
        self.grace_period = grace_period
        self.grace_periods = check_grace_periods(
            grace_periods, choose_backend(backend, runai_conn_id)
        )
        self.verify_endpoint = verify_endpoint
        self.endpoint_url = endpoint_url
        self.served_model_name = served_model_name
        self.verify_timeout = verify_timeout
        self.deferrable = deferrable
        self.resync_interval = resync_interval
        self.stall_after = float(stall_after)
        self.is_dry_run = dry_run
        self.backend = backend
        self.runai_conn_id = runai_conn_id
        if choose_backend(backend, runai_conn_id) == "runai":
            if verify_endpoint == "proxy":
                raise ValueError(PROXY_IS_KUBERNETES)
        self._cold_start: ColdStartFollower | None = None
        self._last_fingerprint = ""
        self._last_line = ""
        self._endpoint_host: str | None = None

    @cached_property
    def hook(self) -> HFInferenceHook:
        """The hook of the sensor's connection."""
        return HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)

    @cached_property
    def backend_impl(self) -> DeployBackend:
        """The backend's look at the workload and its trigger (chosen once templated)."""
        xcom = self.workload_xcom if isinstance(self.workload_xcom, Mapping) else {}
        chosen = choose_backend(self.backend or xcom.get("backend"), self.runai_conn_id)
        if chosen == "runai":
            if self.verify_endpoint == "proxy":
                raise ValueError(PROXY_IS_KUBERNETES)
            return RunaiBackend(self.runai_conn_id or "runai_default", self.poke_interval)
        return KubernetesBackend(self.hook, self.kubernetes_conn_id)

    # ------------------------------------------------------------ the target

    def _target(self) -> tuple[str, str]:
        """``(name, namespace)`` after templating; also fills model and URL from the XCom."""
        target = resolve_target(self.name, self.namespace, self.workload_xcom)
        self.served_model_name = self.served_model_name or target.get("served_model_name")
        self.endpoint_url = self.endpoint_url or target.get("endpoint_url")
        self._endpoint_host = target.get("endpoint_host")
        check_verify_mode(self.verify_endpoint, self.endpoint_url)
        return target.name, target.namespace

    # ----------------------------------------------------------------- poking

    def _observe(self, name: str, namespace: str) -> WorkloadStatus:
        if self._cold_start is None:
            self._cold_start = self.backend_impl.cold_start(
                name,
                namespace,
                self.log,
                stall_after=self.stall_after,
                min_ready=self.min_ready_replicas,
            )
        return self.backend_impl.observe(
            name,
            namespace,
            grace_period=self.grace_period,
            grace_periods=self.grace_periods,
            min_ready=self.min_ready_replicas,
            with_log_tail=True,
            cold_start=self._cold_start,
            is_final=lambda status: verdict(status, self._rule()) is not Outcome.WAITING,
        )

    def _rule(self) -> WaitRule:
        return WaitRule(accept_scaled_to_zero=self.accept_scaled_to_zero)

    def _breakdown(self) -> dict[str, Any] | None:
        return self._cold_start.breakdown() if self._cold_start else None

    def _log_progress(self, status: WorkloadStatus, name: str) -> None:
        if status.fingerprint() != self._last_fingerprint:
            self._last_fingerprint = status.fingerprint()
            self._last_line = progress_line(status, name=name)
            self.log.info("%s", self._last_line)

    def _fail(self, reason: str, message: str, name: str, namespace: str) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"[{reason}] {namespace}/{name}: {message}")

    def _verify(self, name: str, namespace: str) -> EndpointCheck:
        return verify_endpoint(
            self.verify_endpoint,
            hook=self.hook,
            name=name,
            namespace=namespace,
            served_model_name=self.served_model_name,
            endpoint_url=self.endpoint_url,
        )

    def _result(
        self,
        name: str,
        namespace: str,
        phase: str,
        reason: str,
        ready: int,
        desired: int,
        check: str,
        cold_start: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "phase": phase,
            "reason": reason,
            "ready_replicas": ready,
            "desired_replicas": desired,
            "endpoint": check,
            # Passed on from the create operator's result, so a request task can take
            # this sensor's output as its workload_xcom.
            "served_model_name": self.served_model_name,
            "endpoint_url": self.endpoint_url,
            "endpoint_host": self._endpoint_host,
            "cold_start": cold_start,
        }

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One snapshot, one verdict: done, keep waiting, or fail with the cause."""
        name, namespace = self._target()
        status = self._observe(name, namespace)
        self._log_progress(status, name)
        outcome = verdict(status, self._rule())
        if outcome is Outcome.FAILED:
            self._fail(status.reason, with_note(status.message, self._breakdown()), name, namespace)
        if outcome is Outcome.WAITING:
            return False
        check = self._verify(name, namespace)
        if not check.ok:
            self.log.info("%s: ready, but the endpoint does not serve yet: %s", name, check.detail)
            return False
        self.log.info("%s: %s", name, check.detail)
        return PokeReturnValue(
            is_done=True,
            xcom_value=self._result(
                name,
                namespace,
                status.phase.value,
                status.reason,
                status.ready_replicas,
                status.desired_replicas,
                check.detail,
                self._breakdown(),
            ),
        )

    # -------------------------------------------------------------- executing

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) until done; with ``deferrable`` check once, then defer."""
        from airflow.sdk.exceptions import AirflowSensorTimeout

        if self.is_dry_run:
            name, namespace = self._target()
            self.log.info(
                "dry run: would wait until %s/%s serves (endpoint check: %s)",
                namespace,
                name,
                self.verify_endpoint,
            )
            return self._result(name, namespace, "DryRun", "DryRun", 0, 0, "not checked (dry run)")
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:
                if not self._last_line:
                    raise
                last = with_note(self._last_line, self._breakdown())
                raise AirflowSensorTimeout(f"{err} Last status: {last}") from err
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        self._defer(context)
        return None

    def _defer(self, context: Context) -> None:
        name, namespace = self._target()
        trigger = self.backend_impl.trigger(
            name,
            namespace,
            config_file=self.config_file,
            cluster_context=self.cluster_context,
            timeout=self.timeout,
            started_at=time.time(),
            grace_period=self.grace_period,
            grace_periods=self.grace_periods,
            min_ready_replicas=self.min_ready_replicas,
            accept_scaled_to_zero=self.accept_scaled_to_zero,
            resync_interval=self.resync_interval,
            stall_after=self.stall_after,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> Any:
        """Read the trigger's :class:`ReadinessEvent`; verify the endpoint; fail with the cause."""
        from airflow.sdk.exceptions import AirflowSensorTimeout

        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        if outcome.status == "timeout":
            message = with_note(outcome.message, outcome.cold_start)
            raise AirflowSensorTimeout(f"[Timeout] {outcome.namespace}/{outcome.name}: {message}")
        if outcome.status == "failed":
            message = with_note(outcome.message, outcome.cold_start)
            self._fail(outcome.reason, message, outcome.name, outcome.namespace)
        self._target()
        check = self._verify_until_serving(outcome.name, outcome.namespace)
        return self._result(
            outcome.name,
            outcome.namespace,
            outcome.phase,
            outcome.reason,
            outcome.ready_replicas,
            outcome.desired_replicas,
            check.detail,
            outcome.cold_start,
        )

    def _verify_until_serving(self, name: str, namespace: str) -> EndpointCheck:
        deadline = time.monotonic() + self.verify_timeout
        while True:
            check = self._verify(name, namespace)
            if check.ok:
                self.log.info("%s: %s", name, check.detail)
                return check
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(
                    "EndpointNotServing",
                    f"the workload is Ready but {check.detail} after {self.verify_timeout:.0f}s",
                    name,
                    namespace,
                )
            self.log.info("%s: endpoint not serving yet: %s", name, check.detail)
            time.sleep(min(VERIFY_RETRY_SECONDS, max(0.0, remaining)))
