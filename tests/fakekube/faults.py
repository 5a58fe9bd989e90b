"""Programmable fault injection: error bursts, throttling, dropped connections, latency.

Tests add rules with :meth:`FaultInjector.add`; each incoming request consumes one use of
the first active rule that matches its method and path. Rules are thread-safe.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    """One fault rule.

    Attributes:
        method: HTTP method to match (``None`` matches any).
        path_regex: Regex searched in the request path (``None`` matches any).
        status: Error status to answer with (``None``: answer normally after ``delay``).
        times: Remaining uses.
        retry_after: ``Retry-After`` seconds to send with the error.
        drop_connection: Close the socket without answering.
        delay: Seconds to sleep before acting.
        hits: Uses consumed so far.
    """

    method: str | None
    path_regex: str | None
    status: int | None
    times: int
    retry_after: float | None
    drop_connection: bool
    delay: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule applies to a request."""
        if self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_regex is None or re.search(self.path_regex, path) is not None


class FaultInjector:
    """A thread-safe list of fault rules consulted for every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        path_regex: str | None = None,
        status: int | None = 500,
        times: int = 1,
        retry_after: float | None = None,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Inject a fault into the next ``times`` matching requests.

        Args:
            method: HTTP method to match, any when None.
            path_regex: Regex searched in the path (not the query), any when None.
            status: Status to answer with (500, 429, 503, ...); None to only delay.
            times: How many matching requests the fault affects.
            retry_after: Seconds for a ``Retry-After`` header (429/503).
            drop_connection: Close the connection without any response.
            delay: Seconds to wait before answering (or dropping).

        Returns:
            The rule, whose ``hits`` tests can inspect.
        """
        rule = Fault(method, path_regex, status, times, retry_after, drop_connection, delay)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first matching rule, if any."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    rule.hits += 1
                    return rule
        return None

    def pending(self) -> int:
        """How many uses remain across all rules."""
        with self._lock:
            return sum(max(rule.times, 0) for rule in self._rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()
