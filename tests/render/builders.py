"""Builders shared by the renderer tests: workloads, options, and lookups in rendered output."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_hfinfer.render import RenderOptions, render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_WORKLOAD = REPO_ROOT / "examples" / "workload.yaml"

NAMESPACE = "runai-team-a"
ISSUER = "https://sso.example.com/realms/ml"
JWKS = "https://sso.example.com/realms/ml/protocol/openid-connect/certs"
TOKEN = "hf_SeCrEtToKeN0123456789abcdefXYZ"
"""A token that appears nowhere else, so a leak of it is found by a plain substring scan."""

BASE: dict[str, Any] = {
    "name": "llama3-8b-chat",
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct"},
}

AUTOSCALED: dict[str, Any] = {
    "replicas": {"min": 1, "max": 4},
    "autoscaling": {"metric": "concurrency", "threshold": 8},
}

Manifest = dict[str, Any]


def options(**fields: Any) -> RenderOptions:
    """Cluster options with a JWT issuer configured (so every access mode renders)."""
    return RenderOptions(**{"jwt_issuer": ISSUER, **fields})


def workload(**fields: Any) -> InferenceWorkload:
    """A minimal valid workload with ``fields`` replacing the base's top-level fields."""
    return InferenceWorkload.model_validate({**copy.deepcopy(BASE), **fields})


def example_workload() -> InferenceWorkload:
    """The workload in ``examples/workload.yaml`` (every form field set)."""
    return InferenceWorkload.from_file(EXAMPLE_WORKLOAD)


def render(
    spec: InferenceWorkload | Mapping[str, Any] | None = None,
    *,
    namespace: str = NAMESPACE,
    opts: RenderOptions | None = None,
    **fields: Any,
) -> list[Manifest]:
    """Render a workload (given, or built from ``fields``) with the test options."""
    if spec is None:
        spec = workload(**fields)
    elif not isinstance(spec, InferenceWorkload):
        spec = InferenceWorkload.model_validate(dict(spec))
    return render_manifests(spec, namespace=namespace, options=opts or options())


def kinds(manifests: list[Manifest]) -> list[str]:
    """The kinds of the manifests, in order."""
    return [item["kind"] for item in manifests]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """Every manifest of one kind."""
    return [item for item in manifests if item["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    """The single manifest of a kind; fails when there are none or several."""
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {kinds(manifests)}"
    return found[0]


def pod_spec(manifests: list[Manifest]) -> dict[str, Any]:
    """The Deployment's pod spec."""
    spec: dict[str, Any] = one(manifests, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(manifests: list[Manifest]) -> dict[str, Any]:
    """The vLLM container (the pod's only container)."""
    containers = pod_spec(manifests)["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    """The container's env entries by name."""
    return {item["name"]: item for item in container(manifests).get("env", [])}


def flag(args: list[str], name: str) -> str | None:
    """The value following ``name`` in an argument list (or after ``name=``), else None."""
    for index, arg in enumerate(args):
        if arg == name:
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def volumes(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    """The pod's volumes by name."""
    return {item["name"]: item for item in pod_spec(manifests).get("volumes", [])}


def mounts(manifests: list[Manifest]) -> dict[str, str]:
    """The container's volume mounts: mount path -> volume name."""
    return {item["mountPath"]: item["name"] for item in container(manifests)["volumeMounts"]}


def node_affinity(manifests: list[Manifest]) -> dict[str, Any]:
    """The pod's node affinity ({} when absent)."""
    result: dict[str, Any] = pod_spec(manifests).get("affinity", {}).get("nodeAffinity", {})
    return result


def required_expressions(manifests: list[Manifest]) -> list[dict[str, Any]]:
    """The match expressions of the single required node selector term ([] when absent)."""
    required = node_affinity(manifests).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return []
    terms = required["nodeSelectorTerms"]
    assert len(terms) == 1, "node selector terms are ORed: all rules belong in one term"
    result: list[dict[str, Any]] = terms[0]["matchExpressions"]
    return result


def iter_strings(value: Any) -> Iterator[str]:
    """Every string in a manifest, keys included, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from iter_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from iter_strings(item)
    elif value is not None:
        yield str(value)
