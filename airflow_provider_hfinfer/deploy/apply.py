"""The apply step create and update share: claim the name, check, apply, reopen.

This module owns the cluster side of a deploy, in order:

* :func:`claim`: read every object the plan renders; an object this provider
  does not manage, or (with ``if_exists="fail"``) a workload another task
  deployed, is a :class:`~airflow_provider_hfinfer.exceptions.NameTakenError`;
  the task's own earlier attempt is reconciled, never duplicated.
* :func:`check_quota`: the namespace's ResourceQuota against the new pods, with
  used/hard figures and the fix.
* :func:`pin_pool`: strict node-pool order, the first listed pool with room now
  (the plan is rendered again with that pool, never patched).
* :func:`apply_plan`: server-side apply of every object; a partial apply deletes
  what this attempt created before the error is raised; finished marks of a
  workload deployed again are removed. :func:`in_flight` says, before the
  apply starts, what a failure policy must know (:class:`~.state.AppliedWorkload`).

It reaches the cluster only through the hook-like :class:`ApplyClient` and
imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from airflow_provider_hfinfer.deploy.finish import reopen
from airflow_provider_hfinfer.deploy.plan import DeployPlan
from airflow_provider_hfinfer.deploy.state import AppliedWorkload
from airflow_provider_hfinfer.exceptions import (
    KubeAPIError,
    NameTakenError,
    PartialApplyError,
    QuotaExceededError,
)
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.spec.names import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKLOAD_LABEL,
    is_ours,
    object_ref,
    owner_of,
)


class Log(Protocol):
    """Where a step reports progress (a ``logging.Logger`` or Airflow's task log)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Report progress."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Report something the user should know."""

    def error(self, msg: Any, /, *args: Any) -> Any:
        """Report a failure."""


Live = dict[str, dict[str, Any]]
"""Live objects by ``Kind/name``, as :func:`claim` read them."""


class ApplyClient(Protocol):
    """The cluster verbs the apply step needs (``HFInferenceHook`` has them)."""

    def list_workload_objects(self, name: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of the workload, in apply order."""

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None
    ) -> dict[str, Any] | None:
        """Read one object; None when it does not exist."""

    def apply(
        self, manifests: Sequence[dict[str, Any]], *, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """Server-side apply in order; PartialApplyError after a partial apply."""

    def delete(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        """Delete one object; False when it was already gone."""

    def annotate(
        self, obj: Mapping[str, Any], annotations: Mapping[str, str | None]
    ) -> dict[str, Any]:
        """Merge-patch annotations (None removes a key)."""

    def list_objects(
        self,
        resource: res.Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """List objects of one kind."""

    def list_pool_nodes(self, label_key: str, pools: Sequence[str]) -> list[dict[str, Any]]:
        """Nodes of the listed node pools."""

    def list_active_pods(self) -> list[dict[str, Any]]:
        """Pods of every namespace that may hold node resources."""


def claim(client: ApplyClient, plan: DeployPlan, *, if_exists: str, log: Log) -> Live:
    """Check the name is this task's to use; return the live objects it will reconcile.

    Raises:
        NameTakenError: An object of that name is not managed by this provider, or
            (``if_exists="fail"``) another task deployed the workload.
    """
    workload = plan.workload
    existing: Live = {}
    for manifest in plan.manifests:
        meta = manifest["metadata"]
        live = client.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
        if live is None:
            continue
        ref = object_ref(manifest)
        if not is_ours(live, workload.name):
            raise NameTakenError(
                f"{ref} already exists in the project and is not managed by this provider: "
                "choose another workload name (it is left untouched)",
                name=workload.name,
                namespace=plan.namespace,
                reason="NameTaken",
            )
        owner = owner_of(live)
        if owner != plan.owner and if_exists == "fail":
            raise NameTakenError(
                f"workload '{workload.name}' already exists in the project (created by "
                f"{owner or 'another task'}): choose another name, or set "
                "if_exists='update' to roll it forward",
                name=workload.name,
                namespace=plan.namespace,
                reason="NameTaken",
            )
        existing[ref] = live
    if existing:
        log.info("reconciling existing objects: %s", ", ".join(sorted(existing)))
    return existing


def check_quota(client: ApplyClient, plan: DeployPlan, *, updating: bool) -> None:
    """Fail before applying when the new pods would exceed the namespace's quota.

    Raises:
        QuotaExceededError: One line per quota exceeded, with the fix.
    """
    from airflow_provider_hfinfer.checks.quota import check_quotas, pod_usage

    quotas = client.list_objects(res.RESOURCE_QUOTA, plan.namespace)
    if not quotas:
        return
    workload = plan.workload
    if updating:
        pods = 1 if workload.update_strategy == "RollingUpdate" else 0
    else:
        pods = max(workload.replicas.min, 1)
    problems = check_quotas(quotas, pod_usage(workload, plan.options), pods)
    if problems:
        raise QuotaExceededError(
            f"the workload does not fit the project's quota ({pods} new pod(s)): "
            + "; ".join(problems)
            + ". Lower compute/replicas, free capacity, or ask for a larger quota",
            name=workload.name,
            namespace=plan.namespace,
            reason="QuotaExceeded",
        )


def pin_pool(client: ApplyClient, plan: DeployPlan, log: Log) -> DeployPlan:
    """Strict node-pool order: the plan rendered for the first pool with room now.

    Falls back to the preferred-order affinity (the plan unchanged) when no
    listed pool has room or the connection may not read nodes and pods
    cluster-wide.
    """
    from airflow_provider_hfinfer.checks.placement import PodShape, decide_placement

    workload = plan.workload
    pools = list(workload.node_pools)
    deployment = plan.deployment
    if len(pools) < 2 or deployment is None:
        log.info("strict node-pool order: fewer than two node pools, nothing to choose")
        return plan
    key = plan.options.node_pool_label_key
    try:
        nodes = client.list_pool_nodes(key, pools)
        pods = client.list_active_pods()
    except KubeAPIError as err:
        if err.status not in (401, 403):
            raise
        log.warning(
            "strict node-pool order unavailable, keeping the preferred-order affinity: %s", err
        )
        return plan
    decision = decide_placement(
        nodes,
        pods,
        pool_label_key=key,
        shape=PodShape.from_pod_spec(deployment["spec"]["template"]["spec"], key),
        replicas=workload.replicas.min,
        pools=pools,
        own_namespace=plan.namespace,
        own_labels={WORKLOAD_LABEL: workload.name, MANAGED_BY_LABEL: MANAGED_BY},
    )
    if decision.pool is None:
        log.warning("%s", decision.describe())
        return plan
    log.info("%s", decision.describe())
    return plan.with_context(pinned_pool=decision.pool)


def in_flight(plan: DeployPlan, existing: Live) -> AppliedWorkload:
    """What a failure policy must know about this apply, before it starts (pure)."""
    return AppliedWorkload(
        name=plan.workload.name,
        namespace=plan.namespace,
        objects=tuple(plan.refs),
        adopted=any(owner_of(obj) != plan.owner for obj in existing.values()),
        existed=f"Deployment/{plan.workload.name}" in existing,
    )


def apply_plan(client: ApplyClient, plan: DeployPlan, existing: Live, log: Log) -> None:
    """Apply every object; undo this attempt's creations on a partial apply; reopen.

    Args:
        client: The cluster verbs.
        plan: What to apply.
        existing: What :func:`claim` found (left in place on a partial apply).
        log: Where progress goes.

    Raises:
        PartialApplyError: An object failed after others were applied; the ones this
            attempt created were deleted again.
    """
    try:
        client.apply(plan.manifests)
    except PartialApplyError as err:
        created = [
            item
            for item in plan.manifests
            if object_ref(item) in err.applied and object_ref(item) not in existing
        ]
        for item in reversed(created):
            client.delete(item)
        log.error(
            "rolled back the objects this attempt created: %s",
            ", ".join(object_ref(item) for item in created) or "none",
        )
        raise
    log.info("applied %d objects for workload %s", len(plan.manifests), plan.workload.name)
    reopen(client, existing.values())  # deployed again: an old finished mark goes
