"""One Kubernetes API client per connection and event loop, shared by waiting triggers.

A triggerer runs every trigger in one event loop. A ``kubernetes_asyncio``
``ApiClient`` per trigger would load the CA bundle into its own SSL context
(tens of milliseconds of blocked loop and about a megabyte each) and open its
own connection pool, so a hundred waiting workloads would stall the loop and
hold a hundred pools. This module owns the sharing instead: the first trigger
of a connection opens the cncf-kubernetes ``AsyncKubernetesHook`` connection,
later ones borrow it, and the last one to leave closes it. The pool has no
connection limit because watches hold their connections open (four per
namespace waited on: :mod:`~airflow_provider_hfinfer.kube.informer`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

HookFactory = Callable[[Any], Any]
"""Builds an ``AsyncKubernetesHook`` from a ``kubernetes_asyncio`` Configuration."""


@dataclass
class _Shared:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    client: Any = None
    opened: Any = None


_SHARED: dict[tuple[int, Hashable], _Shared] = {}


def _unlimited_configuration() -> Any:
    from kubernetes_asyncio import client

    configuration = client.Configuration()
    configuration.connection_pool_maxsize = 0  # aiohttp: no limit; watches hold connections
    return configuration


@contextlib.asynccontextmanager
async def shared_api_client(key: Hashable, make_hook: HookFactory) -> AsyncIterator[Any]:
    """Borrow the loop's ``ApiClient`` for ``key`` (connection settings), opening it if needed.

    Args:
        key: What identifies the connection: conn id, config file, context...
        make_hook: Builds the hook; it gets a Configuration to fill, whose pool
            is unlimited.

    Yields:
        A ``kubernetes_asyncio`` ``ApiClient``; do not close it.
    """
    slot = (id(asyncio.get_running_loop()), key)
    shared = _SHARED.setdefault(slot, _Shared())
    async with shared.lock:
        if shared.client is None:
            opened = make_hook(_unlimited_configuration()).get_conn()
            shared.client = await opened.__aenter__()
            shared.opened = opened
        shared.users += 1
    try:
        yield shared.client
    finally:
        async with shared.lock:
            shared.users -= 1
            if shared.users == 0:
                opened, shared.opened, shared.client = shared.opened, None, None
                if _SHARED.get(slot) is shared:
                    del _SHARED[slot]
                if opened is not None:
                    await opened.__aexit__(None, None, None)


def open_clients() -> int:
    """How many shared clients are open (all loops), for tests."""
    return sum(1 for shared in _SHARED.values() if shared.client is not None)
