"""The create operator: glue between the spec, the renderer and the hook.

This module owns the task-level rules: validation after templating, the token
from an Airflow connection (masked), name ownership and safe retries, the
quota pre-check, dry runs, rollback of a partial apply, the XCom result, and
waiting for the Deployment. Rendering and I/O live in their own layers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator, conf
from pydantic import SecretStr, ValidationError

from airflow_provider_hfinfer.exceptions import (
    KubeAPIError,
    NameTakenError,
    PartialApplyError,
    QuotaExceededError,
    SpecError,
    WorkloadError,
)
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook, object_ref
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.lifecycle import reopen, stamp_applied_spec
from airflow_provider_hfinfer.links.endpoint import HFInferenceEndpointLink
from airflow_provider_hfinfer.operators.inline_secrets import refuse_literal_tokens, spec_tokens
from airflow_provider_hfinfer.operators.lifecycle import (
    FailurePolicy,
    adopted,
    check_failure_policy,
    settle_failed_workload,
    workload_failure_callback,
)
from airflow_provider_hfinfer.render.metadata import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKLOAD_LABEL,
    service_host,
)
from airflow_provider_hfinfer.spec import PROVIDER_PREFIX, InferenceWorkload, TokenHFAccess

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_hfinfer.render import RenderOptions

OWNER_ANNOTATION = f"{PROVIDER_PREFIX}/owner"
STATE_KEY = "hfinfer_workload"
PENDING_RESULT_KEY = "hfinfer_pending_result"


def _spec_error(err: ValidationError | SpecError) -> SpecError:
    from airflow_provider_hfinfer.spec.messages import describe_errors

    lines = describe_errors(err) if isinstance(err, ValidationError) else [str(err)]
    return SpecError("invalid workload spec:\n  " + "\n  ".join(lines))


def mask_spec_tokens(workload: Any) -> None:
    """Register every token in a (rendered) workload spec with Airflow's secrets masker.

    Reads a parsed spec's secret fields; for a dict or YAML text that does not
    parse (it fails later with the spec error), masks its raw token fields and
    every ``hf_...`` token in it (``inline_secrets.spec_tokens``, bounded work).
    """
    from airflow.sdk.log import mask_secret

    for token in spec_tokens(workload):
        mask_secret(token)


def workload_result(
    workload: InferenceWorkload,
    namespace: str,
    options: RenderOptions,
    manifests: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """What the create and update operators return (XCom): where and what serves (pure).

    ``endpoint_host`` is set for scale-to-zero workloads: their ``endpoint_url``
    is the KEDA HTTP interceptor, which routes by this ``Host`` header.
    """
    from airflow_provider_hfinfer.render import endpoint_url, spec_hash

    return {
        "name": workload.name,
        "namespace": namespace,
        "endpoint_url": endpoint_url(workload, namespace, options),
        "endpoint_host": (
            service_host(workload, namespace, options) if workload.scale_to_zero else None
        ),
        "served_model_name": workload.model.served_model_name,
        "model": workload.model.id,
        "revision": workload.model.revision,
        "spec_hash": spec_hash(workload, namespace, options),
        "objects": [object_ref(item) for item in manifests],
    }


def _task_identity(context: Context) -> str:
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.task_id}/{context['run_id']}"


def _is_ours(obj: Mapping[str, Any], name: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(WORKLOAD_LABEL) == name


class HFInferenceCreateOperator(BaseOperator):
    """Deploy a Hugging Face model as a vLLM inference workload.

    Validates the spec after templating, renders it, checks name ownership and
    the project's quota, applies every object with server-side apply and
    returns the endpoint. A retry of the same task reconciles its own objects;
    a name used by anything else fails with a request to choose another.

    :param workload: The workload: an ``InferenceWorkload``, a dict or YAML text
        (templated, so an upstream task can pass the model id or revision).
    :param namespace: The project's namespace (templated).
    :param kubernetes_conn_id: The Airflow Kubernetes connection (the cluster).
    :param hf_conn_id: Optional Airflow connection whose password is the Hugging
        Face token; it becomes the workload's Secret.
    :param if_exists: ``fail`` (default: the name is taken, choose another) or
        ``update`` (apply the new spec to the existing workload).
    :param dry_run: Render, validate, run a server-side dry run when a cluster is
        reachable, log the plan and return the manifests (secrets redacted).
    :param wait_for_ready: Wait until the Deployment is available.
    :param timeout: Seconds to wait for readiness.
    :param poll_interval: Seconds between readiness checks.
    :param deferrable: With ``wait_for_ready``, wait in the triggerer
        (:class:`~airflow_provider_hfinfer.triggers.InferenceReadyTrigger`, which
        watches the cluster) instead of polling from a worker slot; default
        ``[operators] default_deferrable``. The XCom result is the same.
    :param render_options: Overrides of the connection's cluster settings.
    :param check_quota: Compare the request with the namespace's ResourceQuota first.
    :param preflight: Model pre-flight check before anything is applied: ``strict``
        (default: vLLM 0.6.4 support, Hub access, GPU memory fit must pass), ``warn``
        (log problems, go on) or ``off``.
    :param hf_endpoint: Hugging Face Hub URL for the pre-flight check (default:
        ``$HF_ENDPOINT`` or huggingface.co).
    :param strict_node_pool_order: Pin the pods to the first listed node pool with free
        capacity for the replicas now (falling back down the list) instead of only
        preferring the order; needs read access to nodes and pods cluster-wide
        (``deploy/rbac.yaml``), otherwise the preferred-order affinity is kept.
    :param on_failure: What happens to the applied workload when the readiness wait ends
        on a terminal failure, the task is killed (``on_kill``, ``execution_timeout``)
        or fails for good (``on_failure_callback``): ``mark_failed`` (default: marked
        Failed, so its ``auto_delete_after`` applies), ``delete`` (removed at once) or
        ``keep`` (left running, e.g. to debug). A retry re-applies and clears the mark.
    """

    template_fields: Sequence[str] = ("workload", "namespace", "kubernetes_conn_id", "hf_conn_id")
    template_fields_renderers = {"workload": "yaml"}
    ui_color = "#ffd21e"
    operator_extra_links = (HFInferenceEndpointLink(),)

    def __init__(
        self,
        *,
        workload: InferenceWorkload | Mapping[str, Any] | str,
        namespace: str,
        kubernetes_conn_id: str = HFInferenceHook.default_conn_name,
        hf_conn_id: str | None = None,
        if_exists: Literal["fail", "update"] = "fail",
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
        on_failure: FailurePolicy = "mark_failed",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.strict_node_pool_order = strict_node_pool_order
        self.on_failure = check_failure_policy(on_failure)
        self.on_failure_callback = [*self.on_failure_callback, workload_failure_callback]
        self._in_flight: tuple[str, list[str]] | None = None
        if preflight not in ("strict", "warn", "off"):
            raise ValueError(f"preflight ({preflight!r}) must be 'strict', 'warn' or 'off'")
        self.preflight = preflight
        self.hf_endpoint = hf_endpoint
        if if_exists not in ("fail", "update"):
            raise ValueError(f"if_exists ({if_exists!r}) must be 'fail' or 'update'")
        refuse_literal_tokens(workload)  # DAG code and serialized DAGs are stored in the DB
        self.workload = workload
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.hf_conn_id = hf_conn_id
        self.if_exists = if_exists
        self.is_dry_run = dry_run
        self.wait_for_ready = wait_for_ready
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.render_options = dict(render_options or {})
        self.check_quota = check_quota

    @cached_property
    def hook(self) -> HFInferenceHook:
        """The hook of the operator's connection."""
        return HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render templates, then mask the spec's token before Airflow stores the fields.

        Airflow keeps rendered template fields (the "Rendered Template" view) and
        redacts them with the secrets masker right after this call; a token given
        inline (``hf_access.token`` or ``hf_access.value``) must be known to the
        masker by then, whatever key holds it.
        """
        super().render_template_fields(context, jinja_env)
        mask_spec_tokens(self.workload)

    def _cluster_options(self) -> RenderOptions:
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

    def _resolve_workload(self) -> InferenceWorkload:
        from airflow.sdk.log import mask_secret

        try:
            workload = InferenceWorkload.parse(self.workload)
        except (ValidationError, SpecError) as err:
            raise _spec_error(err) from None
        access = workload.hf_access
        if access.type in ("token", "new_secret"):
            secret = access.token if access.type == "token" else access.value
            mask_secret(secret.get_secret_value())
        if self.hf_conn_id:
            token = self.hook.get_connection(self.hf_conn_id).password
            if not token:
                raise SpecError(
                    f"hf_conn_id ({self.hf_conn_id!r}) has no password: store the Hugging Face "
                    "token as the connection's password"
                )
            mask_secret(token)
            workload = workload.model_copy(
                update={"hf_access": TokenHFAccess(token=SecretStr(token))}
            )
        return workload

    def _existing_secret_token(self, workload: InferenceWorkload) -> str | None:
        import base64

        from airflow.sdk.log import mask_secret

        access = workload.hf_access
        if access.type != "existing_secret":
            return None
        try:
            secret = self.hook.get("v1", "Secret", access.secret_name, self.namespace)
        except KubeAPIError as err:
            self.log.warning("pre-flight: cannot read Secret %s: %s", access.secret_name, err)
            return None
        encoded = ((secret or {}).get("data") or {}).get(access.key)
        if not encoded:
            self.log.warning(
                "pre-flight: Secret %s has no key %s; checking without a token",
                access.secret_name,
                access.key,
            )
            return None
        token = base64.b64decode(encoded).decode()
        mask_secret(token)
        return token

    def _preflight(self, workload: InferenceWorkload) -> None:
        from airflow_provider_hfinfer.preflight import PreflightError, run_preflight
        from airflow_provider_hfinfer.preflight.workload import request_for

        if self.preflight == "off":
            self.log.info("pre-flight model check is off")
            return
        token = None if self.is_dry_run else self._existing_secret_token(workload)
        try:
            report = run_preflight(
                request_for(workload, token), mode=self.preflight, endpoint=self.hf_endpoint
            )
        except PreflightError as err:
            raise SpecError(str(err)) from None
        self.log.info("%s", report.summary())

    def execute(self, context: Context) -> dict[str, Any]:
        """Validate, render, check, apply; return the endpoint and objects.

        A bad spec or a taken name fails the task without retries: retrying
        cannot fix either.
        """
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return self._execute(context)
        except (SpecError, NameTakenError) as err:
            raise AirflowFailException(str(err)) from err

    def _execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_hfinfer.plan import describe_plan, redact_manifests
        from airflow_provider_hfinfer.render import render_manifests

        workload = self._resolve_workload()
        self._preflight(workload)
        options = self._cluster_options()
        manifests = render_manifests(workload, namespace=self.namespace, options=options)
        identity = _task_identity(context)
        for manifest in manifests:
            manifest["metadata"]["annotations"][OWNER_ANNOTATION] = identity
        stamp_applied_spec(manifests, workload)  # the next rollout's rollback target
        self.log.info("%s", describe_plan(workload, manifests, self.namespace))
        result = workload_result(workload, self.namespace, options, manifests)
        result.update({"owner": identity, "dry_run": self.is_dry_run})
        if self.is_dry_run:
            self._server_dry_run(manifests)
            result["manifests"] = redact_manifests(manifests)
            return result
        existing = self._check_ownership(workload, manifests, identity)
        # A workload another task deployed (if_exists="update") is not this task's to fail.
        self._adopted = adopted(existing.values(), OWNER_ANNOTATION, identity)
        self._record_state(context, workload.name)
        if self.check_quota:
            self._check_quota(workload, options, updating=bool(existing))
        if self.strict_node_pool_order:
            self._pin_node_pool(workload, manifests, options)
        self._in_flight = (workload.name, [object_ref(item) for item in manifests])
        self._apply(workload, manifests, existing)
        reopen(self.hook, existing.values())  # deployed again: an old finished mark goes
        if self.wait_for_ready and self.deferrable:
            self._defer_until_ready(context, result)
        if self.wait_for_ready:
            self._wait_available(workload.name)
        return result

    def _server_dry_run(self, manifests: list[dict[str, Any]]) -> None:
        from airflow.sdk.exceptions import AirflowException
        from kubernetes.config import ConfigException

        from airflow_provider_hfinfer.kube.client import RetryPolicy

        self.hook.retry_policy = RetryPolicy(attempts=2, timeout=10)
        try:
            self.hook.apply(manifests, dry_run=True)
        except KubeAPIError as err:
            if err.status not in (0, 401, 403, 404):
                raise
            self.log.warning("server-side dry run skipped: %s", err)
        except (AirflowException, ConfigException, OSError) as err:
            # No connection or kubeconfig is the normal case for a laptop dry run.
            self.log.warning("no cluster reachable, server-side dry run skipped: %s", err)
        else:
            self.log.info("server-side dry run accepted all %d objects", len(manifests))

    def _check_ownership(
        self, workload: InferenceWorkload, manifests: list[dict[str, Any]], identity: str
    ) -> dict[str, dict[str, Any]]:
        existing: dict[str, dict[str, Any]] = {}
        for manifest in manifests:
            meta = manifest["metadata"]
            live = self.hook.get(
                manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"]
            )
            if live is None:
                continue
            ref = object_ref(manifest)
            if not _is_ours(live, workload.name):
                raise NameTakenError(
                    f"{ref} already exists in the project and is not managed by this provider: "
                    "choose another workload name (it is left untouched)",
                    name=workload.name,
                    namespace=self.namespace,
                    reason="NameTaken",
                )
            owner = (live.get("metadata", {}).get("annotations") or {}).get(OWNER_ANNOTATION)
            if owner != identity and self.if_exists == "fail":
                raise NameTakenError(
                    f"workload '{workload.name}' already exists in the project (created by "
                    f"{owner or 'another task'}): choose another name, or set "
                    "if_exists='update' to roll it forward",
                    name=workload.name,
                    namespace=self.namespace,
                    reason="NameTaken",
                )
            existing[ref] = live
        if existing:
            self.log.info("reconciling existing objects: %s", ", ".join(sorted(existing)))
        return existing

    def _record_state(self, context: Context, name: str) -> None:
        store = context.get("task_state_store")  # Airflow >= 3.3: survives worker crashes
        if store is None:
            return
        try:
            store.set(STATE_KEY, {"name": name, "namespace": self.namespace})
        except Exception as err:  # noqa: BLE001 - bookkeeping must never fail the deploy
            self.log.warning("could not record the workload in the task state store: %s", err)

    def _check_quota(self, workload: InferenceWorkload, options: Any, *, updating: bool) -> None:
        from airflow_provider_hfinfer.quota import check_quotas, pod_usage

        quotas = self.hook.list_objects(res.RESOURCE_QUOTA, self.namespace)
        if not quotas:
            return
        if updating:
            pods = 1 if workload.update_strategy == "RollingUpdate" else 0
        else:
            pods = max(workload.replicas.min, 1)
        problems = check_quotas(quotas, pod_usage(workload, options), pods)
        if problems:
            raise QuotaExceededError(
                f"the workload does not fit the project's quota ({pods} new pod(s)): "
                + "; ".join(problems)
                + ". Lower compute/replicas, free capacity, or ask for a larger quota",
                name=workload.name,
                namespace=self.namespace,
                reason="QuotaExceeded",
            )

    def _pin_node_pool(
        self, workload: InferenceWorkload, manifests: list[dict[str, Any]], options: Any
    ) -> None:
        """Strict node-pool order: narrow the pod template to the first pool with room now.

        Falls back to the preferred-order affinity when no listed pool has room or
        the connection may not read nodes and pods cluster-wide.
        """
        from airflow_provider_hfinfer.placement import PodShape, decide_placement
        from airflow_provider_hfinfer.render.scheduling import pin_to_pool

        pools = list(workload.node_pools)
        deployment = next((item for item in manifests if item["kind"] == "Deployment"), None)
        if len(pools) < 2 or deployment is None:
            self.log.info("strict node-pool order: fewer than two node pools, nothing to choose")
            return
        key = options.node_pool_label_key
        try:
            nodes = self.hook.list_pool_nodes(key, pools)
            pods = self.hook.list_active_pods()
        except KubeAPIError as err:
            if err.status not in (401, 403):
                raise
            self.log.warning(
                "strict node-pool order unavailable, keeping the preferred-order affinity: %s",
                err,
            )
            return
        pod_spec = deployment["spec"]["template"]["spec"]
        decision = decide_placement(
            nodes,
            pods,
            pool_label_key=key,
            shape=PodShape.from_pod_spec(pod_spec, key),
            replicas=workload.replicas.min,
            pools=pools,
            own_namespace=self.namespace,
            own_labels={WORKLOAD_LABEL: workload.name, MANAGED_BY_LABEL: MANAGED_BY},
        )
        if decision.pool is None:
            self.log.warning("%s", decision.describe())
            return
        pod_spec["affinity"] = pin_to_pool(pod_spec.get("affinity"), decision.pool, options)
        self.log.info("%s", decision.describe())

    def on_kill(self) -> None:
        """Log what a killed deploy leaves behind, then hand it to ``_on_kill_hook()``.

        This method itself deletes nothing: a retry of the task reconciles the objects
        this attempt applied (never duplicates them), and with ``if_exists="update"``
        they may be a workload that is serving traffic. What happens to them is the
        ``on_failure`` policy, applied by ``_on_kill_hook()`` (called last, when
        defined): marked Failed so ``auto_delete_after`` applies, deleted, or kept.
        """
        if self._in_flight is None:
            self.log.info("killed before any object was applied; the cluster is unchanged")
        else:
            name, refs = self._in_flight
            self.log.warning(
                "killed while deploying workload %s in namespace %s: left in place for a "
                "retry to reconcile or HFInferenceDeleteOperator to remove: %s",
                name,
                self.namespace,
                ", ".join(refs),
            )
        extra = getattr(self, "_on_kill_hook", None)
        if callable(extra):
            extra()

    def _on_kill_hook(self) -> None:
        self._settle_failure("the task was killed")

    def _settle_failure(self, reason: str, context: Context | None = None) -> None:
        """Apply ``on_failure`` to the workload this task applied (once per attempt)."""
        settle_failed_workload(self, reason, context)

    def _apply(
        self,
        workload: InferenceWorkload,
        manifests: list[dict[str, Any]],
        existing: dict[str, dict[str, Any]],
    ) -> None:
        try:
            self.hook.apply(manifests)
        except PartialApplyError as err:
            created = [
                item
                for item in manifests
                if object_ref(item) in err.applied and object_ref(item) not in existing
            ]
            for item in reversed(created):
                self.hook.delete(item)
            self.log.error(
                "rolled back the objects this attempt created: %s",
                ", ".join(object_ref(item) for item in created) or "none",
            )
            raise
        self.log.info("applied %d objects for workload %s", len(manifests), workload.name)

    def _defer_until_ready(self, context: Context, result: dict[str, Any]) -> None:
        """Hand the readiness wait to the triggerer; ``execute_complete`` finishes.

        The result also goes to XCom (``hfinfer_pending_result``): ``dag.test()``
        resumes a task with the event alone, without the deferral's kwargs.
        """
        from airflow_provider_hfinfer.triggers.readiness import InferenceReadyTrigger

        adopted_workload = bool(getattr(self, "_adopted", False))
        context["ti"].xcom_push(
            key=PENDING_RESULT_KEY, value={"result": result, "adopted": adopted_workload}
        )
        trigger = InferenceReadyTrigger(
            result["name"],
            self.namespace,
            self.kubernetes_conn_id,
            timeout=self.timeout,
            started_at=time.time(),
            # As the polling wait: a workload its autoscaler holds at zero is up.
            accept_scaled_to_zero=True,
        )
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            kwargs={"result": result, "adopted": adopted_workload},
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        adopted: bool = False,
    ) -> dict[str, Any]:
        """Finish a deferred readiness wait: the XCom result, or fail with the reason."""
        from airflow_provider_hfinfer.triggers.events import ReadinessEvent

        outcome = ReadinessEvent.from_payload(event)
        self.log.info("%s", outcome.describe())
        if result is None:
            pending = context["ti"].xcom_pull(task_ids=self.task_id, key=PENDING_RESULT_KEY) or {}
            result, adopted = pending.get("result"), bool(pending.get("adopted"))
        done = dict(result or {})
        if outcome.status == "ready":
            return done
        reason = "Timeout" if outcome.status == "timeout" else outcome.reason
        if outcome.status == "failed":
            # A resumed task is a fresh instance: name what it applied before settling.
            self._in_flight = (outcome.name, [str(ref) for ref in done.get("objects") or []])
            self._adopted = adopted
            self._settle_failure(f"{reason}: {outcome.message}")
        raise WorkloadError(
            outcome.message, name=outcome.name, namespace=outcome.namespace, reason=reason
        )

    def _wait_available(self, name: str) -> None:
        from datetime import datetime, timezone

        from airflow_provider_hfinfer.status import Phase, assess, progress_line

        deadline = time.monotonic() + self.timeout
        last = ""
        while True:
            snapshot = self.hook.workload_snapshot(name, self.namespace)
            status = assess(**snapshot, now=datetime.now(timezone.utc))
            if status.fingerprint() != last:
                self.log.info("%s", progress_line(status, name=name))
                last = status.fingerprint()
            if status.is_ready or status.phase == Phase.SCALED_TO_ZERO:
                return
            if status.is_failed:
                self._settle_failure(f"{status.reason}: {status.stable_message or status.message}")
                raise WorkloadError(
                    status.message, name=name, namespace=self.namespace, reason=status.reason
                )
            if time.monotonic() >= deadline:
                raise WorkloadError(
                    f"not ready after {self.timeout:.0f}s: {status.message}",
                    name=name,
                    namespace=self.namespace,
                    reason="Timeout",
                )
            time.sleep(self.poll_interval)
