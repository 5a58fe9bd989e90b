"""The Workloads page's reads and writes on the clusters: thin, through the hook.

This module owns the page's I/O: which namespaces a connection covers, the
table's list calls (**one per kind and namespace**, whatever the number of
workloads), one workload's objects and its failing pod's log for the detail
panel, and the two actions, which run the very functions the complete and
delete operators run (:func:`~airflow_provider_hfinfer.deploy.finish.
mark_finished`, :func:`~airflow_provider_hfinfer.deploy.finish.delete_objects`).
Failures come back as :class:`ListingError` values naming the connection and
namespace, so one cluster that cannot be reached never hides the others. No
rules of its own: :mod:`.rows` and :mod:`.detail` judge what is read here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_hfinfer.deploy.finish import delete_objects, mark_finished
from airflow_provider_hfinfer.deploy.marks import FinishResult
from airflow_provider_hfinfer.exceptions import HFInferenceError, KubeAPIError
from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.client import RetryPolicy
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec.names import MANAGED_SELECTOR, workload_selector
from airflow_provider_hfinfer.status import WorkloadStatus
from airflow_provider_hfinfer.status.verdict import log_tail_pod
from airflow_provider_hfinfer.ui.rows import WorkloadObjects, assess_members, group_objects

log = logging.getLogger(__name__)

TABLE_KINDS: tuple[res.Resource, ...] = (
    res.DEPLOYMENT,
    res.REPLICA_SET,
    res.POD,
    res.EVENT,
    res.SERVICE,
    res.SCALED_OBJECT,
    res.HTTP_SCALED_OBJECT,
)
"""What the table lists in each namespace, one call each (Events are not labelled)."""

NAMESPACES_EXTRA = "hfinfer_workloads_namespaces"
"""Connection extra: the namespaces the page lists (comma-separated or a list)."""

PAGE_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=1.0, timeout=10.0)
"""A page waits seconds, not minutes, for a cluster that does not answer."""

LOG_LINES = 40


@dataclass(frozen=True)
class ListingError:
    """Why a connection or one of its namespaces could not be read.

    Attributes:
        connection: The Airflow connection.
        namespace: The namespace, or None when the connection itself failed.
        status: The HTTP status (401, 403, ...); 0 when no answer came.
        reason: A short cause: ``Forbidden``, ``Unauthorized``, ``Unreachable``,
            ``ConnectionNotFound``, ``BadSettings``...
        message: What went wrong and the fix, e.g. the missing permission.
    """

    connection: str
    namespace: str | None
    status: int
    reason: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """JSON primitives."""
        return {
            "connection": self.connection,
            "namespace": self.namespace,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass
class ConnectionListing:
    """What one connection's namespaces held.

    Attributes:
        connection: The Airflow connection.
        namespaces: The namespaces listed.
        objects: Every object listed, ``kind`` set on each.
        options: The connection's cluster settings.
        errors: What could not be read.
        requests: List calls sent.
    """

    connection: str
    namespaces: tuple[str, ...] = ()
    objects: list[dict[str, Any]] = field(default_factory=list)
    options: RenderOptions = field(default_factory=RenderOptions)
    errors: list[ListingError] = field(default_factory=list)
    requests: int = 0


def namespaces_of(extras: Mapping[str, Any]) -> tuple[str, ...]:
    """The namespaces a connection covers.

    Its ``hfinfer_workloads_namespaces`` extra, else its ``namespace`` extra, else
    ``default``.
    """
    raw = extras.get(NAMESPACES_EXTRA)
    if isinstance(raw, str):
        names = raw.split(",")
    elif isinstance(raw, Sequence):
        names = [str(item) for item in raw]
    else:
        names = []
    cleaned = tuple(dict.fromkeys(name.strip() for name in names if name and name.strip()))
    if cleaned:
        return cleaned
    single = extras.get("namespace")
    return (str(single).strip(),) if isinstance(single, str) and single.strip() else ("default",)


def error_of(connection: str, namespace: str | None, err: BaseException) -> ListingError:
    """The page's account of a failure (the kube layer's message, which names the fix)."""
    if isinstance(err, KubeAPIError):
        reasons = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 0: "Unreachable"}
        reason = reasons.get(err.status) or err.reason or type(err).__name__
        message = err.message
        if err.status == 0:
            message = _unreachable(connection, err)
        return ListingError(connection, namespace, err.status, reason, message)
    name = type(err).__name__
    if name == "AirflowNotFoundException":
        message = (
            f"the Airflow connection '{connection}' is not defined: add it (a Kubernetes "
            "connection) or remove it from [hfinfer] workloads_connections"
        )
        return ListingError(connection, namespace, 0, "ConnectionNotFound", message)
    if isinstance(err, ValueError):
        return ListingError(connection, namespace, 0, "BadSettings", str(err))
    message = f"cannot reach the cluster of connection '{connection}': {err}"
    return ListingError(connection, namespace, 0, "Unreachable", message)


def _unreachable(connection: str, err: KubeAPIError) -> str:
    text = err.message.lower()
    causes = (("refused", "connection refused"), ("timed out", "timed out"))
    cause = next((words for key, words in causes if key in text), None)
    where = f" in namespace '{err.namespace}'" if err.namespace else ""
    return (
        f"cannot reach the API server of connection '{connection}' "
        f"({err.verb} {err.resource}{where}): {cause or err.message[-200:]}; check the "
        "connection's server address and the network between Airflow and the cluster"
    )


_EXPECTED = (HFInferenceError, OSError, ValueError, LookupError, RuntimeError)
"""What reading a connection may raise (Airflow's and kubernetes' config errors included)."""


def _hook(connection: str) -> tuple[HFInferenceHook, RenderOptions, tuple[str, ...]]:
    hook = HFInferenceHook(kubernetes_conn_id=connection)
    extras = hook.connection_extras()
    return hook, RenderOptions.from_extras(extras), namespaces_of(extras)


def expected_errors() -> tuple[type[BaseException], ...]:
    """What reading a cluster through a connection may raise, to be shown, not crash."""
    from airflow.sdk.exceptions import AirflowException
    from kubernetes.config import ConfigException

    return (*_EXPECTED, AirflowException, ConfigException)


def list_connection(
    connection: str, kinds: Sequence[res.Resource] = TABLE_KINDS
) -> ConnectionListing:
    """List the provider's objects in every namespace of one connection.

    One list call per kind and namespace (managed-by selector; Events unfiltered).
    A namespace that fails is reported and skipped; the others are still read.
    """
    listing = ConnectionListing(connection)
    errors = expected_errors()
    try:
        hook, listing.options, listing.namespaces = _hook(connection)
    except errors as err:
        listing.errors.append(error_of(connection, None, err))
        return listing
    for namespace in listing.namespaces:
        found: list[dict[str, Any]] = []
        try:
            for resource in kinds:
                selector = None if resource is res.EVENT else MANAGED_SELECTOR
                listing.requests += 1
                for item in hook.list_objects(
                    resource, namespace, label_selector=selector, retry=PAGE_RETRY
                ):
                    item.setdefault("apiVersion", resource.api_version)
                    item.setdefault("kind", resource.kind)
                    found.append(item)
        except errors as err:
            log.warning("workloads page: %s/%s: %s", connection, namespace, err)
            listing.errors.append(error_of(connection, namespace, err))
            continue
        listing.objects.extend(found)
    return listing


def list_connections(connections: Sequence[str]) -> list[ConnectionListing]:
    """:func:`list_connection` for several connections at once, in the order given."""
    if not connections:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(connections))) as pool:
        return list(pool.map(list_connection, connections))


@dataclass
class WorkloadReading:
    """One workload as the detail panel needs it.

    Attributes:
        members: Its objects, ReplicaSets, pods and events.
        status: Its readiness verdict.
        options: The connection's cluster settings.
        log_pod: The failing pod whose log was read.
        log_tail: That pod's last lines (unscrubbed: :func:`.detail.scrub_log` cuts tokens).
    """

    members: WorkloadObjects | None
    status: WorkloadStatus | None
    options: RenderOptions
    log_pod: str | None = None
    log_tail: str | None = None


def read_workload(connection: str, namespace: str, name: str, now: datetime) -> WorkloadReading:
    """Read one workload's objects, assess it, and read the failing pod's log tail.

    Raises:
        KubeAPIError: The cluster refused or did not answer (the caller shows it).
    """
    hook, options, _ = _hook(connection)
    selector = workload_selector(name)
    listed: list[dict[str, Any]] = hook.list_workload_objects(name, namespace)
    for resource in (res.REPLICA_SET, res.POD, res.EVENT):
        chosen = None if resource is res.EVENT else selector
        for item in hook.list_objects(resource, namespace, label_selector=chosen, retry=PAGE_RETRY):
            item.setdefault("kind", resource.kind)
            listed.append(item)
    groups = [group for group in group_objects(listed) if group.name == name]
    if not groups:
        return WorkloadReading(None, None, options)
    members = groups[0]
    status = assess_members(members, now)
    pod = log_tail_pod(status)
    tail = hook.pod_log_tail(pod, namespace, lines=LOG_LINES) if pod else None
    return WorkloadReading(members, status, options, pod, tail)


def workload_objects(connection: str, namespace: str, name: str) -> list[dict[str, Any]]:
    """Every object of the workload (the delete operator's listing), in apply order."""
    hook = HFInferenceHook(kubernetes_conn_id=connection)
    return hook.list_workload_objects(name, namespace)


def complete_workload(connection: str, namespace: str, name: str, now: datetime) -> FinishResult:
    """Mark the workload Completed, as the complete operator does (TTL 0: delete it now)."""
    hook = HFInferenceHook(kubernetes_conn_id=connection)
    return mark_finished(hook, name, namespace, "Completed", now)


def delete_workload(
    connection: str, namespace: str, name: str, objects: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Delete the listed objects, as the delete operator does; ``Kind/name`` of those deleted."""
    hook = HFInferenceHook(kubernetes_conn_id=connection)
    return delete_objects(hook, objects)
