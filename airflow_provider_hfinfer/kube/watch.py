"""A watch-backed view of one workload's objects, for the readiness trigger.

This module owns how the triggerer follows a workload without polling: per
kind one list, then a watch from its resourceVersion (the Deployment by name,
ReplicaSets and pods by the workload's labels, Events of the namespace kept
only when they are about the workload's objects). Every call is a planned
:class:`~airflow_provider_hfinfer.kube.requests.KubeRequest` sent by the
:class:`~airflow_provider_hfinfer.kube.aclient.AsyncKubeClient`, so failures
carry the one error mapping: a watch that expires with 410 Gone is answered by
a fresh list, 401/403 ends the watch with the missing permission, anything else
(and a dropped connection) by a bounded, jittered backoff and a resumed watch.
Every kind is re-listed each resync interval. Streams are read raw (the JSON
dicts the API server sends, which is what the readiness model reads). It wakes
its waiter on every change and takes no readiness decision itself; the
snapshot it hands over is :func:`~airflow_provider_hfinfer.kube.snapshot.
workload_snapshot`, the same function the hook uses.

``kubernetes_asyncio`` and ``aiohttp`` are imported lazily: the module is
imported by DAG files through the sensor.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hfinfer.exceptions import (
    AccessDeniedError,
    KubeAPIError,
    WatchExpiredError,
)
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.aclient import AsyncKubeClient, transport_errors
from airflow_provider_hfinfer.kube.errors import error_for
from airflow_provider_hfinfer.kube.requests import (
    KubeRequest,
    plan_get,
    plan_list,
    plan_log,
    plan_watch,
)
from airflow_provider_hfinfer.kube.snapshot import about_workload, workload_snapshot
from airflow_provider_hfinfer.spec.names import workload_selector

JsonDict = dict[str, Any]

DEPLOYMENT = "deployment"
REPLICA_SETS = "replica_sets"
PODS = "pods"
EVENTS = "events"


@dataclass(frozen=True)
class WatchSettings:
    """How the watches behave.

    Attributes:
        resync_seconds: Re-list every kind this often (also the server-side
            timeout of each watch, so a quiet workload costs one list and one watch
            per kind and interval).
        backoff_initial: First pause after a failed request, in seconds.
        backoff_max: Longest pause between attempts, in seconds.
        request_timeout: Client timeout of list and get requests, in seconds.
        max_events: Events kept per workload (the newest).
    """

    resync_seconds: float = 300.0
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    request_timeout: float = 30.0
    max_events: int = 200


@dataclass
class WatchStats:
    """Requests made and recoveries, for logs, tests and benchmarks.

    Attributes:
        lists: List requests sent: one per kind at start, after every resync
            interval and after every expired watch.
        watches: Watch requests opened, including resumed ones.
        expired: Watches that ended with 410 Gone (their resourceVersion was too
            old) and were answered by a fresh list.
        reconnects: Failed or dropped requests (5xx, 429, lost connections)
            that were retried after a backoff pause.
        gets: Single-object reads: the KEDA scaler lookups and pod log tails.
    """

    lists: int = 0
    watches: int = 0
    expired: int = 0
    reconnects: int = 0
    gets: int = 0

    @property
    def requests(self) -> int:
        """Every request sent to the API server."""
        return self.lists + self.watches + self.gets


@dataclass(frozen=True)
class _Kind:
    key: str
    resource: res.Resource
    label_selector: str | None = None
    field_selector: str | None = None


@dataclass
class _Backoff:
    initial: float
    ceiling: float
    current: float = field(default=0.0)

    def reset(self) -> None:
        self.current = self.initial

    async def pause(self) -> None:
        delay = min(self.ceiling, self.current or self.initial)
        await asyncio.sleep(delay * (0.5 + random.random() / 2))
        self.current = min(self.ceiling, delay * 2)


def _retryable() -> tuple[type[BaseException], ...]:
    """What a watch recovers from by backing off (auth failures and 410 are handled apart)."""
    return (KubeAPIError, ValueError, *transport_errors())


def _trim(obj: JsonDict) -> JsonDict:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def _name(obj: JsonDict) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _resource_version(obj: JsonDict, default: str) -> str:
    meta = obj.get("metadata")
    value = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return str(value) if value else default


class WorkloadWatch:
    """Lists and watches one workload's objects and keeps the latest of each.

    Args:
        api_client: A ``kubernetes_asyncio`` ``ApiClient`` (from
            ``AsyncKubernetesHook.get_conn()``); requests go through an
            :class:`~airflow_provider_hfinfer.kube.aclient.AsyncKubeClient` over it.
        name: The workload (Deployment) name.
        namespace: Its namespace.
        settings: Resync interval, backoff and limits.
    """

    def __init__(
        self, api_client: Any, name: str, namespace: str, settings: WatchSettings | None = None
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.settings = settings or WatchSettings()
        self.stats = WatchStats()
        self.changed = asyncio.Event()
        self.objects: dict[str, dict[str, JsonDict]] = {
            key: {} for key in (DEPLOYMENT, REPLICA_SETS, PODS, EVENTS)
        }
        self.client = AsyncKubeClient(api_client)
        selector = workload_selector(name)
        self._kinds = (
            _Kind(DEPLOYMENT, res.DEPLOYMENT, field_selector=f"metadata.name={name}"),
            _Kind(REPLICA_SETS, res.REPLICA_SET, label_selector=selector),
            _Kind(PODS, res.POD, label_selector=selector),
            _Kind(EVENTS, res.EVENT),
        )
        self._listed: set[str] = set()
        self._scaler: tuple[float, JsonDict | None] | None = None

    # ----------------------------------------------------------------- reading

    @property
    def synced(self) -> bool:
        """True once every kind has been listed at least once."""
        return len(self._listed) == len(self._kinds)

    def snapshot(self, scaler: JsonDict | None = None) -> JsonDict:
        """The keyword arguments of ``assess()`` from the cache (the hook's shape)."""
        return workload_snapshot(
            self.name,
            deployment=next(iter(self.objects[DEPLOYMENT].values()), None),
            replica_sets=self.objects[REPLICA_SETS].values(),
            pods=self.objects[PODS].values(),
            events=self.objects[EVENTS].values(),
            scaler=scaler,
        )

    def _about_workload(self, event: JsonDict) -> bool:
        return about_workload(event, self.name)

    def _notify(self) -> None:
        self.changed.set()

    # ----------------------------------------------------------------- running

    async def run(self) -> None:
        """Follow every kind until cancelled; raises ``AccessDeniedError`` on 401/403."""
        tasks = [asyncio.ensure_future(self._follow(kind)) for kind in self._kinds]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._notify()  # wake the waiter at once: it reports why watching stopped

    async def _follow(self, kind: _Kind) -> None:
        loop = asyncio.get_running_loop()
        transient = _retryable()
        backoff = _Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        version: str | None = None
        resync_at = 0.0
        while True:
            try:
                if version is None or loop.time() >= resync_at:
                    version = await self._list(kind)
                    resync_at = loop.time() + self.settings.resync_seconds
                timeout = max(1, round(resync_at - loop.time()))
                version = await self._watch(kind, version, timeout, backoff.reset)
            except WatchExpiredError:
                self.stats.expired += 1
                version = None
            except AccessDeniedError:
                raise
            except transient:
                self.stats.reconnects += 1
                await backoff.pause()

    def _plan(self, kind: _Kind, version: str | None = None, timeout: int = 0) -> KubeRequest:
        selectors = {"label_selector": kind.label_selector, "field_selector": kind.field_selector}
        if version is None:
            return plan_list(kind.resource, self.namespace, **selectors)
        return plan_watch(
            kind.resource,
            self.namespace,
            resource_version=version,
            timeout_seconds=timeout,
            **selectors,
        )

    async def _list(self, kind: _Kind) -> str:
        self.stats.lists += 1
        response = await self.client.open(self._plan(kind), timeout=self.settings.request_timeout)
        try:
            body = json.loads(await response.read())
        finally:
            response.release()
        items: dict[str, JsonDict] = {}
        for item in body.get("items") or []:
            if isinstance(item, dict) and (kind.key != EVENTS or self._about_workload(item)):
                items[_name(item)] = _trim(item)
        if kind.key == EVENTS:
            items = dict(list(items.items())[-self.settings.max_events :])
        self.objects[kind.key] = items
        self._listed.add(kind.key)
        self._notify()
        return str((body.get("metadata") or {}).get("resourceVersion") or "0")

    async def _watch(
        self, kind: _Kind, version: str, timeout: int, on_open: Callable[[], None]
    ) -> str:
        self.stats.watches += 1
        request = self._plan(kind, version, timeout)
        response = await self.client.open(request, timeout=timeout + self.settings.request_timeout)
        on_open()
        pending = b""
        try:
            async for chunk in response.content.iter_any():
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        version = self._apply(kind, json.loads(line), version, request)
        finally:
            response.release()
        if pending.strip():
            version = self._apply(kind, json.loads(pending), version, request)
        return version

    def _apply(self, kind: _Kind, event: JsonDict, version: str, request: KubeRequest) -> str:
        kind_of_event = str(event.get("type", ""))
        obj = event.get("object")
        if not isinstance(obj, dict):
            return version
        if kind_of_event == "ERROR":
            raise error_for(request, int(obj.get("code") or 500), json.dumps(obj).encode())
        version = _resource_version(obj, version)
        if kind_of_event == "BOOKMARK":
            return version
        if kind.key == EVENTS and not self._about_workload(obj):
            return version
        store = self.objects[kind.key]
        name = _name(obj)
        store.pop(name, None)
        if kind_of_event != "DELETED":
            store[name] = _trim(obj)
        while len(store) > self.settings.max_events:
            store.pop(next(iter(store)))
        self._notify()
        return version

    # ---------------------------------------------------------------- extras

    async def scaler(self) -> JsonDict | None:
        """The KEDA ScaledObject or HTTPScaledObject of the workload (cached per resync)."""
        loop = asyncio.get_running_loop()
        if self._scaler is not None and loop.time() < self._scaler[0]:
            return self._scaler[1]
        found: JsonDict | None = None
        for resource in (res.SCALED_OBJECT, res.HTTP_SCALED_OBJECT):
            found = await self._get(plan_get(resource, self.name, self.namespace))
            if found is not None:
                break
        self._scaler = (loop.time() + self.settings.resync_seconds, found)
        return found

    async def _get(self, request: KubeRequest) -> JsonDict | None:
        """One object, or None when it is absent or cannot be read now."""
        self.stats.gets += 1
        status, body = await self.client.exchange(request, timeout=self.settings.request_timeout)
        if status != 200:
            return None
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    async def log_tail(self, pod: str, lines: int = 20) -> str | None:
        """The last ``lines`` lines of a pod's log, or None when they cannot be read."""
        self.stats.gets += 1
        request = plan_log(pod, self.namespace, tail_lines=lines)
        status, body = await self.client.exchange(request, timeout=self.settings.request_timeout)
        return body.decode(errors="replace") if status == 200 else None
