"""The request log: one record per HTTP request the fake API server receives.

Tests and benchmarks use it to count reads and writes, check query parameters (field
managers, dry runs, selectors) and assert that code issued no unexpected requests.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RequestRecord:
    """One received request.

    Attributes:
        method: HTTP method.
        path: URL path without the query string.
        query: Query parameters (last value wins for repeated keys).
        content_type: The request ``Content-Type`` (``""`` when absent).
        is_write: Whether the method writes (POST, PUT, PATCH, DELETE), dry runs included.
        verb: Kubernetes verb (``get``, ``list``, ``watch``, ``create``, ``update``,
            ``patch``, ``apply``, ``delete``, ``deletecollection``, ``proxy``,
            ``discovery``) or ``""`` when the request did not route.
        status: Response status code (0 when the connection was dropped).
    """

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    is_write: bool
    verb: str = ""
    status: int = 0

    @property
    def dry_run(self) -> bool:
        """Whether the request asked for ``dryRun=All``."""
        return self.query.get("dryRun") == "All"


class RequestLog:
    """A thread-safe, append-only list of :class:`RequestRecord` with counting helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Record a request."""
        with self._lock:
            self._records.append(record)

    def all(self) -> list[RequestRecord]:
        """A snapshot of every record, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def filter(
        self,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        is_write: bool | None = None,
    ) -> list[RequestRecord]:
        """Records matching every given criterion."""
        return [
            r
            for r in self.all()
            if (method is None or r.method == method.upper())
            and (path_regex is None or re.search(path_regex, r.path))
            and (verb is None or r.verb == verb)
            and (is_write is None or r.is_write == is_write)
        ]

    def count(
        self,
        method: str | None = None,
        path_regex: str | None = None,
        verb: str | None = None,
        is_write: bool | None = None,
    ) -> int:
        """How many records match (see :meth:`filter`)."""
        return len(self.filter(method, path_regex, verb, is_write))

    @property
    def reads(self) -> int:
        """Number of non-write requests."""
        return self.count(is_write=False)

    @property
    def writes(self) -> int:
        """Number of write requests."""
        return self.count(is_write=True)
