"""Typed, forgiving readers for Kubernetes object JSON.

The API server omits empty fields, and callers may hand us objects cut down
by a field selector or a cache, so every read here tolerates a missing key or
a value of the wrong type and answers with ``None`` or an empty container
instead of raising. Owning this in one place keeps the classifiers free of
``isinstance`` noise and of ``# type: ignore``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

K8sObject = Mapping[str, object]
"""One Kubernetes object (or sub-object) as decoded from the API's JSON."""

_EMPTY: K8sObject = {}

# RFC 3339 as the API server writes it: `metav1.Time` has whole seconds,
# `metav1.MicroTime` (event eventTime) six fractional digits; other writers
# use offsets or nanoseconds, which datetime.fromisoformat rejects on 3.10.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?$"
)


def dig(obj: object, *path: str) -> object:
    """Return the value at ``path`` inside nested mappings, or ``None``."""
    current = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def get_map(obj: object, *path: str) -> K8sObject:
    """Return the mapping at ``path``, or an empty mapping."""
    value = dig(obj, *path)
    if isinstance(value, Mapping):
        return value
    return _EMPTY


def get_list(obj: object, *path: str) -> list[K8sObject]:
    """Return the mappings of the list at ``path``; other items are dropped."""
    value = dig(obj, *path)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def get_str(obj: object, *path: str) -> str:
    """Return the string at ``path``, or ``""`` when absent or not a string."""
    value = dig(obj, *path)
    return value if isinstance(value, str) else ""


def get_int(obj: object, *path: str) -> int | None:
    """Return the integer at ``path``; booleans and other types read as ``None``."""
    value = dig(obj, *path)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def get_bool(obj: object, *path: str) -> bool | None:
    """Return the boolean at ``path``, or ``None``."""
    value = dig(obj, *path)
    return value if isinstance(value, bool) else None


def get_str_map(obj: object, *path: str) -> dict[str, str]:
    """Return the string-to-string map at ``path`` (labels, annotations)."""
    return {
        key: value
        for key, value in get_map(obj, *path).items()
        if isinstance(key, str) and isinstance(value, str)
    }


def parse_time(value: object) -> datetime | None:
    """Parse an RFC 3339 timestamp as the API server writes it.

    Args:
        value: A string such as ``2024-05-01T12:00:00Z`` or
            ``2024-05-01T12:00:00.123456Z``; anything else reads as ``None``.

    Returns:
        A datetime in UTC (strings without an offset are taken as UTC), or
        ``None`` when the value is absent or malformed.
    """
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    if offset in (None, "Z", "z"):
        offset = "+00:00"
    elif ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
        # Normalise now: an offset near year 1 or 9999 overflows on conversion,
        # and later arithmetic must not be the place that finds out.
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def get_time(obj: object, *path: str) -> datetime | None:
    """Return the parsed timestamp at ``path``, or ``None``."""
    return parse_time(dig(obj, *path))


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive values are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def earliest(*moments: datetime | None) -> datetime | None:
    """Return the earliest of the known moments, or ``None`` if none is known."""
    known = [as_utc(moment) for moment in moments if moment is not None]
    return min(known) if known else None


def format_duration(span: timedelta) -> str:
    """Render a duration the way ``kubectl`` ages read: ``45s``, ``4m12s``, ``1h05m``."""
    seconds = max(0, int(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def find_condition(obj: object, condition_type: str) -> K8sObject | None:
    """Return the ``status.conditions[]`` entry of ``condition_type``, if any."""
    for condition in get_list(obj, "status", "conditions"):
        if condition.get("type") == condition_type:
            return condition
    return None
