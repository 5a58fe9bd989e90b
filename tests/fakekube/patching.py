"""Non-apply PATCH semantics: JSON merge patch, strategic merge patch and JSON patch.

* ``application/merge-patch+json`` follows RFC 7386 (``null`` deletes, lists replace).
* ``application/strategic-merge-patch+json`` is a merge patch in which lists of maps
  that all carry a ``name`` key (containers, env, volumes, ports with names) are merged
  by name, ``$patch: delete`` removes a list item or map, and other ``$``-directives are
  ignored. Other strategic merge keys (``containerPort``, ``mountPath``) are not modelled.
* ``application/json-patch+json`` follows RFC 6902 (add, remove, replace, move, copy, test).
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

JsonDict = dict[str, Any]


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch and return the result (inputs are not mutated)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: JsonDict = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and "name" in item for item in value)
    )


def _strategic_list(target: Any, patch: list[Any]) -> list[Any]:
    if not _is_named_list(patch):
        return copy.deepcopy(patch)
    if not isinstance(target, list) or not all(isinstance(t, dict) for t in target):
        target = []
    merged = [copy.deepcopy(item) for item in target]
    index = {item.get("name"): pos for pos, item in enumerate(merged)}
    for item in patch:
        name = item.get("name")
        if item.get("$patch") == "delete":
            merged = [m for m in merged if m.get("name") != name]
            index = {m.get("name"): pos for pos, m in enumerate(merged)}
        elif name in index:
            merged[index[name]] = strategic_merge_patch(merged[index[name]], item)
        else:
            merged.append(strategic_merge_patch({}, item))
            index[name] = len(merged) - 1
    return merged


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a simplified strategic merge patch (see the module docstring)."""
    if isinstance(patch, list):
        return _strategic_list(target, patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result: JsonDict = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise bad_request(f"invalid JSON pointer {pointer!r}")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _patch_error(message: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f"the server rejected our request due to an error in our request: {message}",
        {},
    )


def _container(doc: Any, tokens: list[str]) -> Any:
    current = doc
    for token in tokens:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            raise _patch_error(f"path not found at {token!r}")
    return current


def _get(doc: Any, pointer: str) -> Any:
    tokens = _split_pointer(pointer)
    return _container(doc, tokens) if tokens else doc


def _remove(doc: Any, pointer: str) -> Any:
    tokens = _split_pointer(pointer)
    parent = _container(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _patch_error(f"unable to remove nonexistent key {last!r}")


def _add(doc: Any, pointer: str, value: Any, replace: bool = False) -> Any:
    tokens = _split_pointer(pointer)
    if not tokens:
        return copy.deepcopy(value)
    parent = _container(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _patch_error(f"replace operation does not apply: doc is missing key {last!r}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        pos = len(parent) if last == "-" else int(last) if last.isdigit() else -1
        if pos < 0 or pos > len(parent) or (replace and pos >= len(parent)):
            raise _patch_error(f"index {last!r} out of bounds")
        if replace:
            parent[pos] = copy.deepcopy(value)
        else:
            parent.insert(pos, copy.deepcopy(value))
    else:
        raise _patch_error(f"cannot add into a scalar at {pointer!r}")
    return doc


def _apply_op(doc: Any, op: JsonDict) -> Any:
    kind = op.get("op")
    path = op.get("path")
    if not isinstance(path, str):
        raise bad_request(f"json patch operation {op!r} has no path")
    if kind in ("add", "replace"):
        if "value" not in op:
            raise bad_request(f"json patch {kind} operation has no value")
        return _add(doc, path, op["value"], replace=kind == "replace")
    if kind == "remove":
        _remove(doc, path)
        return doc
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise bad_request(f"json patch {kind} operation has no from")
        value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    if kind == "test":
        if _get(doc, path) != op.get("value"):
            raise _patch_error(f"testing value {path} failed")
        return doc
    raise bad_request(f"Unexpected kind: {kind}")


def json_patch(target: JsonDict, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch and return the result (the input is not mutated).

    Raises:
        ApiError: 400 for a malformed patch, 422 when an operation does not apply.
    """
    if not isinstance(operations, list):
        raise bad_request("json patch body must be a list of operations")
    doc: Any = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict):
            raise bad_request(f"json patch operation {op!r} is not an object")
        doc = _apply_op(doc, op)
    return doc
