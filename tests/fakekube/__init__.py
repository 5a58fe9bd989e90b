"""A fake Kubernetes API server for tests, driven over HTTP by the real clients.

The package owns an in-process, standard-library HTTP server that speaks enough of the
Kubernetes REST API (discovery, CRUD, server-side apply, patches, watch, RBAC denials,
fault injection) for the ``kubernetes`` and ``kubernetes_asyncio`` clients to run
unmodified against it.
"""

from __future__ import annotations

from .errors import ApiError, FieldCause
from .faults import FaultInjector
from .requestlog import RequestLog, RequestRecord
from .resources import ResourceType
from .server import FakeKubeServer, ProxyRequest

__all__ = [
    "ApiError",
    "FakeKubeServer",
    "FaultInjector",
    "FieldCause",
    "ProxyRequest",
    "RequestLog",
    "RequestRecord",
    "ResourceType",
]
