"""The one safe way from bytes, text or a mapping to the plain data of a workload.

This module owns everything between a user's file and the model validators:
the size limit, the encoding check (UTF-8, with or without a byte-order mark;
anything else is refused in one line naming the file), a YAML loader that
refuses duplicate mapping keys and bounds aliases, nesting depth and node count
*before* anything walks the tree, JSON with the same rules, and a bounded
shape check for mappings built in Python. Every problem is a
:class:`SpecLoadError` (a ``SpecError``): no ``UnicodeDecodeError``,
``RecursionError`` or ``yaml.YAMLError`` leaves this module.

The bounds are far above any real workload (a few dozen fields, labels and
annotations) and far below what could cost seconds or hundreds of MB.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_hfinfer.exceptions import SpecLoadError
from airflow_provider_hfinfer.spec.redact import path_part

if TYPE_CHECKING:
    import yaml

MAX_BYTES = 1024 * 1024
"""Largest spec accepted (1 MiB); annotations are capped at 256 KiB by Kubernetes anyway."""

MAX_DEPTH = 16
"""Deepest nesting of mappings and lists; a workload needs 4."""

MAX_NODES = 10_000
"""Most values (scalars, lists, mappings) a document may hold, aliases expanded."""

MAX_ALIASES = 100
"""Most ``*alias`` references a YAML document may use."""

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "SpecLoadError"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


# --------------------------------------------------------------------------- bytes -> text


def read_spec_file(path: str | Path) -> str:
    """Read a spec file as text, at most ``MAX_BYTES``, UTF-8 only.

    Args:
        path: The file.

    Returns:
        The text (a UTF-8 byte-order mark removed).

    Raises:
        SpecLoadError: The file cannot be read, is too large or is not UTF-8 text.
    """
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise SpecLoadError(f"cannot read: {err.strerror or err}", source) from None
    return decode_spec(data, source)


def decode_spec(data: bytes, source: str | None = None) -> str:
    """Turn the bytes of a spec into text, refusing anything but UTF-8.

    Args:
        data: The raw bytes.
        source: Where they came from, for the message.

    Returns:
        The text, without a UTF-8 byte-order mark.

    Raises:
        SpecLoadError: Too large, UTF-16/32, binary, or not valid UTF-8.
    """
    if len(data) > MAX_BYTES:
        raise SpecLoadError(_too_large(len(data)), source)
    for bom, name in (
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\xfe\xff", "UTF-16"),
        (b"\xff\xfe", "UTF-16"),
    ):
        if data.startswith(bom):
            raise SpecLoadError(
                f"is {name} text (it starts with a {name} byte-order mark): save it as UTF-8",
                source,
            )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        raise SpecLoadError(
            "contains NUL bytes, so it is binary data or UTF-16/32 text, not a YAML or JSON "
            "file: save the workload as UTF-8 text",
            source,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecLoadError(
            f"is not UTF-8 text: byte 0x{data[err.start]:02x} at line {line}, column {column} "
            "(Latin-1 or Windows-1252 text, or binary data?): save the file as UTF-8",
            source,
        ) from None


def _too_large(size: int) -> str:
    shown = f"{size} bytes" if size <= MAX_BYTES else f"more than {MAX_BYTES} bytes"
    return (
        f"is {shown}, over the {MAX_BYTES // 1024} KiB a workload spec may have: a workload "
        "is a few KB; move large annotation values to a ConfigMap"
    )


# --------------------------------------------------------------------------- text -> data


def load_document(text: str, source: str | None = None) -> Any:
    """Parse one YAML (or JSON) document safely into plain data.

    Args:
        text: The document.
        source: Where it came from, for the message.

    Returns:
        The data (mappings, lists, scalars), within every bound of this module.

    Raises:
        SpecLoadError: Too large, not YAML/JSON, a duplicate key, or over a bound.
    """
    if len(text) > MAX_BYTES:
        raise SpecLoadError(_too_large(len(text.encode("utf-8", "replace"))), source)
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("{"):
        try:
            return _load_json(text, source)
        except _NotJSON:
            pass  # a YAML flow mapping such as '{name: x, model: y}'
    return _load_yaml(text, source)


def load_workload_mapping(text: str, source: str | None = None) -> dict[str, Any]:
    """Parse a workload document and check it is a mapping of fields.

    Args:
        text: The document.
        source: Where it came from, for the message.

    Returns:
        The mapping of fields.

    Raises:
        SpecLoadError: See :func:`load_document`; also when the document is empty or
            not a mapping.
    """
    return require_mapping(load_document(text, source), source)


def require_mapping(data: Any, source: str | None = None) -> dict[str, Any]:
    """Check that loaded data is a mapping of fields, with a message in the user's terms."""
    if isinstance(data, dict):
        return data
    if data is None:
        raise SpecLoadError(
            "is empty: a workload is a mapping of fields; start with 'name:' and 'model:'",
            source,
        )
    kind = {list: "a list", str: "a single string", bool: "true/false"}.get(
        type(data), "a number" if isinstance(data, (int, float)) else type(data).__name__
    )
    raise SpecLoadError(
        f"a workload must be a mapping of fields, got {kind}: start the document with "
        "'name:' (e.g. name: llama3-8b-chat, then model: meta-llama/Llama-3.1-8B-Instruct)",
        source,
    )


class _NotJSON(Exception):
    """The text is not JSON (it may still be YAML)."""


def _load_json(text: str, source: str | None) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in items:
            if key in mapping:
                raise SpecLoadError(_duplicate(key, None, None), source)
            mapping[key] = value
        return mapping

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError:
        raise _NotJSON from None
    except SpecLoadError:
        raise
    except RecursionError:
        raise SpecLoadError(_too_deep(), source) from None
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise SpecLoadError(_unreadable_value(err), source) from None
    check_shape(data, source)
    return data


def _unreadable_value(err: Exception) -> str:
    text = " ".join(str(err).split())
    if "digits" in text:
        return "has a number of more than 4300 digits, far beyond any field: shorten it"
    return (
        f"has a value read as a date or number that cannot be one ({text[:120]}): quote it "
        "to keep it as text, or correct it"
    )


def _too_deep() -> str:
    return (
        f"nests lists and mappings more than {MAX_DEPTH} levels deep: a workload needs "
        "about 4; check the brackets and indentation"
    )


def _too_many() -> str:
    return (
        f"holds more than {MAX_NODES} values (aliases expanded): a workload has a few dozen; "
        "remove the repeated or generated part"
    )


def _duplicate(key: object, first: int | None, again: int | None) -> str:
    where = f" (line {first} and again line {again})" if first and again else ""
    return (
        f"the key {path_part(str(key))} appears twice in one mapping{where}; YAML would keep "
        "only the last one silently: remove one of them"
    )


@functools.cache
def _yaml_loader_class() -> type[yaml.SafeLoader]:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader that counts nodes, depth and aliases while composing the tree.

        PyYAML builds an alias as the same node again, so composing is linear in
        the text; only walking the constructed data would expand the aliases. The
        graph check after composing (:func:`_check_graph`) bounds the expanded
        size before anything is constructed or walked.
        """

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.composed_nodes = 0
            self.depth = 0
            self.aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise _Bound(
                        f"uses more than {MAX_ALIASES} aliases (*name): a workload needs "
                        "few or none; write the values out",
                        self._mark(),
                    )
                return super().compose_node(parent, index)
            self.composed_nodes += 1
            self.depth += 1
            try:
                if self.composed_nodes > MAX_NODES:
                    raise _Bound(_too_many(), self._mark())
                if self.depth > MAX_DEPTH:
                    raise _Bound(_too_deep(), self._mark())
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def _mark(self) -> Any:
            parser: Any = self  # PyYAML's parser methods are untyped
            return parser.peek_event().start_mark

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                _refuse_duplicate_keys(self, node)
            return super().construct_mapping(node, deep=deep)

    return BoundedLoader


class _Bound(Exception):
    """A bound of this module was exceeded at a place in the text."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


def _refuse_duplicate_keys(loader: Any, node: Any) -> None:
    import yaml

    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
            continue  # merged keys may be overridden; complex keys fail on their own
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:
            continue
        if first is not None:
            raise _Bound(_duplicate(key, first, line))
        seen[key] = line


def _check_graph(root: Any) -> None:
    """Bound the size and depth of the tree the node graph stands for, aliases expanded.

    Memoized per node, so a "billion laughs" document costs as many steps as it
    has distinct nodes; a node that contains itself (``&a [*a]``) is refused.
    """
    import yaml

    measured: dict[int, tuple[int, int]] = {}  # id -> (values, height), aliases expanded
    on_path: set[int] = set()

    def measure(node: Any, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in on_path:
            raise _Bound(
                "an alias refers to a mapping or list that contains it (a cycle): "
                "write the values out",
                node.start_mark,
            )
        if key not in measured:
            total, height = 1, 1
            if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
                on_path.add(key)
                children = (
                    node.value
                    if isinstance(node, yaml.SequenceNode)
                    else [part for pair in node.value for part in pair]
                )
                for child in children:
                    values, below = measure(child, depth + 1)
                    total += values
                    height = max(height, below + 1)
                    if total > MAX_NODES:
                        raise _Bound(_too_many(), node.start_mark)
                on_path.discard(key)
            measured[key] = (total, height)
        if depth + measured[key][1] - 1 > MAX_DEPTH:
            raise _Bound(_too_deep(), node.start_mark)
        return measured[key]

    measure(root, 1)


def _load_yaml(text: str, source: str | None) -> Any:
    import yaml

    loader = None
    try:
        # The reader checks every character when it is built: inside the try.
        loader = _yaml_loader_class()(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    except _Bound as err:
        raise SpecLoadError(f"{_where(err.mark)}{err.problem}", source) from None
    except yaml.YAMLError as err:
        raise SpecLoadError(
            f"is not valid YAML ({_yaml_problem(err, text)}): fix the syntax there", source
        ) from None
    except RecursionError:
        raise SpecLoadError(_too_deep(), source) from None
    except (ValueError, TypeError, OverflowError) as err:
        # A scalar YAML reads but Python cannot hold: '2024-02-30', a 5000-digit integer.
        raise SpecLoadError(_unreadable_value(err), source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _yaml_problem(err: Exception, text: str) -> str:
    """Say where and what the YAML problem is, on one line."""
    import yaml

    if isinstance(err, yaml.MarkedYAMLError) and err.problem_mark is not None:
        mark = err.problem_mark
        what = ", ".join(part for part in (err.context, err.problem) if part)
        return f"line {mark.line + 1}, column {mark.column + 1}: {' '.join(what.split())}"
    if isinstance(err, yaml.reader.ReaderError):
        before = text[: err.position]
        line, column = before.count("\n") + 1, err.position - (before.rfind("\n") + 1) + 1
        code = ord(err.character) if isinstance(err.character, str) else err.character
        return f"line {line}, column {column}: character #x{code:04x} is not allowed in YAML"
    return " ".join(str(err).split())[:200]


# --------------------------------------------------------------------------- data from Python


def check_shape(data: Any, source: str | None = None) -> None:
    """Bound depth and size of data built in Python or loaded from JSON, without recursion.

    Shared sub-objects count each time they appear (as the validators would walk
    them), and an object that contains itself is refused.

    Raises:
        SpecLoadError: Over ``MAX_DEPTH`` or ``MAX_NODES``, or cyclic.
    """
    count = 0
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(data, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise SpecLoadError(_too_many(), source)
        if isinstance(item, (Mapping, list, tuple)):
            if depth > MAX_DEPTH:
                raise SpecLoadError(_too_deep(), source)
            if len(item) > MAX_NODES:
                raise SpecLoadError(_too_many(), source)
            if id(item) in path:
                raise SpecLoadError(
                    "contains itself (a mapping or list refers back to one that holds it): "
                    "build the workload without cycles",
                    source,
                )
            inner = (*path, id(item))
            values = item.values() if isinstance(item, Mapping) else item
            stack.extend((value, depth + 1, inner) for value in values)
