"""The triggerer's shared watches: one list and one watch per kind and namespace, for every waiter.

This module owns :class:`NamespaceInformer`, an informer-like cache of the
objects readiness is judged from (Deployments, ReplicaSets, pods, Events) in
one namespace of one cluster. Per kind it lists once (in pages), then watches
from the list's resourceVersion and renews the watch from the last version it
saw (bookmarks keep that fresh) after a jittered ``resync_seconds``; it lists
again only when the server answers 410 Gone. Every call is a planned
:class:`~airflow_provider_hfinfer.kube.requests.KubeRequest` sent by the
:class:`~airflow_provider_hfinfer.kube.aclient.AsyncKubeClient`, so failures
carry the one error mapping: 401/403 stops the informer with the missing
permission, anything else (and a dropped connection) is retried after a
bounded, jittered backoff.

How each kind is scoped on the server:

- Deployments, ReplicaSets and pods by the provider's label selector
  (``app.kubernetes.io/managed-by``), so objects of other applications never
  reach the triggerer;
- Events of the whole namespace, without a selector. Events carry no labels,
  and a field selector can only say ``involvedObject.name=<one name>``: no
  prefixes, no sets, no OR. A workload's events are about its Deployment, its
  ReplicaSets (``<name>-<hash>``) and its pods (``<name>-<hash>-<id>``), so
  per-workload selectors would need one watch per object, renewed as pods
  come and go: connections growing with replicas instead of namespaces. One
  stream, decoded once and filed by involved name, costs one connection per
  namespace (see the README's performance section for the figures).

The cache (:class:`~airflow_provider_hfinfer.kube.cache.KindCache`) files each
object under the workloads it is about and wakes only their subscribers. With
``workload`` set, the informer is scoped to that one workload instead (both
labels, the Deployment by name): the behaviour before sharing, which the
benchmarks measure against.

``kubernetes_asyncio`` and ``aiohttp`` are imported lazily.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_hfinfer.exceptions import (
    AccessDeniedError,
    KubeAPIError,
    WatchExpiredError,
)
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.aclient import AsyncKubeClient, transport_errors
from airflow_provider_hfinfer.kube.cache import (
    KindCache,
    Subscribers,
    event_keys,
    label_route,
    name_keys,
)
from airflow_provider_hfinfer.kube.errors import error_for
from airflow_provider_hfinfer.kube.requests import KubeRequest, plan_list, plan_watch
from airflow_provider_hfinfer.spec.names import MANAGED_SELECTOR, WORKLOAD_LABEL, workload_selector

JsonDict = dict[str, Any]

DEPLOYMENT = "deployment"
REPLICA_SETS = "replica_sets"
PODS = "pods"
EVENTS = "events"


@dataclass(frozen=True)
class WatchSettings:
    """How the watches behave (part of what decides which waiters share an informer).

    Attributes:
        resync_seconds: Each watch is renewed from its last resourceVersion after
            between one and two times this long (jittered, as client-go's
            reflector does, so renewals spread out); nothing is listed again
            unless the server answers 410 Gone.
        backoff_initial: First pause after a failed request, in seconds.
        backoff_max: Longest pause between attempts, in seconds.
        request_timeout: Client timeout of list and get requests, in seconds.
        max_events: Events kept per workload (the newest).
        page_size: Objects per list page.
        wake_batch: Waiters woken per event-loop turn. When a list or a burst of
            changes concerns many waiters, they are woken in batches so that
            their re-assessments do not block the loop all at once.
    """

    resync_seconds: float = 300.0
    backoff_initial: float = 0.2
    backoff_max: float = 30.0
    request_timeout: float = 30.0
    max_events: int = 200
    page_size: int = 500
    wake_batch: int = 32


@dataclass
class WatchStats:
    """Requests made and recoveries of one informer, for logs, tests and benchmarks.

    Attributes:
        lists: List requests (pages) sent: per kind at start and after every
            expired watch.
        watches: Watch requests opened, including renewed and resumed ones.
        expired: Watches that ended with 410 Gone (their resourceVersion was too
            old) and were answered by a fresh list.
        reconnects: Failed or dropped requests (5xx, 429, lost connections)
            that were retried after a backoff pause.
        gets: Single-object reads: the KEDA scaler lookups and pod log tails.
        events: Watch events received (each decoded once, however many wait).
    """

    lists: int = 0
    watches: int = 0
    expired: int = 0
    reconnects: int = 0
    gets: int = 0
    events: int = 0

    @property
    def requests(self) -> int:
        """Every request sent to the API server."""
        return self.lists + self.watches + self.gets


class Waiter(Protocol):
    """What the informer wakes: anything with a ``changed`` event."""

    @property
    def changed(self) -> asyncio.Event:
        """Set when an object the waiter reads changed."""

    def __hash__(self) -> int:
        """Waiters are kept in sets."""


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


def _resource_version(obj: JsonDict, default: str) -> str:
    meta = obj.get("metadata")
    value = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return str(value) if value else default


def _kinds(workload: str | None) -> tuple[_Kind, ...]:
    if workload is None:
        return (
            _Kind(DEPLOYMENT, res.DEPLOYMENT, label_selector=MANAGED_SELECTOR),
            _Kind(REPLICA_SETS, res.REPLICA_SET, label_selector=MANAGED_SELECTOR),
            _Kind(PODS, res.POD, label_selector=MANAGED_SELECTOR),
            _Kind(EVENTS, res.EVENT),
        )
    selector = workload_selector(workload)
    return (
        _Kind(DEPLOYMENT, res.DEPLOYMENT, field_selector=f"metadata.name={workload}"),
        _Kind(REPLICA_SETS, res.REPLICA_SET, label_selector=selector),
        _Kind(PODS, res.POD, label_selector=selector),
        _Kind(EVENTS, res.EVENT),
    )


class NamespaceInformer:
    """Lists and watches the readiness kinds of one namespace; wakes the waiters of what changed.

    Args:
        api_client: A ``kubernetes_asyncio`` ``ApiClient``.
        namespace: The namespace followed.
        settings: Renewal interval, backoff and limits.
        workload: Scope every kind to this one workload instead of sharing.
    """

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        settings: WatchSettings,
        workload: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.settings = settings
        self.client = AsyncKubeClient(api_client)
        self.stats = WatchStats()
        self.caches = {
            DEPLOYMENT: KindCache(name_keys),
            REPLICA_SETS: KindCache(label_route(WORKLOAD_LABEL)),
            PODS: KindCache(label_route(WORKLOAD_LABEL)),
            EVENTS: KindCache(event_keys, limit=settings.max_events),
        }
        self.error: BaseException | None = None
        """Why the informer stopped (access denied, or an unexpected failure)."""
        self.stopped = asyncio.Event()
        self._kinds = _kinds(workload)
        self._listed: set[str] = set()
        self._waiters: Subscribers[Waiter] = Subscribers()
        self._runner: asyncio.Future[None] | None = None
        self._to_wake: dict[Waiter, None] = {}
        self._waking = False

    # ----------------------------------------------------------------- waiters

    @property
    def synced(self) -> bool:
        """True once every kind has been listed at least once."""
        return len(self._listed) == len(self._kinds)

    @property
    def waiters(self) -> int:
        """How many waiters are subscribed."""
        return len(self._waiters)

    def subscribe(self, name: str, waiter: Waiter) -> None:
        """Wake ``waiter`` whenever an object of workload ``name`` changes; start if needed."""
        self._waiters.add(name, waiter)
        if self._runner is None:
            self._runner = asyncio.ensure_future(self._run())
        if self.synced or self.stopped.is_set():
            waiter.changed.set()

    def unsubscribe(self, name: str, waiter: Waiter) -> None:
        """Stop waking ``waiter`` (the caller stops the informer once nobody is left)."""
        self._waiters.remove(name, waiter)

    def _wake(self, keys: set[str] | None) -> None:
        waiters = self._waiters.everyone() if keys is None else self._waiters.of(keys)
        self._to_wake.update(dict.fromkeys(waiters))
        if self._to_wake and not self._waking:
            self._waking = True
            asyncio.get_running_loop().call_soon(self._wake_some)

    def _wake_some(self) -> None:
        """Wake the next batch; the rest after the loop has run what is ready now."""
        for _ in range(min(self.settings.wake_batch, len(self._to_wake))):
            waiter = next(iter(self._to_wake))
            del self._to_wake[waiter]
            waiter.changed.set()
        if self._to_wake:
            asyncio.get_running_loop().call_soon(self._wake_some)
        else:
            self._waking = False

    # ----------------------------------------------------------------- running

    async def stop(self) -> None:
        """Cancel the watches and wait until they ended."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def _run(self) -> None:
        tasks = [asyncio.ensure_future(self._follow(kind)) for kind in self._kinds]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - every waiter reports why watching stopped
            self.error = err
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.stopped.set()
            self._wake(None)

    async def _follow(self, kind: _Kind) -> None:
        transient = _retryable()
        backoff = _Backoff(self.settings.backoff_initial, self.settings.backoff_max)
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list(kind)
                timeout = max(1, round(self.settings.resync_seconds * random.uniform(1.0, 2.0)))
                version = await self._watch(kind, version, timeout, backoff.reset)
            except WatchExpiredError:
                self.stats.expired += 1
                version = None
            except AccessDeniedError:
                raise
            except transient:
                self.stats.reconnects += 1
                await backoff.pause()

    async def _list(self, kind: _Kind) -> str:
        items: list[JsonDict] = []
        token: str | None = None
        while True:
            self.stats.lists += 1
            request = plan_list(
                kind.resource,
                self.namespace,
                label_selector=kind.label_selector,
                field_selector=kind.field_selector,
                limit=self.settings.page_size,
                continue_token=token,
            )
            response = await self.client.open(request, timeout=self.settings.request_timeout)
            try:
                body = json.loads(await response.read())
            finally:
                response.release()
            items.extend(_trim(item) for item in body.get("items") or [] if isinstance(item, dict))
            meta = body.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        changed = self.caches[kind.key].replace(items)
        was_synced = self.synced
        self._listed.add(kind.key)
        if self.synced:
            self._wake(changed if was_synced else None)
        return str(meta.get("resourceVersion") or "0")

    async def _watch(
        self, kind: _Kind, version: str, timeout: int, on_open: Callable[[], None]
    ) -> str:
        self.stats.watches += 1
        request = plan_watch(
            kind.resource,
            self.namespace,
            resource_version=version,
            timeout_seconds=timeout,
            label_selector=kind.label_selector,
            field_selector=kind.field_selector,
        )
        response = await self.client.open(request, timeout=timeout + self.settings.request_timeout)
        on_open()
        pending = b""
        try:
            async for chunk in response.content.iter_any():
                pending += chunk
                if b"\n" not in pending:
                    continue
                *lines, pending = pending.split(b"\n")
                for line in lines:
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
        self.stats.events += 1
        changed = self.caches[kind.key].apply(kind_of_event, _trim(obj))
        if self.synced and changed:
            self._wake(changed)
        return version
