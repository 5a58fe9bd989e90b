"""Authentication and authorization simulation: bearer-token check and RBAC denials.

The fake allows everything by default; tests call :meth:`Rbac.deny` to make specific
``(verb, resource, namespace, group)`` combinations answer 403 Forbidden with the real
authorizer's message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import errors


@dataclass(frozen=True)
class Denial:
    """One denied permission; ``verb``/``resource`` ``"*"`` and ``namespace`` None are wildcards."""

    verb: str
    resource: str
    namespace: str | None
    group: str

    def matches(self, verb: str, resource: str, namespace: str | None, group: str) -> bool:
        """Whether this denial covers a request."""
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and self.group in ("*", group)
            and (self.namespace is None or self.namespace == namespace)
        )


class Rbac:
    """Thread-safe set of denials for one simulated user.

    Args:
        user: The user name quoted in 403 messages.
    """

    def __init__(self, user: str) -> None:
        self.user = user
        self._lock = threading.Lock()
        self._denials: list[Denial] = []

    def deny(self, verb: str, resource: str, namespace: str | None = None, group: str = "") -> None:
        """Deny ``verb`` on ``resource`` (``pods/log`` for subresources) in ``group``.

        Args:
            verb: ``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``, ``delete``,
                ``deletecollection`` or ``*``.
            resource: Plural resource name, optionally with ``/subresource``, or ``*``.
            namespace: Only in this namespace; every namespace and cluster scope when None.
            group: API group (``""`` for core, ``apps``, ``keda.sh``, ...).
        """
        with self._lock:
            self._denials.append(Denial(verb, resource, namespace, group))

    def allow_all(self) -> None:
        """Remove every denial."""
        with self._lock:
            self._denials.clear()

    def check(self, verb: str, resource: str, namespace: str | None, group: str) -> None:
        """Raise 403 when a denial covers the request.

        Raises:
            ApiError: 403 Forbidden.
        """
        with self._lock:
            denied = any(d.matches(verb, resource, namespace, group) for d in self._denials)
        if denied:
            raise errors.forbidden(self.user, verb, resource, group, namespace)


def check_token(expected: str | None, authorization: str | None) -> None:
    """Require ``Authorization: Bearer <expected>`` when a token is configured.

    Raises:
        ApiError: 401 Unauthorized.
    """
    if expected is None:
        return
    if authorization != f"Bearer {expected}":
        raise errors.unauthorized()
