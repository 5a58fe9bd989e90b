"""deploy/rbac.yaml grants every request the hook and the operators send.

The required permissions are not a hand-kept list: every hook verb the operators
use runs against a recording client, and each planned request becomes a
``(verb, group, resource, scope)``. A server-side apply counts as ``patch`` and
``create`` (the API server authorizes an apply that creates the object as a
create). The RBAC objects are read the way the API server would: only rules of
roles bound to the provider's ServiceAccount count, and a namespaced Role never
grants a cluster-wide request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_hfinfer.hooks.inference import HFInferenceHook
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.requests import APPLY_PATCH, KubeRequest
from airflow_provider_hfinfer.render import RenderOptions, render_manifests
from airflow_provider_hfinfer.spec import InferenceWorkload

RBAC = Path(__file__).resolve().parents[1] / "deploy" / "rbac.yaml"
NS = "runai-team-a"
CLUSTER = "(cluster)"


@dataclass(frozen=True, order=True)
class Permission:
    """One thing the identity must be allowed to do."""

    verb: str
    group: str
    resource: str
    scope: str  # a namespace, or CLUSTER for cluster-wide requests

    def __str__(self) -> str:
        where = "cluster-wide" if self.scope == CLUSTER else f"in {self.scope}"
        return f"{self.verb} {self.resource}.{self.group or 'core'} {where}"


# Requests sent through the kubernetes client's APIs rather than the request planners:
# the hook's endpoint probe through the Service proxy (``service_proxy_get``), the
# request operator's POST through it (``service_proxy_post``: the API server
# authorizes a proxied POST as ``create``), the log tail of a crashing pod
# (``pod_log_tail``), and the deferrable readiness trigger's list + watch of the
# workload's objects.
TYPED_API_READS = (
    Permission("get", "", "services/proxy", NS),
    Permission("create", "", "services/proxy", NS),
    Permission("get", "", "pods/log", NS),
    *(
        Permission(verb, group, resource, NS)
        for verb in ("list", "watch")
        for group, resource in (
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("", "pods"),
            ("", "events"),
        )
    ),
)


class _RecordingClient:
    """Stands in for ``KubeClient``: records each planned request, answers empty."""

    def __init__(self) -> None:
        self.sent: list[KubeRequest] = []

    def send(self, request: KubeRequest, retry: Any = None) -> dict[str, Any]:
        self.sent.append(request)
        return {}

    def get_or_none(self, request: KubeRequest, retry: Any = None) -> dict[str, Any] | None:
        self.sent.append(request)
        return None

    def list_items(self, request: KubeRequest, retry: Any = None) -> list[dict[str, Any]]:
        self.sent.append(request)
        return []

    def exchange(self, request: KubeRequest, *, timeout: float = 10) -> tuple[int, bytes]:
        self.sent.append(request)
        return 200, b""


def _manifests(**fields: Any) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {
        "name": "llama",
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "hf_access": {"type": "token", "token": "hf_rbacTestToken0000000000000000"},
        "endpoint_access": {"mode": "groups", "groups": ["ml"]},
        "replicas": {"min": 1, "max": 3},
        "node_pools": ["a100-pool", "h100-pool"],
        **fields,
    }
    options = RenderOptions(jwt_issuer="https://sso.example.com")
    return render_manifests(InferenceWorkload.model_validate(spec), namespace=NS, options=options)


def _every_manifest() -> list[dict[str, Any]]:
    """Manifests of every kind the provider writes (both scaler flavours)."""
    keda = _manifests(autoscaling={"metric": "concurrency", "threshold": 8})
    http = _manifests(
        autoscaling={"metric": "concurrency", "threshold": 8}, scale_to_zero={"idle_seconds": 600}
    )
    by_ref = {(m["kind"], m["metadata"]["name"]): m for m in keda + http}
    return list(by_ref.values())


def _drive_hook() -> list[KubeRequest]:
    """Call every hook verb the create and delete operators use."""
    hook = HFInferenceHook(kubernetes_conn_id="unused")
    recorder = _RecordingClient()
    hook.__dict__["client"] = recorder  # the cached property, replaced before first use
    manifests = _every_manifest()
    kinds = {(m["apiVersion"], m["kind"]) for m in manifests}
    assert kinds == {(r.api_version, r.kind) for r in res.WORKLOAD_KINDS}
    for manifest in manifests:  # the create operator's ownership check
        meta = manifest["metadata"]
        hook.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
    hook.get("v1", "Secret", "hf-credentials", NS)  # pre-flight token of an existing Secret
    hook.list_objects(res.RESOURCE_QUOTA, NS)  # quota pre-check
    hook.list_pool_nodes("run.ai/node-pool", ["a100-pool", "h100-pool"])  # strict pool order
    hook.list_active_pods()
    hook.apply(manifests, dry_run=True)
    hook.apply(manifests)
    hook.annotate(manifests[-1], {"hfinfer.io/phase": "Failed"})
    hook.workload_snapshot("llama", NS)  # waiting for readiness
    for obj in hook.list_workload_objects("llama", NS) + manifests:  # the delete operator
        hook.delete(obj)
    hook.list_objects(res.POD, NS, label_selector="hfinfer.io/workload=llama")
    # The completion / TTL cleanup operators, given the project namespaces.
    hook.list_selected("app.kubernetes.io/managed-by=airflow-provider-hfinfer", [NS])
    # The endpoint check and the request operator (service proxy), crash log tails.
    hook.service_proxy_get("llama", NS, "/health")
    hook.service_proxy_post("llama", NS, "/v1/completions", {"prompt": "hi"})
    hook.pod_log_tail("llama-abc", NS)
    return recorder.sent


def _permissions(request: KubeRequest) -> set[Permission]:
    scope = request.namespace or CLUSTER
    resource = request.resource
    verbs = {request.verb}
    if request.content_type == APPLY_PATCH:
        verbs.add("create")
    plural = f"{resource.plural}/{request.subresource}" if request.subresource else resource.plural
    return {Permission(verb, resource.group, plural, scope) for verb in verbs}


def required_permissions() -> set[Permission]:
    """Everything the hook and operators need, derived from the planned requests."""
    needed = set(TYPED_API_READS)
    for request in _drive_hook():
        needed |= _permissions(request)
    return needed


# -- reading rbac.yaml as the authorizer would ----------------------------------------------


def load_rbac(path: Path = RBAC) -> list[dict[str, Any]]:
    """The YAML documents of the RBAC file."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _service_account(docs: Iterable[dict[str, Any]]) -> tuple[str, str]:
    accounts = [d["metadata"] for d in docs if d["kind"] == "ServiceAccount"]
    if len(accounts) != 1:
        raise ValueError(f"expected one ServiceAccount, found {len(accounts)}")
    return accounts[0]["name"], accounts[0]["namespace"]


def _bound_roles(docs: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """``(role kind/name, namespace or None)`` of roles bound to the ServiceAccount."""
    name, namespace = _service_account(docs)
    bound = []
    for doc in docs:
        if doc["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == name
            and s.get("namespace") == namespace
            for s in doc.get("subjects") or []
        ):
            continue
        ref = doc["roleRef"]
        where = doc["metadata"].get("namespace") if doc["kind"] == "RoleBinding" else None
        bound.append((f"{ref['kind']}/{ref['name']}", where))
    return bound


def grants(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str | None]]:
    """Rules in force for the ServiceAccount, each with its namespace (None: everywhere)."""
    roles = {
        (f"{d['kind']}/{d['metadata']['name']}", d["metadata"].get("namespace")): d
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
    }
    rules = []
    for ref, where in _bound_roles(docs):
        role = roles.get((ref, where if ref.startswith("Role/") else None))
        for rule in (role or {}).get("rules") or []:
            rules.append((rule, where))
    return rules


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return "*" in values or wanted in values


def is_granted(permission: Permission, rules: list[tuple[dict[str, Any], str | None]]) -> bool:
    """Whether any bound rule allows the permission in its scope."""
    for rule, where in rules:
        if where is not None and where != permission.scope:
            continue  # a Role (or RoleBinding) grants only in its own namespace
        if (
            _matches(rule.get("apiGroups") or [], permission.group)
            and _matches(rule.get("resources") or [], permission.resource)
            and _matches(rule.get("verbs") or [], permission.verb)
        ):
            return True
    return False


def missing(docs: list[dict[str, Any]], needed: Iterable[Permission]) -> list[str]:
    """The permissions the RBAC documents do not grant, sorted, as text."""
    rules = grants(docs)
    return [str(p) for p in sorted(needed) if not is_granted(p, rules)]


# -- the tests -------------------------------------------------------------------------------


def test_the_derived_requirements_cover_what_the_provider_does() -> None:
    needed = {str(p) for p in required_permissions()}

    for expected in (
        "patch deployments.apps in runai-team-a",
        "create scaledobjects.keda.sh in runai-team-a",
        "create httpscaledobjects.http.keda.sh in runai-team-a",
        "delete authorizationpolicies.security.istio.io in runai-team-a",
        "get secrets.core in runai-team-a",
        "list resourcequotas.core in runai-team-a",
        "list replicasets.apps in runai-team-a",
        "list events.core in runai-team-a",
        "list pods.core in runai-team-a",
        "list nodes.core cluster-wide",
        "list pods.core cluster-wide",
        "get services/proxy.core in runai-team-a",
        "get pods/log.core in runai-team-a",
        "watch deployments.apps in runai-team-a",
    ):
        assert expected in needed


def test_rbac_yaml_grants_every_request() -> None:
    assert missing(load_rbac(), required_permissions()) == []


def _revoke(docs: list[dict[str, Any]], verb: str, group: str, resource: str) -> None:
    """Take ``verb`` on ``group/resource`` out of every rule, leaving everything else."""
    for doc in docs:
        rules = doc.get("rules") or []
        for rule in list(rules):
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
                rule["resources"] = [item for item in rule["resources"] if item != resource]
                kept = [item for item in rule["verbs"] if item != verb]
                rules.append({"apiGroups": [group], "resources": [resource], "verbs": kept})


GRANTS = sorted({(p.verb, p.group, p.resource) for p in required_permissions()})


@pytest.mark.parametrize("grant", GRANTS, ids=lambda grant: "{} {}/{}".format(*grant))
def test_removing_any_needed_grant_is_caught(grant: tuple[str, str, str]) -> None:
    docs = load_rbac()
    _revoke(docs, *grant)

    needed = required_permissions()
    expected = [str(p) for p in sorted(needed) if (p.verb, p.group, p.resource) == grant]
    assert expected and missing(docs, needed) == expected


def test_cluster_wide_reads_need_the_cluster_role_binding() -> None:
    docs = [doc for doc in load_rbac() if doc["kind"] != "ClusterRoleBinding"]

    assert missing(docs, required_permissions()) == [
        "list nodes.core cluster-wide",
        "list pods.core cluster-wide",
    ]


def test_a_role_in_another_namespace_grants_nothing_here() -> None:
    docs = load_rbac()
    for doc in docs:
        if doc["kind"] in ("Role", "RoleBinding"):
            doc["metadata"]["namespace"] = "someone-else"

    gaps = missing(docs, required_permissions())
    assert "patch deployments.apps in runai-team-a" in gaps
    assert not [gap for gap in gaps if gap.endswith("cluster-wide")]


# -- the optional cluster-wide cleanup ------------------------------------------------------

CLUSTER_CLEANUP = RBAC.parent / "rbac-cluster-cleanup.yaml"


def _cleanup_requests(namespaces: list[str] | None) -> list[KubeRequest]:
    """What the cleanup operator sends: one list per kind, then deletes where found."""
    hook = HFInferenceHook(kubernetes_conn_id="unused")
    recorder = _RecordingClient()
    hook.__dict__["client"] = recorder
    hook.list_selected("app.kubernetes.io/managed-by=airflow-provider-hfinfer", namespaces)
    for manifest in _every_manifest():  # expired objects, here in another project
        hook.delete({**manifest, "metadata": {**manifest["metadata"], "namespace": "team-b"}})
    return recorder.sent


def _needed(requests: list[KubeRequest]) -> set[Permission]:
    needed: set[Permission] = set()
    for request in requests:
        needed |= _permissions(request)
    return needed


def test_cluster_wide_cleanup_needs_the_optional_cluster_role() -> None:
    needed = _needed(_cleanup_requests(None))
    gaps = missing(load_rbac(), needed)
    assert "list deployments.apps cluster-wide" in gaps
    assert "delete deployments.apps in team-b" in gaps
    docs = load_rbac() + load_rbac(CLUSTER_CLEANUP)
    assert missing(docs, needed) == []


def test_the_cleanup_cluster_role_grants_only_list_and_delete() -> None:
    verbs = {
        verb
        for doc in load_rbac(CLUSTER_CLEANUP)
        for rule in doc.get("rules") or []
        for verb in rule["verbs"]
    }
    assert verbs == {"list", "delete"}
    # Every grant in it is used by the cleanup: none is there "just in case".
    used = {(p.verb, p.group, p.resource) for p in _needed(_cleanup_requests(None))}
    granted = {
        (verb, group, resource)
        for doc in load_rbac(CLUSTER_CLEANUP)
        for rule in doc.get("rules") or []
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == used
