"""What a message may show of a value: short, on one line, never a credential.

This module owns the quoting of user values in spec errors. Every value a
message names goes through :func:`shown`: long values are cut, control
characters escaped, and a value that looks like a credential (a Hugging Face
token, a JWT, a well-known API-key format or a long random string) is cut to a
four-character prefix, wherever it was pasted. ``vllm.extra_args`` items are
shown by their option name only (:func:`shown_arg`). Pure: no I/O.
"""

from __future__ import annotations

import re

SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"hf_[A-Za-z0-9]{16,}"),  # Hugging Face access token
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style API key
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"),  # GitHub
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)
"""Formats that are credentials beyond doubt: refused in any field but the token's own."""

_RANDOM_RUN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")

PREFIX_CHARS = 4
"""Characters of a credential-like value a message may show."""

MAX_SHOWN = 60
"""Longest value a message quotes in full; longer ones are cut."""

MAX_SCAN = 4096
"""Characters of one value scanned for credentials (values are bounded far below)."""


def secret_format(text: str) -> bool:
    """True when ``text`` contains a credential in a well-known format.

    Args:
        text: Any string from a spec.

    Returns:
        Whether a Hugging Face token, JWT, API key or private key is in it.
    """
    head = text[:MAX_SCAN]
    return any(pattern.search(head) for pattern in SECRET_PATTERNS)


def _random_looking(run: str) -> bool:
    classes = sum((any(ch.islower() for ch in run), any(ch.isupper() for ch in run))) + any(
        ch.isdigit() for ch in run
    )
    return classes == 3


def looks_like_credential(text: str) -> bool:
    """True when ``text`` is, or contains, something a message must not echo.

    Besides the formats of :func:`secret_format`, any run of 32 or more
    base64/URL-safe characters mixing upper case, lower case and digits counts:
    generated keys look like that, names and hashes (lower-case hex) do not.

    Args:
        text: Any string from a spec.

    Returns:
        Whether a message should show only a short prefix of it.
    """
    head = text[:MAX_SCAN]
    return secret_format(head) or any(
        _random_looking(match.group()) for match in _RANDOM_RUN.finditer(head)
    )


def redacted(text: str) -> str:
    """The short, quoted prefix a message shows of a credential-like value."""
    return f"'{_printable(text[:PREFIX_CHARS])}…' (redacted: looks like a credential)"


def _printable(text: str) -> str:
    # repr() escapes newlines and control characters; strip its quotes.
    return repr(text)[1:-1]


def shown(value: object) -> str:
    """Quote ``value`` for a one-line message.

    Args:
        value: The offending value, of any type.

    Returns:
        ``'text'`` for short strings, ``'start…' (N characters)`` for long ones,
        a redacted prefix for credential-like strings, ``repr`` for other types
        (cut when long).
    """
    if isinstance(value, str):
        if looks_like_credential(value):
            return redacted(value)
        if len(value) > MAX_SHOWN:
            return f"'{_printable(value[:MAX_SHOWN])}…' ({len(value)} characters)"
        return repr(value)
    if isinstance(value, (bool, int, float)) or value is None:
        text = repr(value)
        return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}… ({len(text)} digits)"
    return f"a {type(value).__name__}"


def shown_arg(arg: str) -> str:
    """Quote one ``vllm.extra_args`` item: the option name, never its value.

    Args:
        arg: One item of ``vllm.extra_args``.

    Returns:
        ``'--api-key=…'`` for ``--api-key=sk-...``; ``'…'`` for an item that is a
        value; the item itself when it is a bare option name.
    """
    text = arg.strip()
    match = re.match(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*", text)
    if match is None:
        return "'…' (a value, not shown)"
    name = match.group()
    rest = text[len(name) :]
    if not rest:
        return shown(name)
    return f"{shown(name + rest[0])[:-1]}…'"


def path_part(part: str | int) -> str:
    """Show one part of a field path (a mapping key may be anything a user typed)."""
    if isinstance(part, int):
        return str(part)
    if looks_like_credential(part):
        return redacted(part)
    if re.fullmatch(r"[A-Za-z0-9_./-]{1,63}", part):
        return part
    return shown(part)
