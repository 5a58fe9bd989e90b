"""Server-side apply and field-manager bookkeeping (``metadata.managedFields``).

Field ownership is tracked at leaf granularity as paths of ``fieldsV1`` tokens
(``f:spec``, ``f:replicas``; ``k:{"name":"vllm"}`` for items of lists of maps that all
carry a ``name``). Other lists are atomic leaves. On apply:

* a field whose applied value differs from the live value and which another manager
  owns is a conflict (409) unless ``force`` is set, in which case ownership moves;
* fields the manager applied before but omits now are removed when nobody else owns them;
* the applied configuration is merged into the live object (maps recursively, named
  lists by ``name``, everything else replaced).

Non-apply writes (create, update, patch) give the writing manager ownership of the
fields they changed, taking them away from other managers, as the real server does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import apply_conflict

JsonDict = dict[str, Any]
Path = tuple[str, ...]

APPLY = "Apply"
UPDATE = "Update"
METADATA_OWNED = ("labels", "annotations", "ownerReferences", "finalizers")


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    )


def _item_key(item: JsonDict) -> str:
    return "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))


def _flatten_into(value: Any, prefix: Path, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _flatten_into(sub, (*prefix, f"f:{key}"), out)
    elif _is_named_list(value):
        for item in value:
            _flatten_into(item, (*prefix, _item_key(item)), out)
    else:
        out[prefix] = value


def owned_view(obj: JsonDict, subresource: str | None) -> JsonDict:
    """The part of an object whose fields managers can own for a main or status write."""
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    view: JsonDict = {
        k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")
    }
    meta = obj.get("metadata") or {}
    owned_meta = {k: meta[k] for k in METADATA_OWNED if k in meta}
    if owned_meta:
        view["metadata"] = owned_meta
    return view


def flatten(obj: JsonDict, subresource: str | None = None) -> dict[Path, Any]:
    """Map each owned leaf path of ``obj`` to its value."""
    out: dict[Path, Any] = {}
    _flatten_into(owned_view(obj, subresource), (), out)
    out.pop((), None)
    return out


def display_path(path: Path) -> str:
    """Render a path the way conflict messages do: ``.spec.containers[name="x"].image``."""
    parts: list[str] = []
    for token in path:
        if token.startswith("f:"):
            parts.append("." + token[2:])
        else:
            key = json.loads(token[2:])
            parts.append("".join(f"[{k}={json.dumps(v)}]" for k, v in key.items()))
    return "".join(parts)


def to_fields_v1(paths: set[Path]) -> JsonDict:
    """Render a path set as a ``fieldsV1`` tree."""
    root: JsonDict = {}
    for path in sorted(paths):
        node = root
        for token in path:
            node = node.setdefault(token, {})
            if token.startswith("k:"):
                node.setdefault(".", {})
    return root


def _walk_fields(node: JsonDict, prefix: Path) -> Iterator[Path]:
    for key, sub in node.items():
        if key == ".":
            continue
        children = {k: v for k, v in (sub or {}).items() if k != "."}
        if children:
            yield from _walk_fields(children, (*prefix, key))
        else:
            yield (*prefix, key)


def from_fields_v1(tree: JsonDict | None) -> set[Path]:
    """Parse a ``fieldsV1`` tree back into a path set."""
    return set(_walk_fields(tree or {}, ()))


@dataclass
class ManagerEntry:
    """One ``managedFields`` entry."""

    manager: str
    operation: str
    api_version: str
    time: str
    subresource: str | None = None
    paths: set[Path] = field(default_factory=set)

    @classmethod
    def parse(cls, raw: JsonDict) -> ManagerEntry:
        """Build an entry from its JSON form."""
        return cls(
            manager=str(raw.get("manager", "")),
            operation=str(raw.get("operation", UPDATE)),
            api_version=str(raw.get("apiVersion", "")),
            time=str(raw.get("time", "")),
            subresource=raw.get("subresource"),
            paths=from_fields_v1(raw.get("fieldsV1")),
        )

    def same_slot(self, manager: str, operation: str, subresource: str | None) -> bool:
        """Whether this entry is the one a write by ``manager``/``operation`` updates."""
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def render(self) -> JsonDict:
        """The JSON form of the entry."""
        out: JsonDict = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.paths),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def parse_managed(obj: JsonDict | None) -> list[ManagerEntry]:
    """The ``managedFields`` entries of an object."""
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [ManagerEntry.parse(r) for r in raw if isinstance(r, dict)]


def render_managed(entries: list[ManagerEntry]) -> list[JsonDict]:
    """Render entries, dropping those that own nothing."""
    return [e.render() for e in entries if e.paths]


@dataclass(frozen=True)
class WriteContext:
    """Who is writing, through which endpoint, and when."""

    manager: str
    api_version: str
    time: str
    subresource: str | None = None


def _slot(entries: list[ManagerEntry], ctx: WriteContext, operation: str) -> ManagerEntry:
    for entry in entries:
        if entry.same_slot(ctx.manager, operation, ctx.subresource):
            return entry
    entry = ManagerEntry(ctx.manager, operation, ctx.api_version, ctx.time, ctx.subresource)
    entries.append(entry)
    return entry


def record_update(old: JsonDict | None, new: JsonDict, ctx: WriteContext) -> list[JsonDict]:
    """Managed fields after a non-apply write of ``new`` over ``old`` by ``ctx.manager``."""
    entries = parse_managed(old)
    before = flatten(old or {}, ctx.subresource)
    after = flatten(new, ctx.subresource)
    changed = {p for p, v in after.items() if before.get(p, _MISSING) != v}
    removed = set(before) - set(after)
    for entry in entries:
        entry.paths -= changed | removed
    if changed:
        mine = _slot(entries, ctx, UPDATE)
        mine.paths |= changed
        mine.time = ctx.time
        mine.api_version = ctx.api_version
    return render_managed(entries)


_MISSING = object()


def _find_item(items: list[Any], token: str) -> int:
    key = json.loads(token[2:])
    for pos, item in enumerate(items):
        if isinstance(item, dict) and all(item.get(k) == v for k, v in key.items()):
            return pos
    return -1


def _child(node: Any, token: str) -> tuple[Any, Any]:
    """Return (container, key) addressing ``token`` inside ``node``, or (None, None)."""
    if token.startswith("f:") and isinstance(node, dict) and token[2:] in node:
        return node, token[2:]
    if token.startswith("k:") and isinstance(node, list):
        pos = _find_item(node, token)
        if pos >= 0:
            return node, pos
    return None, None


def _remove_path(node: Any, path: Path) -> bool:
    """Remove ``path`` from ``node``; prune containers left empty. Returns True if emptied."""
    container, key = _child(node, path[0])
    if container is None:
        return False
    if len(path) == 1 or _remove_path(container[key], path[1:]):
        del container[key]
    return not node


def _merge(live: Any, config: Any) -> Any:
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for key, value in config.items():
            out[key] = _merge(live.get(key), value)
        return out
    if _is_named_list(config) and isinstance(live, list):
        merged = [item for item in live if isinstance(item, dict)]
        for item in config:
            pos = _find_item(merged, _item_key(item))
            if pos >= 0:
                merged[pos] = _merge(merged[pos], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(config)


@dataclass(frozen=True)
class ApplyRequest:
    """An apply of ``config`` by ``ctx.manager`` with optional ``force``."""

    config: JsonDict
    ctx: WriteContext
    force: bool
    plural: str
    group: str
    name: str


def _conflicts(
    entries: list[ManagerEntry],
    applied: dict[Path, Any],
    live: dict[Path, Any],
    req: ApplyRequest,
) -> list[tuple[ManagerEntry, Path]]:
    found: list[tuple[ManagerEntry, Path]] = []
    for path, value in applied.items():
        if live.get(path, value) == value:
            continue
        for entry in entries:
            mine = entry.same_slot(req.ctx.manager, APPLY, req.ctx.subresource)
            if not mine and path in entry.paths:
                found.append((entry, path))
    return found


def server_side_apply(live: JsonDict | None, base: JsonDict, req: ApplyRequest) -> JsonDict:
    """Compute the object that results from applying ``req.config``.

    Args:
        live: The stored object, or None when the apply creates it.
        base: The starting object (``live`` or a skeleton carrying identity metadata).
        req: The apply request.

    Returns:
        The new object, with ``metadata.managedFields`` updated.

    Raises:
        ApiError: 409 Conflict when another manager owns a field being changed and
            ``force`` is not set.
    """
    entries = parse_managed(live)
    applied = flatten(req.config, req.ctx.subresource)
    live_fields = flatten(live or {}, req.ctx.subresource)
    conflicts = _conflicts(entries, applied, live_fields, req)
    if conflicts and not req.force:
        triples = [(e.manager, e.api_version, display_path(p)) for e, p in conflicts]
        raise apply_conflict(req.plural, req.group, req.name, triples)
    for entry, path in conflicts:
        entry.paths.discard(path)
    mine = _slot(entries, req.ctx, APPLY)
    result = copy.deepcopy(base)
    for path in sorted(mine.paths - set(applied)):
        if not any(path in e.paths for e in entries if e is not mine):
            _remove_path(result, path)
    mine.paths = set(applied)
    mine.time = req.ctx.time
    mine.api_version = req.ctx.api_version
    merged: JsonDict = _merge(result, owned_view(req.config, req.ctx.subresource))
    merged.setdefault("metadata", {})["managedFields"] = render_managed(entries)
    return merged
