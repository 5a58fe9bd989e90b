"""The resource types the fake API server serves, and their discovery documents.

A :class:`ResourceType` describes one REST resource (group, version, plural, kind,
scope, verbs, subresources and a few behaviour flags). :class:`ResourceRegistry` holds
the set the server serves and renders ``/api``, ``/apis`` and ``APIResourceList``
discovery bodies from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

COMMON_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One REST resource served by the fake.

    Attributes:
        group: API group (``""`` for core).
        version: API version (``v1``, ``v1alpha1``).
        plural: Resource name in URLs (``deployments``).
        kind: Object kind (``Deployment``).
        namespaced: Whether objects live in namespaces.
        singular: Singular name for discovery.
        short_names: Discovery short names.
        subresources: Subresource names (``status``, ``log``, ``proxy``).
        tracks_generation: Whether ``metadata.generation`` is kept and bumped on spec change.
        builtin: Built-in kinds omit ``apiVersion``/``kind`` from list items; custom ones keep them.
        field_labels: Extra field-selector labels the real server supports for this kind.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    tracks_generation: bool = False
    builtin: bool = True
    field_labels: frozenset[str] = field(default_factory=frozenset)

    @property
    def group_version(self) -> str:
        """``apps/v1`` or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def has_status(self) -> bool:
        """Whether ``status`` is a subresource (main-resource writes keep the old status)."""
        return "status" in self.subresources

    def supports_field_label(self, label: str) -> bool:
        """Whether a field selector may use ``label`` for this kind."""
        return label in COMMON_FIELD_LABELS or label in self.field_labels

    def discovery_entries(self) -> list[JsonDict]:
        """The ``APIResourceList.resources`` entries for this resource and its subresources."""
        entries: list[JsonDict] = [
            {
                "name": self.plural,
                "singularName": self.singular or self.kind.lower(),
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": list(ALL_VERBS),
                **({"shortNames": list(self.short_names)} if self.short_names else {}),
            }
        ]
        for sub in self.subresources:
            verbs = ["get", "patch", "update"]
            if sub == "log":
                verbs = ["get"]
            elif sub == "proxy":
                verbs = ["create", "delete", "get", "patch", "update"]
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": verbs,
                }
            )
        return entries


def _core(plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType(group="", version="v1", plural=plural, kind=kind, **kwargs)


def _custom(group: str, version: str, plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        tracks_generation=True,
        builtin=False,
        subresources=("status",),
        **kwargs,
    )


EVENT_FIELD_LABELS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)
POD_FIELD_LABELS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)


def default_resources() -> list[ResourceType]:
    """The resources the project's code touches, as served by a real cluster."""
    return [
        _core(
            "namespaces",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
            subresources=("status",),
            field_labels=frozenset({"status.phase"}),
        ),
        _core("secrets", "Secret", field_labels=frozenset({"type"})),
        _core("configmaps", "ConfigMap", short_names=("cm",)),
        _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
        _core("services", "Service", short_names=("svc",), subresources=("status", "proxy")),
        _core(
            "pods",
            "Pod",
            short_names=("po",),
            subresources=("status", "log"),
            field_labels=POD_FIELD_LABELS,
        ),
        _core("events", "Event", short_names=("ev",), field_labels=EVENT_FIELD_LABELS),
        _core("resourcequotas", "ResourceQuota", short_names=("quota",), subresources=("status",)),
        _core("limitranges", "LimitRange", short_names=("limits",)),
        _core(
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            short_names=("pvc",),
            subresources=("status",),
        ),
        _core(
            "nodes",
            "Node",
            namespaced=False,
            short_names=("no",),
            subresources=("status",),
            field_labels=frozenset({"spec.unschedulable"}),
        ),
        ResourceType(
            group="apps",
            version="v1",
            plural="deployments",
            kind="Deployment",
            short_names=("deploy",),
            subresources=("status",),
            tracks_generation=True,
        ),
        ResourceType(
            group="apps",
            version="v1",
            plural="replicasets",
            kind="ReplicaSet",
            short_names=("rs",),
            subresources=("status",),
            tracks_generation=True,
            field_labels=frozenset({"status.replicas"}),
        ),
        ResourceType(
            group="batch",
            version="v1",
            plural="jobs",
            kind="Job",
            subresources=("status",),
            tracks_generation=True,
        ),
        _custom("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject", short_names=("so",)),
        _custom(
            "keda.sh",
            "v1alpha1",
            "triggerauthentications",
            "TriggerAuthentication",
            short_names=("ta",),
        ),
        _custom("http.keda.sh", "v1alpha1", "httpscaledobjects", "HTTPScaledObject"),
        _custom("security.istio.io", "v1", "requestauthentications", "RequestAuthentication"),
        _custom("security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy"),
    ]


class ResourceRegistry:
    """The set of resources a fake server serves, indexed for routing and discovery.

    Args:
        resources: Initial resources; defaults to :func:`default_resources`.
    """

    def __init__(self, resources: list[ResourceType] | None = None) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for res in resources if resources is not None else default_resources():
            self.add(res)

    def add(self, res: ResourceType) -> None:
        """Serve an additional resource (e.g. a CRD a test needs)."""
        self._by_path[(res.group, res.version, res.plural)] = res
        self._by_kind[(res.group_version, res.kind)] = res

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Find a resource by its URL coordinates."""
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """Find a resource by an object's ``apiVersion`` and ``kind``."""
        return self._by_kind.get((api_version, kind))

    def by_group_version(self, group_version: str, plural: str) -> ResourceType | None:
        """Find a resource by ``apps/v1``-style group version and plural."""
        group, _, version = group_version.rpartition("/")
        return self.lookup(group, version, plural)

    def all(self) -> list[ResourceType]:
        """Every served resource."""
        return list(self._by_path.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Map each non-core group to its served versions."""
        groups: dict[str, list[str]] = {}
        for res in self._by_path.values():
            if res.group and res.version not in groups.setdefault(res.group, []):
                groups[res.group].append(res.version)
        return groups

    def api_versions(self) -> JsonDict:
        """The ``/api`` body."""
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
            ],
        }

    def api_group_list(self) -> JsonDict:
        """The ``/apis`` body."""
        groups = []
        for name, versions in sorted(self.group_versions().items()):
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
            groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> JsonDict | None:
        """The ``/apis/<group>`` body, or None when the group is not served."""
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def resource_list(self, group: str, version: str) -> JsonDict | None:
        """The ``APIResourceList`` for a group version, or None when it is not served."""
        matching = [r for r in self._by_path.values() if r.group == group and r.version == version]
        if not matching:
            return None
        resources: list[JsonDict] = []
        for res in sorted(matching, key=lambda r: r.plural):
            resources.extend(res.discovery_entries())
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }
