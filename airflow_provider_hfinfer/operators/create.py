"""The create operator: glue between the spec, the renderer and the hook.

This module owns the task-level rules: validation after templating, the token
from an Airflow connection (masked), name ownership and safe retries, the
quota pre-check, dry runs, rollback of a partial apply, the XCom result, and
waiting for the Deployment. Rendering and I/O live in their own layers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
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
from airflow_provider_hfinfer.render.metadata import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKLOAD_LABEL,
)
from airflow_provider_hfinfer.spec import PROVIDER_PREFIX, InferenceWorkload, TokenHFAccess

if TYPE_CHECKING:
    from airflow.sdk import Context

OWNER_ANNOTATION = f"{PROVIDER_PREFIX}/owner"
STATE_KEY = "hfinfer_workload"


def _spec_error(err: ValidationError | SpecError) -> SpecError:
    from airflow_provider_hfinfer.spec.messages import describe_errors

    lines = describe_errors(err) if isinstance(err, ValidationError) else [str(err)]
    return SpecError("invalid workload spec:\n  " + "\n  ".join(lines))


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
    :param render_options: Overrides of the connection's cluster settings.
    :param check_quota: Compare the request with the namespace's ResourceQuota first.
    :param preflight: Model pre-flight check before anything is applied: ``strict``
        (default: vLLM 0.6.4 support, Hub access, GPU memory fit must pass), ``warn``
        (log problems, go on) or ``off``.
    :param hf_endpoint: Hugging Face Hub URL for the pre-flight check (default:
        ``$HF_ENDPOINT`` or huggingface.co).
    """

    template_fields: Sequence[str] = ("workload", "namespace", "kubernetes_conn_id", "hf_conn_id")
    template_fields_renderers = {"workload": "yaml"}
    ui_color = "#ffd21e"

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
        render_options: Mapping[str, Any] | None = None,
        check_quota: bool = True,
        preflight: Literal["strict", "warn", "off"] = "strict",
        hf_endpoint: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if preflight not in ("strict", "warn", "off"):
            raise ValueError(f"preflight ({preflight!r}) must be 'strict', 'warn' or 'off'")
        self.preflight = preflight
        self.hf_endpoint = hf_endpoint
        if if_exists not in ("fail", "update"):
            raise ValueError(f"if_exists ({if_exists!r}) must be 'fail' or 'update'")
        self.workload = workload
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.hf_conn_id = hf_conn_id
        self.if_exists = if_exists
        self.is_dry_run = dry_run
        self.wait_for_ready = wait_for_ready
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.render_options = dict(render_options or {})
        self.check_quota = check_quota

    @cached_property
    def hook(self) -> HFInferenceHook:
        """The hook of the operator's connection."""
        return HFInferenceHook(kubernetes_conn_id=self.kubernetes_conn_id)

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
        from airflow_provider_hfinfer.render import endpoint_url, render_manifests, spec_hash

        workload = self._resolve_workload()
        self._preflight(workload)
        options = self.hook.render_options(self.render_options)
        manifests = render_manifests(workload, namespace=self.namespace, options=options)
        identity = _task_identity(context)
        for manifest in manifests:
            manifest["metadata"]["annotations"][OWNER_ANNOTATION] = identity
        self.log.info("%s", describe_plan(workload, manifests, self.namespace))
        result: dict[str, Any] = {
            "name": workload.name,
            "namespace": self.namespace,
            "endpoint_url": endpoint_url(workload, self.namespace, options),
            "served_model_name": workload.model.served_model_name,
            "model": workload.model.id,
            "revision": workload.model.revision,
            "spec_hash": spec_hash(workload, self.namespace, options),
            "objects": [object_ref(item) for item in manifests],
            "dry_run": self.is_dry_run,
        }
        if self.is_dry_run:
            self._server_dry_run(manifests)
            result["manifests"] = redact_manifests(manifests)
            return result
        existing = self._check_ownership(workload, manifests, identity)
        self._record_state(context, workload.name)
        if self.check_quota:
            self._check_quota(workload, options, updating=bool(existing))
        self._apply(workload, manifests, existing)
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
