"""The shared watches' cache: one kind's objects of a namespace, indexed by workload.

This module owns the pure bookkeeping behind the triggerer's shared watches
(:mod:`~airflow_provider_hfinfer.kube.informer`): which workloads an object is
about (its *keys*), the latest copy of every object under each of its keys,
what a watch event or a fresh list changes, and who is subscribed to which key.

The keys reproduce exactly what a watch of one workload would select, so a
workload's view of the shared cache holds the objects its own watch would
hold:

- ReplicaSets and pods: the value of the ``hfinfer.io/workload`` label (the
  shared watch is scoped by the provider's ``managed-by`` label, the private one
  by both labels);
- the Deployment: its name;
- Events: every workload name :func:`~airflow_provider_hfinfer.kube.snapshot.
  about_workload` would accept, i.e. the involved object's name and each of its
  prefixes that ends before a ``-`` (``llama-7d9-x2`` is about ``llama``,
  ``llama-7d9`` and ``llama-7d9-x2``), so one namespace event is filed once per
  candidate name and read by a workload in one dictionary look-up.

Pure: no I/O, no client imports.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from airflow_provider_hfinfer.spec.names import labels_of

JsonDict = dict[str, Any]
Route = Callable[[Mapping[str, Any]], tuple[str, ...]]
"""The keys (workload names) an object is filed under; empty: it is about none."""

T = TypeVar("T", bound=Hashable)

_EMPTY: Mapping[str, JsonDict] = MappingProxyType({})


def object_name(obj: Mapping[str, Any]) -> str:
    """``metadata.name`` of an object ("" when it has none)."""
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, Mapping) else ""


def name_keys(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """A Deployment is filed under its own name."""
    name = object_name(obj)
    return (name,) if name else ()


def label_route(label: str) -> Route:
    """Objects filed under the value of label ``label`` (none when it is absent or empty)."""

    def keys(obj: Mapping[str, Any]) -> tuple[str, ...]:
        value = labels_of(obj).get(label)
        return (str(value),) if value else ()

    return keys


def event_keys(event: Mapping[str, Any]) -> tuple[str, ...]:
    """Every workload name an Event is about (see the module docstring)."""
    target = event.get("involvedObject") or event.get("regarding") or {}
    involved = str(target.get("name", "")) if isinstance(target, Mapping) else ""
    if not involved:
        return ()
    prefixes = [involved[:cut] for cut, char in enumerate(involved) if char == "-" and cut]
    return tuple(dict.fromkeys([*prefixes, involved]))


class KindCache:
    """The latest copy of every object of one kind, filed under its keys.

    Per key, objects keep the order in which they last changed (the newest
    last), and at most ``limit`` of them are kept (the oldest are dropped), as
    a workload's own watch keeps its newest events.

    Args:
        route: The keys of an object.
        limit: The most objects kept per key (None: no limit).
    """

    def __init__(self, route: Route, limit: int | None = None) -> None:
        self._route = route
        self._limit = limit
        self._keys: dict[str, tuple[str, ...]] = {}
        self._index: dict[str, dict[str, JsonDict]] = {}

    def view(self, key: str) -> Mapping[str, JsonDict]:
        """The objects filed under ``key``, by name (read-only; empty when there are none)."""
        found = self._index.get(key)
        return _EMPTY if found is None else MappingProxyType(found)

    def __len__(self) -> int:
        """How many distinct objects are cached."""
        return len(self._keys)

    def apply(self, kind_of_event: str, obj: JsonDict) -> set[str]:
        """Apply one watch event (``ADDED``, ``MODIFIED``, ``DELETED``); return the keys it changed.

        An object whose keys changed (a relabelled pod) leaves its old keys, as
        it leaves a selective watch with a ``DELETED`` event.
        """
        name = object_name(obj)
        old = self._keys.pop(name, ())
        for key in old:
            self._remove(key, name)
        if kind_of_event == "DELETED":
            return set(old)
        new = self._route(obj)
        if new:
            self._keys[name] = new
            for key in new:
                self._add(key, name, obj)
        return {*old, *new}

    def replace(self, items: Iterable[JsonDict]) -> set[str]:
        """Replace everything with a fresh list; return every key that had or has objects."""
        changed = set(self._index)
        self._keys.clear()
        self._index.clear()
        for item in items:
            changed |= self.apply("ADDED", item)
        return changed

    def _add(self, key: str, name: str, obj: JsonDict) -> None:
        filed = self._index.setdefault(key, {})
        filed[name] = obj
        if self._limit is None:
            return
        while len(filed) > self._limit:
            dropped = next(iter(filed))
            del filed[dropped]
            remaining = tuple(k for k in self._keys.get(dropped, ()) if k != key)
            if remaining:
                self._keys[dropped] = remaining
            else:
                self._keys.pop(dropped, None)

    def _remove(self, key: str, name: str) -> None:
        filed = self._index.get(key)
        if filed is None:
            return
        filed.pop(name, None)
        if not filed:
            del self._index[key]


class Subscribers(Generic[T]):
    """Who waits on which key: the fan-out of changed keys to their waiters."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[T]] = {}
        self._count = 0

    def __len__(self) -> int:
        """How many subscriptions are held."""
        return self._count

    def add(self, key: str, subscriber: T) -> None:
        """Subscribe ``subscriber`` to ``key``."""
        holders = self._by_key.setdefault(key, set())
        if subscriber not in holders:
            holders.add(subscriber)
            self._count += 1

    def remove(self, key: str, subscriber: T) -> None:
        """Drop the subscription (nothing happens when it is not held)."""
        holders = self._by_key.get(key)
        if holders is None or subscriber not in holders:
            return
        holders.discard(subscriber)
        self._count -= 1
        if not holders:
            del self._by_key[key]

    def of(self, keys: Iterable[str]) -> set[T]:
        """The subscribers of any of ``keys``."""
        found: set[T] = set()
        for key in keys:
            found |= self._by_key.get(key, set())
        return found

    def everyone(self) -> set[T]:
        """Every subscriber."""
        found: set[T] = set()
        for holders in self._by_key.values():
            found |= holders
        return found
