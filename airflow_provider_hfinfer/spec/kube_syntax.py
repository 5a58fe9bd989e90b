"""Kubernetes naming and quantity rules, checked without a client.

This module owns the syntax rules the API server enforces on names, label
and annotation keys and values, secret keys and resource quantities, so a
spec can be rejected before anything touches a cluster. Every checker returns
``None`` when the value is valid and a short sentence (the rule broken)
otherwise; callers add the field name and the fix.
"""

from __future__ import annotations

import re
from decimal import Decimal

from airflow_provider_hfinfer.spec.redact import shown

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(r"^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)([a-zA-Z]*|[eE][+-]?[0-9]+)$")
_EXPONENT = re.compile(r"^[eE][+-]?[0-9]+$")
# Kubernetes keeps quantities as 64-bit integers where it can; nothing real is larger.
MAX_QUANTITY = Decimal(2**63 - 1)

# Prefixes the Kubernetes project reserves for its own labels and annotations.
RESERVED_DOMAINS = ("kubernetes.io", "k8s.io")

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def dns1035_label_error(value: str, max_length: int = 63) -> str | None:
    """Check a DNS-1035 label (Service and workload names).

    Args:
        value: The candidate name.
        max_length: The longest accepted length.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    if len(value) > max_length:
        return f"must be at most {max_length} characters (got {len(value)})"
    if not DNS1035_LABEL.match(value):
        return (
            "must consist of lower-case letters, digits and '-', start with a letter "
            "and end with a letter or digit (DNS-1035 label)"
        )
    return None


def dns1123_label_error(value: str) -> str | None:
    """Check a DNS-1123 label (namespace names).

    Args:
        value: The candidate name.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    if len(value) > 63:
        return f"must be at most 63 characters (got {len(value)})"
    if not DNS1123_LABEL.match(value):
        return (
            "must consist of lower-case letters, digits and '-', and start and end "
            "with a letter or digit (DNS-1123 label)"
        )
    return None


def dns1123_subdomain_error(value: str) -> str | None:
    """Check a DNS-1123 subdomain (Secret and PVC names, key prefixes).

    Args:
        value: The candidate name.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    if not value:
        return "must not be empty"
    if len(value) > 253:
        return f"must be at most 253 characters (got {len(value)})"
    if not all(DNS1123_LABEL.match(part) for part in value.split(".")):
        return (
            "must be lower-case letters, digits, '-' and '.', each dot-separated part "
            "starting and ending with a letter or digit (DNS-1123 subdomain)"
        )
    return None


def qualified_name_error(key: str) -> str | None:
    """Check a label or annotation key: ``[prefix/]name``.

    Args:
        key: The candidate key.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "has an empty prefix before '/'"
    if prefix:
        problem = dns1123_subdomain_error(prefix)
        if problem:
            return f"prefix '{prefix}' {problem}"
    if not name:
        return "name part must not be empty"
    if len(name) > 63:
        return f"name part must be at most 63 characters (got {len(name)})"
    if not QUALIFIED_NAME_PART.match(name):
        return (
            "name part must be alphanumeric, '-', '_' or '.', starting and ending "
            "with an alphanumeric character"
        )
    return None


def reserved_prefix_error(key: str, own_prefixes: tuple[str, ...] = ()) -> str | None:
    """Reject keys under prefixes reserved for Kubernetes or this provider.

    Args:
        key: The label or annotation key.
        own_prefixes: Prefixes this provider sets itself.

    Returns:
        ``None`` when the key may be set by a user, else the rule broken.
    """
    prefix = key.rpartition("/")[0]
    if not prefix:
        return None
    for domain in RESERVED_DOMAINS:
        if prefix == domain or prefix.endswith("." + domain):
            return f"uses the prefix '{prefix}/', reserved for Kubernetes core components"
    if prefix in own_prefixes:
        return f"uses the prefix '{prefix}/', which this provider sets itself"
    return None


def label_value_error(value: str) -> str | None:
    """Check a label value (empty is allowed).

    Args:
        value: The candidate value.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    if len(value) > 63:
        return f"must be at most 63 characters (got {len(value)})"
    if not LABEL_VALUE.match(value):
        return (
            "must be empty or alphanumeric, '-', '_' or '.', starting and ending "
            "with an alphanumeric character"
        )
    return None


def secret_key_error(key: str) -> str | None:
    """Check a key inside a Secret's ``data``.

    Args:
        key: The candidate key.

    Returns:
        ``None`` when valid, else the rule broken.
    """
    if not key:
        return "must not be empty"
    if len(key) > 253:
        return f"must be at most 253 characters (got {len(key)})"
    if not SECRET_KEY.match(key) or key in (".", ".."):
        return "must consist of alphanumeric characters, '-', '_' or '.'"
    return None


def parse_quantity(value: str) -> Decimal:
    """Parse a Kubernetes resource quantity such as ``500m``, ``16Gi`` or ``1e9``.

    Args:
        value: The quantity as written in a manifest.

    Returns:
        The quantity as a number in base units (cores, bytes).

    Raises:
        ValueError: The string is not a Kubernetes quantity.
    """
    match = QUANTITY.match(value.strip()) if value.strip() == value else None
    if not match:
        raise ValueError(f"{shown(value)} is not a Kubernetes quantity")
    number_text, suffix = match.groups()
    if not (suffix in _BINARY_SUFFIXES or suffix in _DECIMAL_SUFFIXES or _EXPONENT.match(suffix)):
        raise ValueError(
            f"{shown(value)} has an unknown suffix {shown(suffix)} (use m, k, M, G, T, Ki, Mi, "
            "Gi, Ti...)"
        )
    try:
        amount = Decimal(number_text) * _factor(suffix)
    except (ArithmeticError, ValueError) as err:
        # Decimal signals (Overflow, InvalidOperation) are ArithmeticErrors, not
        # ValueErrors: a huge exponent must read as a quantity error, not crash.
        raise ValueError(f"{shown(value)} is out of range for a Kubernetes quantity") from err
    if abs(amount) > MAX_QUANTITY:
        raise ValueError(f"{shown(value)} is out of range for a Kubernetes quantity")
    return amount


def _factor(suffix: str) -> Decimal:
    if suffix in _BINARY_SUFFIXES:
        return Decimal(_BINARY_SUFFIXES[suffix])
    if suffix in _DECIMAL_SUFFIXES:
        return _DECIMAL_SUFFIXES[suffix]
    return Decimal(10) ** int(suffix[1:])


def format_bytes(value: Decimal | int) -> str:
    """Render a byte count the short way a person reads it (``16Gi``).

    Args:
        value: A number of bytes.

    Returns:
        The largest binary suffix that divides the value exactly, else plain bytes.
    """
    amount = Decimal(value)
    for suffix, factor in sorted(_BINARY_SUFFIXES.items(), key=lambda item: -item[1]):
        if amount >= factor and amount % factor == 0:
            return f"{int(amount // factor)}{suffix}"
    return str(int(amount))


_DURATION = re.compile(r"^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")

MAX_DURATION_SECONDS = 2**31 - 1
"""Kubernetes stores these durations as 32-bit integers (about 68 years)."""


def parse_duration_seconds(value: int | str) -> int:
    """Parse a duration given as whole seconds or as ``1h30m``, ``10m``, ``45s``.

    Args:
        value: Seconds (int or digits) or an h/m/s string.

    Returns:
        The duration in whole seconds.

    Raises:
        ValueError: The value is negative, too long, or not a duration.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip()
        if len(text) > 32:
            raise ValueError(f"{shown(text)} is far too long for a duration")
        match = _DURATION.match(text)
        if text.isascii() and text.isdigit():
            seconds = int(text)
        elif not text or not match or not any(match.groups()):
            raise ValueError(
                f"{shown(value)} is not a duration (write seconds, or e.g. '90s', '10m', '1h')"
            )
        else:
            hours, minutes, secs = (int(part) if part else 0 for part in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
    if seconds < 0:
        raise ValueError(f"{value} is negative")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{shown(value)} is longer than {MAX_DURATION_SECONDS} seconds")
    return seconds
