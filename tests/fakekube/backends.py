"""Programmable stand-ins for what sits behind the API server.

* Service proxy endpoints: tests register a callable per service that answers requests
  sent through ``/api/v1/namespaces/{ns}/services/{name}[:{port}]/proxy/{path}``.
* Container logs: tests set the text ``pods/{name}/log`` returns.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ProxyResult = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class ProxyRequest:
    """A request forwarded to a service through the proxy subresource.

    Attributes:
        method: HTTP method.
        namespace: Service namespace.
        service: Service name.
        port: Port (name or number) from ``name:port``, or None.
        path: Path after ``/proxy`` (always starts with ``/``).
        query: Query parameters.
        body: Raw request body.
        headers: Request headers.
    """

    method: str
    namespace: str
    service: str
    port: str | None
    path: str
    query: dict[str, str]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


ProxyHandler = Callable[[ProxyRequest], ProxyResult]


class ProxyRegistry:
    """Proxy handlers keyed by ``(namespace, service, port)``; port None matches any port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[tuple[str, str, str | None], ProxyHandler] = {}

    def register(
        self, namespace: str, service: str, handler: ProxyHandler, port: str | None = None
    ) -> None:
        """Answer proxy requests to ``service`` (on ``port``, or any port) with ``handler``."""
        with self._lock:
            self._handlers[(namespace, service, port)] = handler

    def unregister(self, namespace: str, service: str, port: str | None = None) -> None:
        """Stop answering for ``service``; later requests get 503 like an endpoint-less service."""
        with self._lock:
            self._handlers.pop((namespace, service, port), None)

    def find(self, namespace: str, service: str, port: str | None) -> ProxyHandler | None:
        """The handler for a request, preferring an exact port match."""
        with self._lock:
            return self._handlers.get((namespace, service, port)) or self._handlers.get(
                (namespace, service, None)
            )


class PodLogs:
    """Container log lines per ``(namespace, pod, container)``; container None is the default.

    Each line keeps the moment it was written, so a read with ``timestamps=true`` can
    prefix it the way the kubelet does (RFC 3339 with nanoseconds).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str, str | None], list[tuple[datetime, str]]] = {}

    def set(self, namespace: str, pod: str, text: str, container: str | None = None) -> None:
        """Set the log text returned for a pod (container), written now."""
        now = datetime.now(timezone.utc)
        with self._lock:
            self._logs[(namespace, pod, container)] = [
                (now, line) for line in text.splitlines(keepends=True)
            ]

    def append(
        self,
        namespace: str,
        pod: str,
        line: str,
        at: datetime | None = None,
        container: str | None = None,
    ) -> None:
        """Add one line to a pod's (container's) log, written at ``at`` (default now)."""
        when = at or datetime.now(timezone.utc)
        text = line if line.endswith("\n") else line + "\n"
        with self._lock:
            self._logs.setdefault((namespace, pod, container), []).append((when, text))

    def get(
        self, namespace: str, pod: str, container: str | None, *, timestamps: bool = False
    ) -> str:
        """The log text, falling back to the pod-wide text, then to empty."""
        with self._lock:
            lines = self._logs.get((namespace, pod, container))
            if lines is None:
                lines = self._logs.get((namespace, pod, None), [])
            lines = list(lines)
        if not timestamps:
            return "".join(line for _, line in lines)
        return "".join(
            when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z " + line for when, line in lines
        )


def tail(text: str, lines: str | None) -> str:
    """The last ``lines`` lines of ``text`` (all when ``lines`` is None)."""
    if lines is None:
        return text
    count = int(lines)
    kept = text.splitlines(keepends=True)
    return "".join(kept[-count:]) if count > 0 else ""
