"""Label and field selector parsing and matching, as used by list, watch and deletecollection.

Label selectors support the full string syntax the real server accepts: ``k=v``,
``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists) and ``!k``.
Field selectors support ``=``, ``==`` and ``!=`` on the field labels the resource
declares; unsupported labels are rejected with 400 like the real server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .resources import ResourceType

JsonDict = dict[str, Any]

_KEY_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_SET_RE = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)$")
_CMP_RE = re.compile(r"^(?P<key>[^=!\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")


@dataclass(frozen=True)
class Requirement:
    """One label requirement.

    Attributes:
        key: Label key.
        op: One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``.
        values: Values for the comparison operators.
    """

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label map satisfies this requirement."""
        present = self.key in labels
        value = labels.get(self.key)
        checks: dict[str, Callable[[], bool]] = {
            "exists": lambda: present,
            "!": lambda: not present,
            "=": lambda: present and value in self.values,
            "in": lambda: present and value in self.values,
            "!=": lambda: not present or value not in self.values,
            "notin": lambda: not present or value not in self.values,
        }
        return checks[self.op]()


def _split_top_level(selector: str) -> list[str]:
    """Split on commas that are not inside a ``( ... )`` value set."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _check_key(key: str, raw: str) -> str:
    if not _KEY_RE.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {raw!r}")
    return key


def _parse_requirement(raw: str) -> Requirement:
    set_match = _SET_RE.match(raw)
    if set_match:
        values = frozenset(v.strip() for v in set_match["values"].split(",") if v.strip())
        return Requirement(_check_key(set_match["key"], raw), set_match["op"], values)
    cmp_match = _CMP_RE.match(raw)
    if cmp_match:
        op = "!=" if cmp_match["op"] == "!=" else "="
        return Requirement(_check_key(cmp_match["key"], raw), op, frozenset({cmp_match["value"]}))
    if raw.startswith("!"):
        return Requirement(_check_key(raw[1:].strip(), raw), "!")
    if " " not in raw and "(" not in raw:
        return Requirement(_check_key(raw, raw), "exists")
    raise bad_request(f"unable to parse requirement: found {raw!r}, expected a label requirement")


def parse_label_selector(selector: str | None) -> list[Requirement]:
    """Parse a label selector string; an empty or missing selector matches everything.

    Raises:
        ApiError: 400 BadRequest when the selector does not parse.
    """
    if not selector:
        return []
    return [_parse_requirement(part) for part in _split_top_level(selector)]


def labels_match(requirements: list[Requirement], obj: JsonDict) -> bool:
    """Whether an object's ``metadata.labels`` satisfy all requirements."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(req.matches(labels) for req in requirements)


@dataclass(frozen=True)
class FieldRequirement:
    """One field selector term: ``path`` compared to ``value`` with ``=`` or ``!=``."""

    path: str
    value: str
    negate: bool

    def matches(self, obj: JsonDict) -> bool:
        """Whether the object's field (stringified like the real server) matches."""
        current: Any = obj
        for part in self.path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if isinstance(current, bool):
            actual = "true" if current else "false"
        else:
            actual = "" if current is None else str(current)
        return (actual == self.value) != self.negate


def parse_field_selector(selector: str | None, res: ResourceType) -> list[FieldRequirement]:
    """Parse a field selector, rejecting labels the real server would not support.

    Raises:
        ApiError: 400 BadRequest for a malformed term or an unsupported field label.
    """
    if not selector:
        return []
    terms: list[FieldRequirement] = []
    for raw in _split_top_level(selector):
        match = re.match(r"^(?P<path>[^=!]+?)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$", raw)
        if not match:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{raw}'")
        path = match["path"].strip()
        if not res.supports_field_label(path):
            raise bad_request(f"field label not supported: {path}")
        terms.append(FieldRequirement(path, match["value"].strip(), match["op"] == "!="))
    return terms


def fields_match(requirements: list[FieldRequirement], obj: JsonDict) -> bool:
    """Whether an object satisfies every field requirement."""
    return all(req.matches(obj) for req in requirements)


@dataclass(frozen=True)
class Selector:
    """A combined label and field selector."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(
        cls, label_selector: str | None, field_selector: str | None, res: ResourceType
    ) -> Selector:
        """Parse both selector strings for ``res``."""
        return cls(
            tuple(parse_label_selector(label_selector)),
            tuple(parse_field_selector(field_selector, res)),
        )

    def matches(self, obj: JsonDict) -> bool:
        """Whether the object satisfies both selectors."""
        return labels_match(list(self.labels), obj) and fields_match(list(self.fields), obj)
