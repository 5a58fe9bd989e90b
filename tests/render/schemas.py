"""Schema checks for rendered objects: Kubernetes OpenAPI (strict) and the shared CRDs.

Core objects are checked with ``kubernetes-validate``'s strict schemas; custom
objects against ``openAPIV3Schema`` of the served version of their CRD in
``../shared/crds`` (never copied into the project). A real API server prunes
fields a structural schema does not declare, silently, so unknown fields are
flagged here as errors. ``x-kubernetes-*`` keys are annotations to jsonschema;
the few CEL rules that matter are asserted by the tests that own the field.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

CRD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "crds"
CRD_SKIP = "../shared/crds not found: CRD schema checks need the shared folder beside the repo"
K8S_VERSION = "1.30.0"
CORE_API_VERSIONS = ("v1", "apps/v1")
ROOT_FIELDS = ("apiVersion", "kind", "metadata")

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def require_crds() -> Path:
    """The CRD folder, or skip the calling test when the shared folder is absent."""
    if not CRD_DIR.is_dir():
        pytest.skip(CRD_SKIP)
    return CRD_DIR


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind) -> openAPIV3Schema`` for every served version of every CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(require_crds().glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = crd_schemas().get((api_version, kind))
    if schema is None:
        raise AssertionError(f"no served CRD version for {api_version} {kind} in {CRD_DIR}")
    # OpenAPI v3.0 schemas follow draft 4 semantics; unknown x-kubernetes-* keys are ignored.
    return jsonschema.Draft4Validator(schema)


def _unknown_fields(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Fields a structural schema would prune, and integers out of their format's range."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict):
        return _unknown_in_object(value, schema, path)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        problems: list[str] = []
        for index, item in enumerate(value):
            problems += _unknown_fields(item, schema["items"], f"{path}[{index}]")
        return problems
    if isinstance(value, int) and not isinstance(value, bool):
        fmt = schema.get("format", "int64")
        low, high = INT32 if fmt == "int32" else INT64
        if not low <= value <= high:
            return [f"{path}: {value} is out of {fmt} range"]
    return []


def _unknown_in_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    properties: dict[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        where = f"{path}.{key}"
        if key in properties:
            problems += _unknown_fields(item, properties[key], where)
        elif isinstance(extra, dict):
            problems += _unknown_fields(item, extra, where)
        elif extra is not True:
            problems.append(f"{where}: not declared in the CRD schema (would be pruned)")
    return problems


def crd_problems(manifest: dict[str, Any]) -> list[str]:
    """Problems of a custom object against its CRD (schema, required, unknown fields)."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    validator = _crd_validator(api_version, kind)
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
    schema = crd_schemas()[(api_version, kind)]
    # apiVersion, kind and metadata (ObjectMeta) are kept and checked by the server
    # itself whatever the CRD declares: metadata is checked by metadata_problems.
    body = {key: item for key, item in manifest.items() if key not in ROOT_FIELDS}
    problems += _unknown_fields(body, schema, kind)
    return problems


@functools.cache
def _core_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    # The same files kubernetes_validate.validate(strict=True) reads, loaded once.
    folder = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", K8S_VERSION)
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (
        Resource.from_contents(schema) @ Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def core_problems(manifest: dict[str, Any], *, cached: bool = True) -> list[str]:
    """Problems of a core object against the strict Kubernetes schema.

    ``cached=False`` calls ``kubernetes_validate.validate`` itself (slower).
    """
    if not cached:
        try:
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            return [str(err)]
        return []
    validator = _core_validator(manifest["apiVersion"], manifest["kind"])
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


def _key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (
        len(prefix) > 253 or not all(_DNS1123_LABEL.match(p) for p in prefix.split("."))
    ):
        return f"key {key!r} has an invalid prefix"
    if len(name) > 63 or not _NAME_PART.match(name):
        return f"key {key!r} has an invalid name part"
    return None


def _name_problem(kind: str, name: Any) -> str | None:
    if not isinstance(name, str):
        return f"{name!r} is not a string"
    if kind == "Service":
        # Service names become DNS labels: DNS-1035, at most 63 characters.
        if len(name) > 63 or not _DNS1035_LABEL.match(name):
            return f"{name!r} is not a DNS-1035 label of at most 63 characters"
        return None
    if len(name) > 253 or not all(_DNS1123_LABEL.match(part) for part in name.split(".")):
        return f"{name!r} is not a DNS-1123 subdomain"
    return None


def _map_problems(where: str, field: str, values: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, value in values.items():
        problem = _key_problem(key)
        if problem:
            problems.append(f"{where}.{field}: {problem}")
        if not isinstance(value, str):
            problems.append(f"{where}.{field}[{key}]: value is not a string")
        elif field == "labels" and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            problems.append(f"{where}.labels[{key}]: invalid label value {value!r}")
    return problems


def metadata_problems(manifest: dict[str, Any]) -> list[str]:
    """What the API server would reject in ``metadata`` (and in the pod template's)."""
    problems: list[str] = []
    name_problem = _name_problem(manifest["kind"], manifest.get("metadata", {}).get("name"))
    if name_problem:
        problems.append(f"metadata.name {name_problem}")
    metas = [("metadata", manifest.get("metadata", {}))]
    template = manifest.get("spec", {}).get("template")
    if isinstance(template, dict):
        metas.append(("template.metadata", template.get("metadata", {})))
    for where, meta in metas:
        problems += _map_problems(where, "labels", meta.get("labels", {}))
        problems += _map_problems(where, "annotations", meta.get("annotations", {}))
    return problems


def manifest_problems(manifest: dict[str, Any], *, cached: bool = True) -> list[str]:
    """Every problem the API server (with the shared CRDs installed) would find."""
    problems = metadata_problems(manifest)
    if manifest["apiVersion"] in CORE_API_VERSIONS:
        problems += core_problems(manifest, cached=cached)
    else:
        problems += crd_problems(manifest)
    return [f"{manifest['kind']} {manifest['metadata'].get('name')}: {p}" for p in problems]
