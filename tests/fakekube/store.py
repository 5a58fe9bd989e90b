"""The object store: CRUD, server-side apply, patches, cascading delete and watch history.

Objects are kept per ``(group, version, plural, namespace, name)``. Every stored change
takes the next value of one global, monotonically increasing resourceVersion counter
and appends a watch event to a bounded history, from which watches are replayed.
Writes that change nothing (re-applying the same configuration) are no-ops that keep
the resourceVersion and emit no event, like the real server.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from . import errors
from .admission import Defaulter, ValidatorRegistry
from .apply import ApplyRequest, WriteContext, record_update, server_side_apply
from .errors import ApiError
from .patching import json_patch, merge_patch, strategic_merge_patch
from .resources import ResourceRegistry, ResourceType
from .selectors import Selector

JsonDict = dict[str, Any]
Key = tuple[str, str, str, str, str]

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (APPLY_PATCH, MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH)


def now() -> str:
    """The current time in the API's RFC 3339 (seconds) format."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchEvent:
    """One stored change, kept in the bounded watch history."""

    rv: int
    type: str
    res: ResourceType
    namespace: str
    obj: JsonDict
    prev: JsonDict | None


@dataclass(frozen=True)
class WriteOptions:
    """Per-request write options."""

    manager: str = "fakekube"
    dry_run: bool = False
    force: bool = False
    subresource: str | None = None


def _meta(obj: JsonDict) -> JsonDict:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _comparable(obj: JsonDict) -> JsonDict:
    """The object without resourceVersion and managedFields timestamps (no-op detection)."""
    out = copy.deepcopy(obj)
    meta = _meta(out)
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return out


def _generation_view(res: ResourceType, obj: JsonDict) -> Any:
    if res.builtin:
        return obj.get("spec")
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _event_type_for(ev: WatchEvent, selector: Selector) -> str | None:
    """The event type a selective watcher sees, or None when it sees nothing."""
    now_matches = selector.matches(ev.obj)
    if ev.type != "MODIFIED" or ev.prev is None:
        return ev.type if now_matches else None
    was_matching = selector.matches(ev.prev)
    if now_matches and was_matching:
        return "MODIFIED"
    if now_matches:
        return "ADDED"
    return "DELETED" if was_matching else None


class Store:
    """Thread-safe object store with watch history.

    Args:
        registry: The served resources.
        history_size: How many events watches can replay before getting 410 Gone.
        builtin_validation: Whether built-in checks (name format, container image) run.
    """

    def __init__(
        self,
        registry: ResourceRegistry,
        history_size: int = 1000,
        builtin_validation: bool = True,
    ) -> None:
        self.registry = registry
        self.validators = ValidatorRegistry()
        self.builtin_validation = builtin_validation
        self._defaulter = Defaulter()
        self._cond = threading.Condition(threading.RLock())
        self._objects: dict[Key, JsonDict] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque()
        self._history_size = history_size
        self._compacted_through = 0
        self._closed = False

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def key(res: ResourceType, namespace: str | None, name: str) -> Key:
        """The storage key of an object."""
        return (res.group, res.version, res.plural, namespace or "", name)

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        with self._cond:
            return self._rv

    def close(self) -> None:
        """Wake every waiting watch so it can finish."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def compact(self) -> None:
        """Drop the whole watch history, as an etcd compaction would."""
        with self._cond:
            self._compacted_through = self._rv
            self._history.clear()

    def _namespaces(self) -> ResourceType:
        res = self.registry.lookup("", "v1", "namespaces")
        if res is None:
            raise ApiError(500, "InternalError", "namespaces are not served")
        return res

    def _require_namespace(self, res: ResourceType, namespace: str | None) -> None:
        if not res.namespaced:
            return
        if not namespace:
            raise errors.bad_request(
                "the server could not find the requested resource: namespace required"
            )
        if self.key(self._namespaces(), None, namespace) not in self._objects:
            raise errors.not_found("namespaces", "", namespace)

    def _emit(
        self, event_type: str, res: ResourceType, obj: JsonDict, prev: JsonDict | None
    ) -> None:
        ev = WatchEvent(
            self._rv, event_type, res, _meta(obj).get("namespace", ""), copy.deepcopy(obj), prev
        )
        self._history.append(ev)
        while len(self._history) > self._history_size:
            dropped = self._history.popleft()
            self._compacted_through = dropped.rv
        self._cond.notify_all()

    def default(self, res: ResourceType, obj: JsonDict) -> None:
        """Fill server-side defaults into a new object in place (for seeding helpers)."""
        self._defaulter.apply(res, obj, None)

    def _admit(self, res: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
        self._defaulter.apply(res, obj, old)
        causes = self.validators.causes(res, obj, self.builtin_validation)
        if causes:
            raise errors.invalid(res.kind, res.group, _meta(obj).get("name", ""), causes)

    def _finish(self, res: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
        """Fill server-owned metadata into ``obj`` (does not bump resourceVersion)."""
        meta = _meta(obj)
        obj["apiVersion"] = res.group_version
        obj["kind"] = res.kind
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            if res.tracks_generation:
                meta["generation"] = 1
            return
        old_meta = _meta(old)
        for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if res.tracks_generation and _generation_view(res, obj) != _generation_view(res, old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1

    def _commit(
        self,
        res: ResourceType,
        obj: JsonDict,
        old: JsonDict | None,
        dry_run: bool,
        finish: bool = True,
    ) -> JsonDict:
        """Store ``obj`` (unless dry run or a no-op) and return the stored form."""
        if finish:
            self._finish(res, obj, old)
        if old is not None and _comparable(obj) == _comparable(old):
            return copy.deepcopy(old)
        meta = _meta(obj)
        if dry_run:
            meta["resourceVersion"] = _meta(old)["resourceVersion"] if old else ""
            return obj
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects[self.key(res, meta.get("namespace"), meta["name"])] = obj
        self._emit("ADDED" if old is None else "MODIFIED", res, obj, old)
        return copy.deepcopy(obj)

    def _stored(self, res: ResourceType, namespace: str | None, name: str) -> JsonDict:
        obj = self._objects.get(self.key(res, namespace, name))
        if obj is None:
            raise errors.not_found(res.plural, res.group, name)
        return obj

    @staticmethod
    def _check_identity(obj: Any, namespace: str | None, name: str | None) -> JsonDict:
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        meta = _meta(obj)
        if namespace and meta.get("namespace") not in (None, "", namespace):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if name is not None and meta.get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        return obj

    @staticmethod
    def _keep_status(
        res: ResourceType, obj: JsonDict, old: JsonDict | None, subresource: str | None
    ) -> None:
        """Main-resource writes cannot change status; status writes change only status."""
        if subresource == "status" and old is not None:
            status = obj.get("status")
            obj.clear()
            obj.update(copy.deepcopy(old))
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
        elif res.has_status:
            obj.pop("status", None)
            if old is not None and "status" in old:
                obj["status"] = copy.deepcopy(old["status"])

    # ------------------------------------------------------------------- reads

    def get(self, res: ResourceType, namespace: str | None, name: str) -> JsonDict:
        """Return a copy of one object.

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self._cond:
            return copy.deepcopy(self._stored(res, namespace, name))

    def _matching(
        self, res: ResourceType, namespace: str | None, selector: Selector
    ) -> list[JsonDict]:
        kind = (res.group, res.version, res.plural)
        candidates = [
            (key, obj)
            for key, obj in self._objects.items()
            if key[:3] == kind and not (namespace and key[3] != namespace)
        ]
        return [
            obj for _, obj in sorted(candidates, key=lambda item: item[0]) if selector.matches(obj)
        ]

    def list_objects(
        self,
        res: ResourceType,
        namespace: str | None,
        selector: Selector,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> JsonDict:
        """Return a ``<Kind>List`` of matching objects, paginated with ``limit``/``continue``."""
        with self._cond:
            items = self._matching(res, namespace, selector)
            rv = self._rv
        start = _decode_continue(continue_token)
        if start is not None:
            items = [o for o in items if _sort_key(o) > start]
        list_meta: JsonDict = {"resourceVersion": str(rv)}
        if limit and len(items) > limit:
            list_meta["continue"] = _encode_continue(_sort_key(items[limit - 1]))
            list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        rendered = [copy.deepcopy(o) for o in items]
        if res.builtin:
            for item in rendered:
                item.pop("apiVersion", None)
                item.pop("kind", None)
        return {
            "kind": f"{res.kind}List",
            "apiVersion": res.group_version,
            "metadata": list_meta,
            "items": rendered,
        }

    # ------------------------------------------------------------------ writes

    def create(
        self, res: ResourceType, namespace: str | None, body: Any, opts: WriteOptions
    ) -> JsonDict:
        """Create an object (POST).

        Raises:
            ApiError: 404 for a missing namespace, 409 AlreadyExists, 422 Invalid.
        """
        obj = copy.deepcopy(self._check_identity(body, namespace, None))
        meta = _meta(obj)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        if res.namespaced:
            meta["namespace"] = namespace
        for field in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"):
            meta.pop(field, None)
        with self._cond:
            self._require_namespace(res, namespace)
            if self.key(res, namespace, meta.get("name", "")) in self._objects:
                raise errors.already_exists(res.plural, res.group, meta["name"])
            self._keep_status(res, obj, None, None)
            self._admit(res, obj, None)
            ctx = WriteContext(opts.manager, res.group_version, now())
            meta["managedFields"] = record_update(None, obj, ctx)
            return self._commit(res, obj, None, opts.dry_run)

    def replace(
        self, res: ResourceType, namespace: str | None, name: str, body: Any, opts: WriteOptions
    ) -> JsonDict:
        """Replace an object (PUT), honouring resourceVersion preconditions.

        Raises:
            ApiError: 404, 409 Conflict on a stale resourceVersion, 422 Invalid.
        """
        obj = copy.deepcopy(self._check_identity(body, namespace, name))
        meta = _meta(obj)
        with self._cond:
            old = self._stored(res, namespace, name)
            wanted = meta.get("resourceVersion")
            if wanted and wanted != _meta(old)["resourceVersion"]:
                raise errors.stale_resource_version(res.plural, res.group, name)
            if not wanted and not res.builtin:
                raise errors.invalid(
                    res.kind,
                    res.group,
                    name,
                    [
                        errors.invalid_value(
                            "metadata.resourceVersion", 0, "must be specified for an update"
                        )
                    ],
                )
            meta["name"] = name
            if res.namespaced:
                meta["namespace"] = namespace
            self._keep_status(res, obj, old, opts.subresource)
            return self._write_update(res, obj, old, opts)

    def _write_update(
        self, res: ResourceType, obj: JsonDict, old: JsonDict, opts: WriteOptions
    ) -> JsonDict:
        self._admit(res, obj, old)
        ctx = WriteContext(opts.manager, res.group_version, now(), opts.subresource)
        _meta(obj)["managedFields"] = record_update(old, obj, ctx)
        return self._commit(res, obj, old, opts.dry_run)

    def patch(
        self,
        res: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        opts: WriteOptions,
    ) -> JsonDict:
        """Apply a PATCH of any supported type; apply patches may create the object.

        Raises:
            ApiError: 404, 409, 415 for unknown patch types, 422.
        """
        if patch_type == APPLY_PATCH:
            return self._apply(res, namespace, name, body, opts)
        patchers: dict[str, Callable[[JsonDict, Any], Any]] = {
            MERGE_PATCH: merge_patch,
            STRATEGIC_PATCH: strategic_merge_patch,
            JSON_PATCH: json_patch,
        }
        patcher = patchers.get(patch_type)
        if patcher is None:
            raise errors.unsupported_media_type(patch_type)
        with self._cond:
            old = self._stored(res, namespace, name)
            obj = patcher(copy.deepcopy(old), body)
            self._check_identity(obj, namespace, name)
            wanted = _meta(obj).get("resourceVersion")
            if wanted and wanted != _meta(old)["resourceVersion"]:
                raise errors.stale_resource_version(res.plural, res.group, name)
            self._keep_status(res, obj, old, opts.subresource)
            return self._write_update(res, obj, old, opts)

    def _apply(
        self, res: ResourceType, namespace: str | None, name: str, body: Any, opts: WriteOptions
    ) -> JsonDict:
        config = self._check_identity(body, namespace, name)
        if config.get("apiVersion") != res.group_version or config.get("kind") != res.kind:
            raise errors.bad_request(
                f"the apiVersion/kind of the applied object ({config.get('apiVersion')}, "
                f"{config.get('kind')}) does not match {res.group_version}, {res.kind}"
            )
        with self._cond:
            live = self._objects.get(self.key(res, namespace, name))
            if live is None:
                if opts.subresource:
                    raise errors.not_found(res.plural, res.group, name)
                self._require_namespace(res, namespace)
            base: JsonDict = copy.deepcopy(live) if live else {"metadata": {"name": name}}
            if res.namespaced:
                base["metadata"]["namespace"] = namespace
            req = ApplyRequest(
                config=config,
                ctx=WriteContext(opts.manager, res.group_version, now(), opts.subresource),
                force=opts.force,
                plural=res.plural,
                group=res.group,
                name=name,
            )
            obj = server_side_apply(live, base, req)
            self._keep_status(res, obj, live, opts.subresource)
            self._admit(res, obj, live)
            return self._commit(res, obj, live, opts.dry_run)

    def mutate(
        self,
        res: ResourceType,
        namespace: str | None,
        name: str,
        change: Callable[[JsonDict], None],
    ) -> JsonDict:
        """Change a stored object in place as a controller would (no admission, no fields).

        Raises:
            ApiError: 404 when it does not exist.
        """
        with self._cond:
            old = self._stored(res, namespace, name)
            obj = copy.deepcopy(old)
            change(obj)
            return self._commit(res, obj, old, False)

    def put(self, res: ResourceType, obj: JsonDict) -> JsonDict:
        """Create or overwrite an object verbatim (seeding; no admission or namespace check)."""
        with self._cond:
            meta = _meta(obj)
            old = self._objects.get(self.key(res, meta.get("namespace"), meta.get("name", "")))
            fresh = copy.deepcopy(obj)
            if old is not None:
                return self._commit(res, fresh, old, False)
            self._finish(res, fresh, None)
            for field in ("uid", "creationTimestamp", "generation"):
                if field in meta:
                    _meta(fresh)[field] = meta[field]
            return self._commit(res, fresh, None, False, finish=False)

    # ---------------------------------------------------------------- deletion

    def delete(
        self,
        res: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str | None,
        dry_run: bool,
        preconditions: JsonDict | None = None,
    ) -> JsonDict:
        """Delete one object and cascade to its dependents per ``propagation``.

        Returns:
            The object as it was deleted (with the deletion's resourceVersion).

        Raises:
            ApiError: 404, or 409 when preconditions (uid, resourceVersion) fail.
        """
        with self._cond:
            obj = self._stored(res, namespace, name)
            self._check_preconditions(res, obj, preconditions or {})
            if dry_run:
                return copy.deepcopy(obj)
            return self._delete_locked(res, obj, propagation or "Background")

    def _check_preconditions(self, res: ResourceType, obj: JsonDict, pre: JsonDict) -> None:
        meta = _meta(obj)
        for field in ("uid", "resourceVersion"):
            wanted = pre.get(field)
            if wanted and wanted != meta.get(field):
                raise errors.conflict(
                    res.plural,
                    res.group,
                    meta["name"],
                    f"Precondition failed: {'UID' if field == 'uid' else 'ResourceVersion'} in "
                    f"precondition: {wanted}, {field} in object meta: {meta.get(field)}",
                )

    def _delete_locked(self, res: ResourceType, obj: JsonDict, propagation: str) -> JsonDict:
        meta = _meta(obj)
        del self._objects[self.key(res, meta.get("namespace"), meta["name"])]
        self._rv += 1
        gone = copy.deepcopy(obj)
        _meta(gone)["resourceVersion"] = str(self._rv)
        self._emit("DELETED", res, gone, None)
        if res.plural == "namespaces" and not res.group:
            self._delete_namespace_contents(meta["name"])
        self._cascade(meta.get("uid"), propagation)
        return gone

    def _delete_namespace_contents(self, namespace: str) -> None:
        for key, obj in list(self._objects.items()):
            res = self.registry.lookup(key[0], key[1], key[2])
            if key[3] == namespace and res is not None and key in self._objects:
                self._delete_locked(res, obj, "Background")

    def _cascade(self, owner_uid: str | None, propagation: str) -> None:
        if not owner_uid:
            return
        for key, obj in list(self._objects.items()):
            refs = _meta(obj).get("ownerReferences") or []
            if key not in self._objects or not any(r.get("uid") == owner_uid for r in refs):
                continue
            res = self.registry.lookup(key[0], key[1], key[2])
            if res is None:
                continue
            if propagation == "Orphan":
                kept = [r for r in refs if r.get("uid") != owner_uid]
                self.mutate(res, key[3] or None, key[4], _set_owner_refs(kept))
            else:
                self._delete_locked(res, obj, propagation)

    def delete_collection(
        self,
        res: ResourceType,
        namespace: str | None,
        selector: Selector,
        dry_run: bool,
        propagation: str | None,
    ) -> JsonDict:
        """Delete every matching object and return them as a list."""
        with self._cond:
            doomed = self._matching(res, namespace, selector)
            deleted = [
                copy.deepcopy(o)
                if dry_run
                else self._delete_locked(res, o, propagation or "Background")
                for o in doomed
                if self.key(res, _meta(o).get("namespace"), _meta(o)["name"]) in self._objects
            ]
            rv = self._rv
        return {
            "kind": f"{res.kind}List",
            "apiVersion": res.group_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": deleted,
        }

    # ------------------------------------------------------------------- watch

    def watch_start(
        self,
        res: ResourceType,
        namespace: str | None,
        selector: Selector,
        resource_version: str | None,
    ) -> tuple[list[tuple[str, JsonDict]], int]:
        """Begin a watch: initial synthetic events and the resourceVersion to follow from.

        With no resourceVersion (or ``"0"``) every current object is sent as ADDED first.

        Raises:
            ApiError: 410 Expired when the resourceVersion is older than the history;
                400 when it is not a number.
        """
        with self._cond:
            if resource_version in (None, "", "0"):
                return [
                    ("ADDED", copy.deepcopy(o)) for o in self._matching(res, namespace, selector)
                ], self._rv
            try:
                start = int(str(resource_version))
            except ValueError as exc:
                raise errors.bad_request(f"invalid resource version: {resource_version!r}") from exc
            if start < self._compacted_through:
                raise errors.expired(start, self._compacted_through + 1)
            return [], start

    def watch_next(
        self,
        res: ResourceType,
        namespace: str | None,
        selector: Selector,
        after: int,
        wait_seconds: float,
    ) -> tuple[list[tuple[str, JsonDict]], int]:
        """Wait up to ``wait_seconds`` for events after ``after``; return them and the new mark.

        Raises:
            ApiError: 410 Expired when the watcher fell behind the bounded history.
        """
        deadline = time.monotonic() + wait_seconds
        with self._cond:
            while True:
                if after < self._compacted_through:
                    raise errors.expired(after, self._compacted_through + 1)
                found = self._events_after(res, namespace, selector, after)
                remaining = deadline - time.monotonic()
                if found or self._closed or remaining <= 0 or self._rv > after:
                    return found, self._rv
                self._cond.wait(remaining)

    def _events_after(
        self, res: ResourceType, namespace: str | None, selector: Selector, after: int
    ) -> list[tuple[str, JsonDict]]:
        newer: list[WatchEvent] = []
        for ev in reversed(self._history):  # the history is in resourceVersion order
            if ev.rv <= after:
                break
            if ev.res == res and not (namespace and ev.namespace != namespace):
                newer.append(ev)
        found: list[tuple[str, JsonDict]] = []
        for ev in reversed(newer):
            seen_as = _event_type_for(ev, selector)
            if seen_as is not None:
                found.append((seen_as, copy.deepcopy(ev.obj)))
        return found

    @property
    def closed(self) -> bool:
        """Whether the store is shutting down."""
        with self._cond:
            return self._closed


def _set_owner_refs(refs: list[JsonDict]) -> Callable[[JsonDict], None]:
    def change(obj: JsonDict) -> None:
        _meta(obj)["ownerReferences"] = refs

    return change


def _sort_key(obj: JsonDict) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _encode_continue(last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"start": last}).encode()).decode()


def _decode_continue(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.bad_request(f"continue key is not valid: {exc}") from exc


__all__ = ["Store", "WatchEvent", "WriteOptions", "now"]
