"""A watch-backed view of one workload's objects, for the readiness trigger.

This module owns how one waiting workload follows its objects without polling,
and how waiters share the watches that feed them. :func:`watch_workload` joins
the event loop's :class:`~airflow_provider_hfinfer.kube.informer.
NamespaceInformer` for the workload's cluster (API client), namespace and watch
settings, starting it for the first waiter; the last waiter to leave stops it.
So a thousand workloads waiting in one namespace cost four watches, not four
thousand. The :class:`WorkloadWatch` it yields reads the workload's objects
out of the shared cache, is woken only when one of them changes, and hands
them over as :func:`~airflow_provider_hfinfer.kube.snapshot.workload_snapshot`,
the same function the hook uses. It takes no readiness decision itself.

The KEDA scaler lookup and pod log tails stay per workload (single reads, only
when the verdict needs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.informer import (
    DEPLOYMENT,
    EVENTS,
    PODS,
    REPLICA_SETS,
    NamespaceInformer,
    WatchSettings,
    WatchStats,
)
from airflow_provider_hfinfer.kube.requests import KubeRequest, plan_get, plan_log
from airflow_provider_hfinfer.kube.snapshot import workload_snapshot

JsonDict = dict[str, Any]

__all__ = ["WatchSettings", "WatchStats", "WorkloadWatch", "open_informers", "watch_workload"]

_INFORMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, NamespaceInformer]]
_INFORMERS = weakref.WeakKeyDictionary()
"""Per event loop (a loop that is gone takes its entries along): informers by sharing key."""


class WorkloadWatch:
    """One workload's objects, read from the informer it shares with other waiters.

    Args:
        informer: The namespace's informer (joined by :func:`watch_workload`).
        name: The workload (Deployment) name.
    """

    def __init__(self, informer: NamespaceInformer, name: str) -> None:
        self.name = name
        self.namespace = informer.namespace
        self.settings = informer.settings
        self.stats: WatchStats = informer.stats
        """The shared informer's requests (every waiter of the namespace sees the same)."""
        self.changed = asyncio.Event()
        self.client = informer.client
        self._informer = informer
        self._scaler: tuple[float, JsonDict | None] | None = None

    # ----------------------------------------------------------------- reading

    @property
    def synced(self) -> bool:
        """True once every kind has been listed at least once."""
        return self._informer.synced

    def snapshot(self, scaler: JsonDict | None = None) -> JsonDict:
        """The keyword arguments of ``assess()`` from the cache (the hook's shape)."""
        caches = self._informer.caches
        return workload_snapshot(
            self.name,
            deployment=next(iter(caches[DEPLOYMENT].view(self.name).values()), None),
            replica_sets=caches[REPLICA_SETS].view(self.name).values(),
            pods=caches[PODS].view(self.name).values(),
            events=caches[EVENTS].view(self.name).values(),
            scaler=scaler,
        )

    async def run(self) -> None:
        """Return when the shared watches stop; raise why (``AccessDeniedError`` on 401/403)."""
        await self._informer.stopped.wait()
        if self._informer.error is not None:
            raise self._informer.error

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


@contextlib.asynccontextmanager
async def watch_workload(
    api_client: Any,
    name: str,
    namespace: str,
    settings: WatchSettings | None = None,
    *,
    shared: bool = True,
) -> AsyncIterator[WorkloadWatch]:
    """Follow workload ``name`` through the loop's shared informer of its namespace.

    Args:
        api_client: The ``kubernetes_asyncio`` ``ApiClient`` of the cluster (one
            per connection and loop: :mod:`~airflow_provider_hfinfer.kube.shared`);
            waiters share an informer when they share the client, the namespace
            and the settings.
        name: The workload (Deployment) name.
        namespace: Its namespace.
        settings: Renewal interval, backoff and limits.
        shared: False gives the workload watches of its own (the behaviour
            before sharing, for comparison).

    Yields:
        The workload's view; its ``run()`` raises when the watches stop.
    """
    settings = settings or WatchSettings()
    # The informer holds the client, so its id is not reused while the entry lives.
    key = (id(api_client), namespace, settings, None if shared else name)
    informers = _INFORMERS.setdefault(asyncio.get_running_loop(), {})
    informer = informers.get(key)
    if informer is None or informer.stopped.is_set():
        # A stopped informer (access was denied) is not reused: access may be granted now.
        informer = NamespaceInformer(api_client, namespace, settings, None if shared else name)
        informers[key] = informer
    watch = WorkloadWatch(informer, name)
    informer.subscribe(name, watch)
    try:
        yield watch
    finally:
        informer.unsubscribe(name, watch)
        if informer.waiters == 0:
            if informers.get(key) is informer:
                del informers[key]
            await informer.stop()


def open_informers() -> int:
    """How many informers are running (all loops), for tests and benchmarks."""
    return sum(len(informers) for informers in _INFORMERS.values())
