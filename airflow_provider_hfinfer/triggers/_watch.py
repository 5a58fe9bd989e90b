"""A watch-backed view of one workload's objects, for the readiness trigger.

This module owns how the triggerer follows a workload without polling: per
kind one list, then a watch from its resourceVersion (the Deployment by name,
ReplicaSets and pods by the workload's labels, Events of the namespace kept
only when they are about the workload's objects). Streams are read raw (the
JSON dicts the API server sends, which is what the readiness model reads; no
model classes), a watch that expires with 410 Gone is answered by a fresh
list, a dropped connection by a bounded, jittered backoff and a resumed watch,
and every kind is re-listed each resync interval. It wakes its waiter on every
change and takes no readiness decision itself.

``kubernetes_asyncio`` and ``aiohttp`` are imported lazily: the module is
imported by DAG files through the sensor.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_hfinfer.render.metadata import workload_selector

JsonDict = dict[str, Any]

DEPLOYMENT = "deployment"
REPLICA_SETS = "replica_sets"
PODS = "pods"
EVENTS = "events"


@dataclass(frozen=True)
class WatchSettings:
    """How the watches behave.

    :param resync_seconds: Re-list every kind this often (also the server-side
        timeout of each watch, so a quiet workload costs one list and one watch
        per kind and interval).
    :param backoff_initial: First pause after a failed request, in seconds.
    :param backoff_max: Longest pause between attempts, in seconds.
    :param request_timeout: Client timeout of list and get requests, in seconds.
    :param max_events: Events kept per workload (the newest).
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


class WatchFatalError(Exception):
    """The API server refused in a way retrying will not fix (401, 403).

    :param status: The HTTP status.
    :param reason: The Status reason (``Forbidden``...).
    :param message: The Status message.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class _Expired(Exception):
    """The watch's resourceVersion is gone (410): list again."""


class _Transient(Exception):
    """A failed request worth retrying (5xx, 429, 404 while a namespace appears...)."""


@dataclass(frozen=True)
class _Kind:
    key: str
    api: str
    lister: str
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


def _status_error(status: int, body: bytes) -> Exception:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    reason = str(parsed.get("reason") or "") if isinstance(parsed, dict) else ""
    message = str(parsed.get("message") or "") if isinstance(parsed, dict) else ""
    if status == 410:
        return _Expired(message)
    if status in (401, 403):
        return WatchFatalError(
            status, reason or "Forbidden", message or body.decode(errors="ignore")
        )
    return _Transient(f"{status} {reason}: {message}")


def _transient_errors() -> tuple[type[BaseException], ...]:
    import aiohttp
    from kubernetes_asyncio.client.exceptions import ApiException

    return (aiohttp.ClientError, TimeoutError, OSError, ValueError, ApiException, _Transient)


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

    :param api_client: A ``kubernetes_asyncio`` ``ApiClient`` (from
        ``AsyncKubernetesHook.get_conn()``).
    :param name: The workload (Deployment) name.
    :param namespace: Its namespace.
    :param settings: Resync interval, backoff and limits.
    """

    def __init__(
        self, api_client: Any, name: str, namespace: str, settings: WatchSettings | None = None
    ) -> None:
        from kubernetes_asyncio import client

        self.name = name
        self.namespace = namespace
        self.settings = settings or WatchSettings()
        self.stats = WatchStats()
        self.changed = asyncio.Event()
        self.objects: dict[str, dict[str, JsonDict]] = {
            key: {} for key in (DEPLOYMENT, REPLICA_SETS, PODS, EVENTS)
        }
        self._apis: dict[str, Any] = {
            "core": client.CoreV1Api(api_client),
            "apps": client.AppsV1Api(api_client),
            "custom": client.CustomObjectsApi(api_client),
        }
        selector = workload_selector(name)
        self._kinds = (
            _Kind(
                DEPLOYMENT,
                "apps",
                "list_namespaced_deployment",
                field_selector=f"metadata.name={name}",
            ),
            _Kind(REPLICA_SETS, "apps", "list_namespaced_replica_set", label_selector=selector),
            _Kind(PODS, "core", "list_namespaced_pod", label_selector=selector),
            _Kind(EVENTS, "core", "list_namespaced_event"),
        )
        self._listed: set[str] = set()
        self._scaler: tuple[float, JsonDict | None] | None = None

    # ----------------------------------------------------------------- reading

    @property
    def synced(self) -> bool:
        """True once every kind has been listed at least once."""
        return len(self._listed) == len(self._kinds)

    def snapshot(self) -> JsonDict:
        """The keyword arguments of ``assess()`` (without the scaler)."""
        deployment = next(iter(self.objects[DEPLOYMENT].values()), None)
        return {
            "deployment": deployment,
            "replica_sets": list(self.objects[REPLICA_SETS].values()),
            "pods": list(self.objects[PODS].values()),
            "events": list(self.objects[EVENTS].values()),
        }

    def _about_workload(self, event: JsonDict) -> bool:
        target = event.get("involvedObject") or event.get("regarding") or {}
        name = str(target.get("name", "")) if isinstance(target, dict) else ""
        return name == self.name or name.startswith(f"{self.name}-")

    def _notify(self) -> None:
        self.changed.set()

    # ----------------------------------------------------------------- running

    async def run(self) -> None:
        """Follow every kind until cancelled; raises :class:`WatchFatalError` on 401/403."""
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
        transient = _transient_errors()
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
            except _Expired:
                self.stats.expired += 1
                version = None
            except transient:
                self.stats.reconnects += 1
                await backoff.pause()

    async def _request(self, kind: _Kind, **params: Any) -> Any:
        method: Callable[..., Any] = getattr(self._apis[kind.api], kind.lister)
        if kind.label_selector:
            params["label_selector"] = kind.label_selector
        if kind.field_selector:
            params["field_selector"] = kind.field_selector
        response = await method(self.namespace, _preload_content=False, **params)
        if response.status != 200:
            body = await response.read()
            response.release()
            raise _status_error(int(response.status), body)
        return response

    async def _list(self, kind: _Kind) -> str:
        self.stats.lists += 1
        response = await self._request(kind, _request_timeout=self.settings.request_timeout)
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
        response = await self._request(
            kind,
            watch=True,
            resource_version=version,
            timeout_seconds=timeout,
            allow_watch_bookmarks=True,
            _request_timeout=timeout + self.settings.request_timeout,
        )
        on_open()
        pending = b""
        try:
            async for chunk in response.content.iter_any():
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        version = self._apply(kind, json.loads(line), version)
        finally:
            response.release()
        if pending.strip():
            version = self._apply(kind, json.loads(pending), version)
        return version

    def _apply(self, kind: _Kind, event: JsonDict, version: str) -> str:
        kind_of_event = str(event.get("type", ""))
        obj = event.get("object")
        if not isinstance(obj, dict):
            return version
        if kind_of_event == "ERROR":
            raise _status_error(int(obj.get("code") or 500), json.dumps(obj).encode())
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
        for group, plural in (("keda.sh", "scaledobjects"), ("http.keda.sh", "httpscaledobjects")):
            found = await self._get_custom(group, plural)
            if found is not None:
                break
        self._scaler = (loop.time() + self.settings.resync_seconds, found)
        return found

    async def _get_custom(self, group: str, plural: str) -> JsonDict | None:
        api = self._apis["custom"]
        self.stats.gets += 1
        body = await _read_ok(
            api.get_namespaced_custom_object(
                group,
                "v1alpha1",
                self.namespace,
                plural,
                self.name,
                _preload_content=False,
                _request_timeout=self.settings.request_timeout,
            )
        )
        if body is None:
            return None
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else None

    async def log_tail(self, pod: str, lines: int = 20) -> str | None:
        """The last ``lines`` lines of a pod's log, or None when they cannot be read."""
        api = self._apis["core"]
        self.stats.gets += 1
        body = await _read_ok(
            api.read_namespaced_pod_log(
                pod,
                self.namespace,
                tail_lines=lines,
                _preload_content=False,
                _request_timeout=self.settings.request_timeout,
            )
        )
        return None if body is None else body.decode(errors="replace")


async def _read_ok(request: Awaitable[Any]) -> bytes | None:
    """The raw body of a 200 answer; None for any other status or a transient failure."""
    try:
        response = await request
        try:
            body = await response.read()
        finally:
            response.release()
    except _transient_errors():
        return None
    return bytes(body) if response.status == 200 else None
