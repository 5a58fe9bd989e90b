"""Defaulting and validation applied to objects before they are stored.

Defaulting mirrors the handful of server-side defaults the project's code can observe
(namespace name label, Secret ``type`` and ``stringData`` folding, Service ``clusterIP``,
Deployment ``replicas``). Validation runs the built-in checks real clusters always
perform that matter here (object name format, container ``name``/``image`` required)
plus any validators tests register per kind; failures become 422 ``Invalid``.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from typing import Any

from .errors import FieldCause, invalid_value, required
from .resources import ResourceType

JsonDict = dict[str, Any]
Validator = Callable[[JsonDict], list[FieldCause]]

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_LABEL_NAMED = frozenset({"namespaces", "services"})


def _default_secret(obj: JsonDict) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


class Defaulter:
    """Assigns server-side defaults; Service cluster IPs come from a counter."""

    def __init__(self) -> None:
        self._next_ip = 10
        self._lock = threading.Lock()

    def _cluster_ip(self) -> str:
        with self._lock:
            self._next_ip += 1
            value = self._next_ip
        return f"10.96.{value // 250}.{value % 250 + 1}"

    def apply(self, res: ResourceType, obj: JsonDict, old: JsonDict | None) -> None:
        """Fill defaults into ``obj`` in place (``old`` keeps allocated values stable)."""
        meta = obj.setdefault("metadata", {})
        if res.plural == "namespaces":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        elif res.plural == "secrets":
            _default_secret(obj)
        elif res.plural == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = old_ip or self._cluster_ip()
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif res.group == "apps" and res.plural in ("deployments", "replicasets"):
            spec = obj.setdefault("spec", {})
            if spec.get("replicas") is None:
                spec["replicas"] = 1


def _pod_spec(res: ResourceType, obj: JsonDict) -> tuple[str, JsonDict] | None:
    spec = obj.get("spec") or {}
    if res.plural == "pods":
        return "spec", spec
    if res.group == "apps":
        return "spec.template.spec", ((spec.get("template") or {}).get("spec") or {})
    return None


def builtin_causes(res: ResourceType, obj: JsonDict) -> list[FieldCause]:
    """The checks every real cluster applies that the project's code can trip."""
    causes: list[FieldCause] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    pattern, message = (
        (_DNS1123_LABEL, _LABEL_MSG)
        if res.plural in _LABEL_NAMED
        else (_DNS1123_SUBDOMAIN, _SUBDOMAIN_MSG)
    )
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif len(name) > 253 or not pattern.match(name):
        causes.append(invalid_value("metadata.name", name, message))
    located = _pod_spec(res, obj)
    if located is not None:
        prefix, pod_spec = located
        for pos, container in enumerate(pod_spec.get("containers") or []):
            where = f"{prefix}.containers[{pos}]"
            if not container.get("name"):
                causes.append(required(f"{where}.name"))
            if not container.get("image"):
                causes.append(required(f"{where}.image"))
    return causes


class ValidatorRegistry:
    """Per-kind validators registered by tests, keyed by ``(group, kind)``."""

    def __init__(self) -> None:
        self._validators: dict[tuple[str, str], list[Validator]] = {}
        self._lock = threading.Lock()

    def add(self, group: str, kind: str, validator: Validator) -> None:
        """Register ``validator`` for objects of ``kind`` in ``group``."""
        with self._lock:
            self._validators.setdefault((group, kind), []).append(validator)

    def clear(self) -> None:
        """Remove every registered validator."""
        with self._lock:
            self._validators.clear()

    def causes(self, res: ResourceType, obj: JsonDict, builtin: bool) -> list[FieldCause]:
        """All causes for ``obj``: built-in checks (if enabled) then registered validators."""
        with self._lock:
            validators = list(self._validators.get((res.group, res.kind), []))
        causes = builtin_causes(res, obj) if builtin else []
        for validator in validators:
            causes.extend(validator(obj))
        return causes
