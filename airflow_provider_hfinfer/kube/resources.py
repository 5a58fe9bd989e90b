"""The object kinds this provider reads and writes, and their REST paths.

This module owns the mapping from ``apiVersion``/``kind`` to the API server's
resource paths, so requests can be planned without discovery round trips.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One REST resource of the API server.

    Attributes:
        api_version: The ``apiVersion`` of its manifests: ``group/version``,
            or just the version for the core group (``v1``).
        kind: The ``kind`` of its manifests, e.g. ``Deployment``.
        plural: The lower-case plural the REST path and RBAC rules use, e.g.
            ``deployments``.
        namespaced: Whether objects live in a namespace; ``False`` for
            cluster-scoped kinds such as nodes and namespaces.
    """

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """API group ('' for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def label(self) -> str:
        """How RBAC messages name it, e.g. ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """REST path of the collection, or of one object when ``name`` is given."""
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        root += f"/{self.plural}"
        return f"{root}/{name}" if name else root


SECRET = Resource("v1", "Secret", "secrets")
SERVICE = Resource("v1", "Service", "services")
POD = Resource("v1", "Pod", "pods")
EVENT = Resource("v1", "Event", "events")
RESOURCE_QUOTA = Resource("v1", "ResourceQuota", "resourcequotas")
NAMESPACE = Resource("v1", "Namespace", "namespaces", namespaced=False)
NODE = Resource("v1", "Node", "nodes", namespaced=False)
PERSISTENT_VOLUME_CLAIM = Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
DEPLOYMENT = Resource("apps/v1", "Deployment", "deployments")
JOB = Resource("batch/v1", "Job", "jobs")
REPLICA_SET = Resource("apps/v1", "ReplicaSet", "replicasets")
SCALED_OBJECT = Resource("keda.sh/v1alpha1", "ScaledObject", "scaledobjects")
HTTP_SCALED_OBJECT = Resource("http.keda.sh/v1alpha1", "HTTPScaledObject", "httpscaledobjects")
REQUEST_AUTHENTICATION = Resource(
    "security.istio.io/v1", "RequestAuthentication", "requestauthentications"
)
AUTHORIZATION_POLICY = Resource(
    "security.istio.io/v1", "AuthorizationPolicy", "authorizationpolicies"
)

ALL = (
    SECRET,
    SERVICE,
    POD,
    EVENT,
    RESOURCE_QUOTA,
    NAMESPACE,
    NODE,
    PERSISTENT_VOLUME_CLAIM,
    DEPLOYMENT,
    REPLICA_SET,
    JOB,
    SCALED_OBJECT,
    HTTP_SCALED_OBJECT,
    REQUEST_AUTHENTICATION,
    AUTHORIZATION_POLICY,
)

WORKLOAD_KINDS = (
    SECRET,
    REQUEST_AUTHENTICATION,
    AUTHORIZATION_POLICY,
    SERVICE,
    DEPLOYMENT,
    SCALED_OBJECT,
    HTTP_SCALED_OBJECT,
)
"""Kinds a workload may consist of, in apply order (delete in reverse)."""

_BY_KIND = {(item.api_version, item.kind): item for item in ALL}


def resource_for(api_version: str, kind: str) -> Resource:
    """Return the resource of a manifest's ``apiVersion`` and ``kind``.

    Raises:
        KeyError: The kind is not one this provider handles.
    """
    return _BY_KIND[(api_version, kind)]
