"""The steps the create and update operators share, composed by each (no operator here).

This module owns the Airflow side of a deploy that both operators run: the spec
after templating (the token from an Airflow connection, masked), pre-flight, the
cluster settings, the task identity, the task state record, the server-side
dry run, the polling wait, and the ``on_failure`` policy applied when a wait
ends on a terminal failure, the task is killed, or it fails for good. Rendering,
planning, applying and judging readiness live in the layers below
(``deploy/``, ``status/``); this base only wires them to Airflow, the way the
Amazon provider's ``SageMakerBaseOperator`` holds the steps its operators call.

The failure policy reads one typed value, :class:`~airflow_provider_hfinfer.
deploy.state.AppliedWorkload` (what this attempt applied, set before the apply
starts), never operator attributes read back by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from airflow.sdk import BaseOperator, conf
from pydantic import SecretStr, ValidationError

from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import KubeAPIError, SpecError, WorkloadError
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.links.endpoint import HFInferenceEndpointLink
from airflow_provider_hfinfer.operators.backends import (
    DeployBackend,
    KubernetesBackend,
    RunaiBackend,
    check_grace_periods,
    choose_backend,
)
from airflow_provider_hfinfer.operators.common import spec_error
from airflow_provider_hfinfer.operators.common import task_identity as task_identity
from airflow_provider_hfinfer.operators.inline_secrets import refuse_literal_tokens, spec_tokens
from airflow_provider_hfinfer.spec import InferenceWorkload, TokenHFAccess
from airflow_provider_hfinfer.spec.names import STATE_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.checks.preflight import PreflightReport
    from airflow_provider_hfinfer.deploy.plan import DeployPlan
    from airflow_provider_hfinfer.render import RenderOptions

FailurePolicy = Literal["mark_failed", "delete", "keep"]
FAILURE_POLICIES: tuple[str, ...] = ("mark_failed", "delete", "keep")


def check_failure_policy(value: str) -> str:
    """Return ``value`` when it is a failure policy; raise ``ValueError`` with the fix."""
    if value not in FAILURE_POLICIES:
        raise ValueError(
            f"on_failure ({value!r}) must be 'mark_failed' (default: the TTL applies), "
            "'delete' (remove at once) or 'keep' (leave it running, e.g. to debug)"
        )
    return value


def mask_spec_tokens(workload: Any) -> None:
    """Register every token in a (rendered) workload spec with Airflow's secrets masker.

    Reads a parsed spec's secret fields; for a dict or YAML text that does not
    parse (it fails later with the spec error), masks its raw token fields and
    every ``hf_...`` token in it (``inline_secrets.spec_tokens``, bounded work).
    """
    from airflow.sdk.log import mask_secret

    for token in spec_tokens(workload):
        mask_secret(token)


def workload_failure_callback(context: Context) -> None:
    """``on_failure_callback`` of the deploy operators: settle the workload the task applied."""
    task = context.get("task")
    if not isinstance(task, DeployOperatorBase):
        return
    error = context.get("exception")
    # The error's short reason or class only: a message could quote anything.
    cause = getattr(error, "reason", None) or (type(error).__name__ if error else None)
    task.settle_failure(f"task failed: {cause}" if cause else "task failed", context)


class DeployOperatorBase(BaseOperator):
    """Shared parameters and steps of :class:`HFInferenceCreateOperator` and the update operator.

    Args:
        workload: The workload: an ``InferenceWorkload``, a dict or YAML text
            (templated, so an upstream task can pass the model id or revision).
        namespace: The project's namespace (templated).
        kubernetes_conn_id: The Airflow Kubernetes connection (the cluster).
        hf_conn_id: Optional Airflow connection whose password is the Hugging
            Face token; it becomes the workload's Secret.
        dry_run: Render, validate, run a server-side dry run when a cluster is
            reachable, log the plan and return the manifests (secrets redacted).
        wait_for_ready: Wait until the workload serves.
        timeout: Seconds to wait for readiness.
        poll_interval: Seconds between readiness checks.
        deferrable: With ``wait_for_ready``, wait in the triggerer
            (:class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger`, which
            watches the cluster) instead of polling from a worker slot; default
            ``[operators] default_deferrable``. The XCom result is the same.
        render_options: Overrides of the connection's cluster settings.
        check_quota: Compare the request with the namespace's ResourceQuota first.
        preflight: Model pre-flight check before anything is applied: ``strict``
            (default: vLLM 0.6.4 support, Hub access, GPU memory fit must pass),
            ``warn`` (log problems, go on) or ``off``.
        hf_endpoint: Hugging Face Hub URL for the pre-flight check (default:
            ``$HF_ENDPOINT`` or huggingface.co).
        strict_node_pool_order: Pin the pods to the first listed node pool with free
            capacity for the replicas now (falling back down the list) instead of
            only preferring the order; needs read access to nodes and pods
            cluster-wide (``deploy/rbac.yaml``), otherwise the preferred-order
            affinity is kept.
        backend: ``kubernetes`` (objects applied with ``kubernetes_conn_id``) or ``runai``
            (a Run:ai inference workload; ``namespace`` is the Run:ai project); default
            ``runai`` exactly when ``runai_conn_id`` is given.
        runai_conn_id: The Airflow ``runai`` connection, for ``backend="runai"``.
        stall_after: Seconds a cold-start phase may show no progress before the wait
            warns, naming the phase and its likely cause (default 600).
        grace_periods: Seconds per failure class the readiness wait gives a failure
            (kubernetes backend), as :class:`InferenceReadySensor`'s argument.
        on_failure: What happens to the applied workload when the readiness wait
            ends on a terminal failure, the task is killed (``on_kill``,
            ``execution_timeout``) or fails for good (``on_failure_callback``):
            ``mark_failed`` (default: marked Failed, so its ``auto_delete_after``
            applies), ``delete`` (removed at once) or ``keep`` (left running, e.g.
            to debug). A retry re-applies and clears the mark.
        kwargs: Every other ``BaseOperator`` argument.
    """

    template_fields: Sequence[str] = (
        "workload",
        "namespace",
        "kubernetes_conn_id",
        "hf_conn_id",
        "runai_conn_id",
    )
    template_fields_renderers = {"workload": "yaml"}
    ui_color = "#ffd21e"
    operator_extra_links = (HFInferenceEndpointLink(),)
    pipeline: ClassVar[str] = "create"
    """Which deploy the operator runs: ``create`` or ``update`` (a rollout with rollback)."""

    def __init__(
        self,
        *,
        workload: InferenceWorkload | Mapping[str, Any] | str,
        namespace: str,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        hf_conn_id: str | None = None,
        dry_run: bool = False,
        wait_for_ready: bool = False,
        timeout: float = 1800,
        poll_interval: float = 10,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        render_options: Mapping[str, Any] | None = None,
        check_quota: bool = True,
        preflight: Literal["strict", "warn", "off"] = "strict",
        hf_endpoint: str | None = None,
        strict_node_pool_order: bool = False,
        stall_after: float = 600.0,
        grace_periods: Mapping[str, float] | None = None,
        on_failure: FailurePolicy = "mark_failed",
        backend: Literal["kubernetes", "runai"] | None = None,
        runai_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if preflight not in ("strict", "warn", "off"):
            raise ValueError(f"preflight ({preflight!r}) must be 'strict', 'warn' or 'off'")
        refuse_literal_tokens(workload)  # DAG code and serialized DAGs are stored in the DB
        self.on_failure = check_failure_policy(on_failure)
        self.backend = choose_backend(backend, runai_conn_id)
        self.grace_periods = check_grace_periods(grace_periods, self.backend)
        self.runai_conn_id = runai_conn_id or "runai_default"
        self.on_failure_callback = [*self.on_failure_callback, workload_failure_callback]
        self.workload = workload
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.hf_conn_id = hf_conn_id
        self.is_dry_run = dry_run
        self.wait_for_ready = wait_for_ready
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.render_options = dict(render_options or {})
        self.check_quota = check_quota
        self.preflight = preflight
        self.hf_endpoint = hf_endpoint
        self.strict_node_pool_order = strict_node_pool_order
        self.stall_after = float(stall_after)
        self.applied: AppliedWorkload | None = None
        """What this attempt applied (set before the apply starts); None: nothing yet."""
        self.ran_here = False
        """``execute`` ran here (a fresh task's failure callback reads the state store)."""

    @cached_property
    def hook(self) -> HFInferenceHook:
        """The hook of the operator's connection."""
        return HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)

    @cached_property
    def backend_impl(self) -> DeployBackend:
        """The steps that differ between the backends (observe, trigger, failure client)."""
        if self.backend == "runai":
            return RunaiBackend(self.runai_conn_id, self.poll_interval)
        return KubernetesBackend(self.hook, self.kubernetes_conn_id)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render templates, then mask the spec's token before Airflow stores the fields.

        Airflow keeps rendered template fields (the "Rendered Template" view) and
        redacts them with the secrets masker right after this call; a token given
        inline (``hf_access.token`` or ``hf_access.value``) must be known to the
        masker by then, whatever key holds it.
        """
        super().render_template_fields(context, jinja_env)
        mask_spec_tokens(self.workload)

    def execute(self, context: Context) -> Any:
        """Run the operator's deploy; a bad spec or a taken name fails without retries.

        Retrying cannot fix either.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_hfinfer.exceptions import NameTakenError

        self.ran_here = True
        try:
            if self.backend == "runai":
                from airflow_provider_hfinfer.operators.runai_update import deploy_on_runai

                return deploy_on_runai(self, context)
            return self.deploy(context)
        except (SpecError, NameTakenError) as err:
            raise AirflowFailException(str(err)) from err
        except WorkloadError as err:
            if not self.is_dry_run:
                raise
            raise AirflowFailException(f"dry run: the real run would fail: {err}") from err

    def deploy(self, context: Context) -> Any:
        """The operator's own pipeline (each operator composes the shared steps)."""
        raise TypeError(
            f"{type(self).__name__} is not an operator of its own: use "
            "HFInferenceCreateOperator or HFInferenceUpdateOperator"
        )

    # ---------------------------------------------------------------- inputs

    def cluster_options(self) -> RenderOptions:
        """The connection's cluster settings; in a dry run without the connection, defaults."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        from airflow_provider_hfinfer.render import RenderOptions

        try:
            return self.hook.render_options(self.render_options)
        except AirflowNotFoundException as err:
            if not self.is_dry_run:
                raise
            self.log.warning("dry run: %s; rendering with default cluster settings", err)
            return RenderOptions.from_extras({}, self.render_options)

    def resolve_workload(self) -> InferenceWorkload:
        """The validated spec, the token from ``hf_conn_id`` when given (masked first)."""
        from airflow.sdk.log import mask_secret

        try:
            workload = InferenceWorkload.parse(self.workload)
        except (ValidationError, SpecError) as err:
            raise spec_error(err) from None
        token = workload.inline_token()
        if token:
            mask_secret(token)
        if self.hf_conn_id:
            secret = self.hook.get_connection(self.hf_conn_id).password
            if not secret:
                raise SpecError(
                    f"hf_conn_id ({self.hf_conn_id!r}) has no password: store the Hugging Face "
                    "token as the connection's password"
                )
            mask_secret(secret)
            workload = workload.model_copy(
                update={"hf_access": TokenHFAccess(token=SecretStr(secret))}
            )
        return workload

    def run_preflight(self, workload: InferenceWorkload) -> PreflightReport | None:
        """The model pre-flight check (``preflight``); a strict failure is a spec error."""
        from airflow_provider_hfinfer.checks.preflight import PreflightError, run_preflight
        from airflow_provider_hfinfer.checks.preflight.workload import request_for

        if self.preflight == "off":
            self.log.info("pre-flight model check is off")
            return None
        token = None
        if not self.is_dry_run:
            token = self.backend_impl.existing_secret_token(workload, self.namespace, self.log)
        try:
            report = run_preflight(
                request_for(workload, token), mode=self.preflight, endpoint=self.hf_endpoint
            )
        except PreflightError as err:
            raise SpecError(str(err)) from None
        self.log.info("%s", report.summary())
        return report

    def record_state(self, context: Context, name: str) -> None:
        """Note the workload in the task state store (Airflow >= 3.3; survives a worker crash)."""
        store = context.get("task_state_store")
        if store is None:
            return
        try:
            store.set(STATE_KEY, {"name": name, "namespace": self.namespace})
        except Exception as err:  # noqa: BLE001 - bookkeeping must never fail the deploy
            self.log.warning("could not record the workload in the task state store: %s", err)

    def server_dry_run(self, manifests: list[dict[str, Any]]) -> bool:
        """Ask the API server to validate the manifests without storing them, if reachable.

        Returns:
            True when the API server answered (and accepted every object).
        """
        from airflow.sdk.exceptions import AirflowException
        from kubernetes.config import ConfigException

        from airflow_provider_hfinfer.kube.client import RetryPolicy

        try:
            self.hook.apply(manifests, dry_run=True, retry=RetryPolicy(attempts=2, timeout=10))
        except KubeAPIError as err:
            if err.status not in (0, 401, 403, 404):
                raise
            self.log.warning("server-side dry run skipped: %s", err)
            return False
        except (AirflowException, ConfigException, OSError) as err:
            # No connection or kubeconfig is the normal case for a laptop dry run.
            self.log.warning("no cluster reachable, server-side dry run skipped: %s", err)
            return False
        self.log.info("server-side dry run accepted all %d objects", len(manifests))
        return True

    def preview(self, plan: DeployPlan, *, if_exists: str) -> DeployPlan:
        """A dry run's checks: the server-side dry run, then every read-only check of a real run.

        Name ownership, the quota pre-check and strict node-pool placement read the
        cluster exactly as the real run does and fail with the same messages; nothing
        is written. Without a reachable cluster only the plan is checked.
        """
        from airflow_provider_hfinfer.deploy import apply as step

        if not self.server_dry_run(plan.manifests):
            return plan
        existing = step.claim(self.hook, plan, if_exists=if_exists, log=self.log)
        if self.check_quota:
            step.check_quota(self.hook, plan, updating=bool(existing))
        if self.strict_node_pool_order:
            plan = step.pin_pool(self.hook, plan, self.log)
        self.log.info(
            "dry run: name, quota%s checks passed; the real run would apply %d objects",
            " and node-pool" if self.strict_node_pool_order else "",
            len(plan.manifests),
        )
        return plan

    # ---------------------------------------------------------------- waiting

    def execute_runai_complete(
        self, context: Context, event: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Resume a deferred Run:ai rollout or rollback (:mod:`.runai_update`)."""
        from airflow_provider_hfinfer.operators.runai_update import resume_on_runai

        return resume_on_runai(self, context, event, kwargs.get("pending"))

    def wait_until_serving(self, name: str) -> dict[str, Any] | None:
        """Poll until it serves (return the cold-start breakdown); fail on a terminal failure."""
        from airflow_provider_hfinfer.deploy.coldstart import with_note
        from airflow_provider_hfinfer.operators.waiting import poll
        from airflow_provider_hfinfer.status.verdict import Outcome, settled, verdict

        follower = self.backend_impl.cold_start(
            name, self.namespace, self.log, stall_after=self.stall_after
        )
        status, _ = poll(self, name, self.timeout, until=settled, cold_start=follower)
        breakdown = follower.breakdown() if follower is not None else None
        outcome = verdict(status)
        if outcome is Outcome.SERVING:
            return breakdown
        message = with_note(status.message, breakdown)
        if outcome is Outcome.FAILED:
            self.settle_failure(f"{status.reason}: {status.stable_message or status.message}")
            raise WorkloadError(message, name=name, namespace=self.namespace, reason=status.reason)
        raise WorkloadError(
            f"not ready after {self.timeout:.0f}s: {message}",
            name=name,
            namespace=self.namespace,
            reason="Timeout",
        )

    # --------------------------------------------------------- failure policy

    def on_kill(self) -> None:
        """Log what a killed deploy leaves behind, then apply the failure policy.

        Nothing is deleted by the kill itself: a retry of the task reconciles the
        objects this attempt applied (never duplicates them), and with
        ``if_exists="update"`` they may be a workload that is serving traffic.
        What happens to them is the ``on_failure`` policy (:meth:`settle_failure`).
        """
        if self.applied is None:
            self.log.info("killed before any object was applied; the cluster is unchanged")
        else:
            self.log.warning(
                "killed while deploying workload %s in namespace %s: left in place for a "
                "retry to reconcile or HFInferenceDeleteOperator to remove: %s",
                self.applied.name,
                self.namespace,
                ", ".join(self.applied.objects),
            )
        self.settle_failure("the task was killed")

    def settle_failure(self, reason: str, context: Context | None = None) -> None:
        """Apply ``on_failure`` to the workload this task applied, once per attempt."""
        from airflow_provider_hfinfer.operators.failure import recorded_target, settle

        target = self.applied
        if target is None and not self.ran_here and context is not None:
            target = recorded_target(context.get("task_state_store"), self.log)
        if target is None or target.settled:
            return
        self.applied = target.settled_now()
        settle(self.on_failure, target, self.backend_impl.workload_client(), reason, self.log)

    @staticmethod
    def now() -> datetime:
        """The current time in UTC."""
        return datetime.now(timezone.utc)
