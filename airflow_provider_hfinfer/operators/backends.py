"""Which backend a task uses, and the few steps that differ between the two (no operator here).

This module owns :func:`choose_backend` (``backend="kubernetes"|"runai"``; by
default ``runai`` exactly when a ``runai_conn_id`` is given) and the two backend
objects the deploy operators, the sensor and the delete operator call behind
one seam: how one look at a workload is taken (:meth:`observe`, judged by the
one readiness verdict either way), which trigger a deferred wait hands over to
(:meth:`trigger`), which client the ``on_failure`` policy and TTL marks use
(:meth:`workload_client`), and the pre-flight's token from an existing secret
(:meth:`existing_secret_token`). The kubernetes backend wraps the hook and
watch-based trigger; the runai backend a :class:`~airflow_provider_hfinfer.hooks.
runai.RunaiHook` session and the polling :class:`~airflow_provider_hfinfer.
triggers.runai.RunaiReadyTrigger`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_hfinfer.status import DEFAULT_GRACE_PERIOD_SECONDS

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_hfinfer.deploy.coldstart import ColdStartFollower
    from airflow_provider_hfinfer.deploy.finish import WorkloadClient
    from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
    from airflow_provider_hfinfer.hooks.runai import RunaiHook
    from airflow_provider_hfinfer.spec import InferenceWorkload
    from airflow_provider_hfinfer.status import WorkloadStatus

BACKENDS = ("kubernetes", "runai")


def choose_backend(backend: str | None, runai_conn_id: str | None) -> str:
    """The backend a task uses: the one named, else ``runai`` when a Run:ai connection is given.

    Raises:
        ValueError: An unknown backend, with the choices.
    """
    chosen = backend or ("runai" if runai_conn_id else "kubernetes")
    if chosen not in BACKENDS:
        raise ValueError(
            f"backend ({backend!r}) must be 'kubernetes' (objects applied with the Kubernetes "
            "connection) or 'runai' (a Run:ai inference workload submitted with the runai "
            "connection)"
        )
    return chosen


class Log(Protocol):
    """The task's log."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Report progress."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Report something the user should know."""


class KubernetesBackend:
    """The kubernetes backend's steps: the hook's reads and the watch-based trigger.

    Args:
        hook: The task's Kubernetes hook.
        kubernetes_conn_id: Its connection (serialized into the trigger).
    """

    name = "kubernetes"

    def __init__(self, hook: HFInferenceHook, kubernetes_conn_id: str) -> None:
        self.hook = hook
        self.kubernetes_conn_id = kubernetes_conn_id

    def observe(
        self,
        name: str,
        namespace: str,
        *,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        grace_periods: Mapping[str, float] | None = None,
        min_ready: int | None = None,
        with_log_tail: bool = False,
        cold_start: ColdStartFollower | None = None,
        is_final: Callable[[WorkloadStatus], bool] | None = None,
    ) -> WorkloadStatus:
        """One snapshot of the workload's objects, judged by the readiness model.

        With ``cold_start``, the same snapshot also feeds the cold-start follower
        (``is_final(status)`` says whether this is the wait's last read).
        """
        from airflow_provider_hfinfer.deploy.wait import observe

        snapshot = None if cold_start is None else self.hook.workload_snapshot(name, namespace)
        status = observe(
            self.hook,
            name,
            namespace,
            grace_period=grace_period,
            grace_periods=grace_periods,
            min_ready=min_ready,
            with_log_tail=with_log_tail,
            snapshot=snapshot,
        )
        if cold_start is not None and snapshot is not None:
            final = is_final is not None and is_final(status)
            cold_start.observe(snapshot, datetime.now(timezone.utc), final=final)
        return status

    def cold_start(
        self,
        name: str,
        namespace: str,
        log: Log,
        *,
        stall_after: float,
        min_ready: int | None = None,
    ) -> ColdStartFollower:
        """A follower of the workload's cold start (phases from pods, events and logs)."""
        from airflow_provider_hfinfer.deploy.coldstart import ColdStartFollower

        return ColdStartFollower(
            name, namespace, self.hook, log, stall_after=stall_after, min_ready=min_ready
        )

    def trigger(self, name: str, namespace: str, **kwargs: Any) -> BaseTrigger:
        """The watch-based readiness trigger (``kwargs``: its keyword arguments)."""
        from airflow_provider_hfinfer.triggers.readiness import InferenceReadyTrigger

        return InferenceReadyTrigger(name, namespace, self.kubernetes_conn_id, **kwargs)

    def workload_client(self) -> WorkloadClient:
        """The hook (list, annotate, delete the workload's objects)."""
        return self.hook

    def existing_secret_token(
        self, workload: InferenceWorkload, namespace: str, log: Log
    ) -> str | None:
        """The token in the existing Secret the spec names, for pre-flight (masked)."""
        import base64

        from airflow.sdk.log import mask_secret

        from airflow_provider_hfinfer.exceptions import KubeAPIError

        access = workload.hf_access
        if access.type != "existing_secret":
            return None
        try:
            secret = self.hook.get("v1", "Secret", access.secret_name, namespace)
        except KubeAPIError as err:
            log.warning("pre-flight: cannot read Secret %s: %s", access.secret_name, err)
            return None
        encoded = ((secret or {}).get("data") or {}).get(access.key)
        if not encoded:
            log.warning(
                "pre-flight: Secret %s has no key %s; checking without a token",
                access.secret_name,
                access.key,
            )
            return None
        token = base64.b64decode(encoded).decode()
        mask_secret(token)
        return token


class RunaiBackend:
    """The runai backend's steps: one Run:ai session, the polling trigger.

    Args:
        runai_conn_id: The Airflow ``runai`` connection.
        poll_interval: Seconds between the trigger's looks while the workload changes
            (the task's ``poll_interval``); it backs off to ``max_interval`` otherwise.
        max_interval: Longest wait between the trigger's looks.
    """

    name = "runai"

    def __init__(
        self, runai_conn_id: str, poll_interval: float = 5.0, max_interval: float = 60.0
    ) -> None:
        self.runai_conn_id = runai_conn_id
        self.poll_interval = poll_interval
        self.max_interval = max(max_interval, poll_interval)
        self.workload_ids: dict[str, str] = {}
        """Workload name -> id, once known (a submit, or the first look)."""
        self.written_at: dict[str, datetime] = {}
        """Workload name -> the control plane's time of this task's last write to it."""
        self.urls: dict[str, str] = {}
        """Workload name -> the URL Run:ai serves it at, once reported."""

    @cached_property
    def hook(self) -> RunaiHook:
        """The task's Run:ai hook (one session: names resolved once)."""
        from airflow_provider_hfinfer.hooks.runai import RunaiHook

        return RunaiHook(self.runai_conn_id)

    def remember(self, name: str, workload_id: str, written_at: datetime | None) -> None:
        """Note a workload this task submitted or updated."""
        self.workload_ids[name] = workload_id
        if written_at is not None:
            self.written_at[name] = written_at

    def observe(
        self,
        name: str,
        namespace: str,
        *,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        grace_periods: Mapping[str, float] | None = None,
        min_ready: int | None = None,
        with_log_tail: bool = False,
        cold_start: ColdStartFollower | None = None,
        is_final: Callable[[WorkloadStatus], bool] | None = None,
    ) -> WorkloadStatus:
        """One read of the Run:ai workload, judged by the same readiness verdict.

        ``grace_periods`` names Kubernetes failure classes (scheduler, quota and registry
        messages), which Run:ai's phases do not report; the sensor refuses them for this
        backend when the DAG is parsed, and only ``grace_period`` applies here. There is
        no cold-start follower either (:meth:`cold_start` gives none).
        """
        from airflow_provider_hfinfer.runai.apply import observe_named

        status, url, workload_id = observe_named(
            self.hook.session,
            name,
            namespace,
            workload_id=self.workload_ids.get(name),
            grace_period=grace_period,
            min_ready=min_ready,
            written_at=self.written_at.get(name),
        )
        if workload_id:
            self.workload_ids[name] = workload_id
        if url:
            self.urls[name] = url
        return status

    def trigger(self, name: str, namespace: str, **kwargs: Any) -> BaseTrigger:
        """The polling Run:ai readiness trigger (``kwargs``: the common trigger arguments)."""
        from airflow_provider_hfinfer.triggers.runai import RunaiReadyTrigger

        written = self.written_at.get(name)
        kwargs = {key: value for key, value in kwargs.items() if key in RUNAI_TRIGGER_ARGS}
        return RunaiReadyTrigger(
            name,
            namespace,
            self.runai_conn_id,
            workload_id=self.workload_ids.get(name),
            written_at=written.isoformat() if written else None,
            poll_interval=self.poll_interval,
            max_interval=self.max_interval,
            **kwargs,
        )

    def cold_start(
        self,
        name: str,
        namespace: str,
        log: Log,
        *,
        stall_after: float,
        min_ready: int | None = None,
    ) -> ColdStartFollower | None:
        """None: Run:ai's API reports the workload's phase, not its pods' events and logs."""
        return None

    def workload_client(self) -> WorkloadClient:
        """List, annotate and delete the Run:ai workload as one object."""
        from airflow_provider_hfinfer.runai.objects import RunaiWorkloads

        return RunaiWorkloads(self.hook.session)

    def existing_secret_token(
        self, workload: InferenceWorkload, namespace: str, log: Log
    ) -> str | None:
        """None: the Run:ai API does not hand out secret values (pre-flight runs without)."""
        if workload.hf_access.type == "existing_secret":
            log.warning(
                "pre-flight: the Run:ai API does not reveal secret %s; checking the model "
                "without a token (a gated model reads as not accessible: use preflight='warn')",
                workload.hf_access.secret_name,
            )
        return None


GRACE_PERIODS_ARE_KUBERNETES = (
    "grace_periods names Kubernetes failure classes (scheduler, quota and registry messages), "
    "which Run:ai's workload phases do not report: with backend='runai' leave grace_periods "
    "out and set grace_period, the one wait for a phase that may heal"
)


def check_grace_periods(values: Mapping[str, float] | None, backend: str) -> dict[str, float]:
    """A task's ``grace_periods``, checked when the DAG is parsed (copied; {} for none).

    Raises:
        ValueError: An unknown failure class or a negative value (naming the known
            classes), or any value at all on the runai backend.
    """
    from airflow_provider_hfinfer.status.healing import parse_overrides

    parse_overrides(values)
    if values and backend == "runai":
        raise ValueError(GRACE_PERIODS_ARE_KUBERNETES)
    return dict(values or {})


RUNAI_TRIGGER_ARGS = frozenset(
    {"timeout", "started_at", "grace_period", "min_ready_replicas", "accept_scaled_to_zero"}
)
"""The common trigger arguments the Run:ai trigger takes (kubeconfig ones do not apply)."""

DeployBackend = KubernetesBackend | RunaiBackend
