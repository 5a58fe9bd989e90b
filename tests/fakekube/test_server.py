"""Behaviour of the fake API server as seen through the real Kubernetes clients."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from .errors import FieldCause
from .server import FakeKubeServer

APPLY = "application/apply-patch+yaml"
STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


def deployment(
    name: str = "vllm", replicas: int = 1, image: str = "vllm/vllm-openai:v0.6"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "vllm", "image": image}]},
            },
        },
    }


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return dict(body)


@pytest.fixture
def ml(fake_kube: FakeKubeServer) -> str:
    fake_kube.create_namespace("ml")
    return "ml"


@pytest.fixture
def dyn(kube_api_client: client.ApiClient, tmp_path: Path) -> DynamicClient:
    return DynamicClient(kube_api_client, cache_file=str(tmp_path / "discovery.json"))


# ----------------------------------------------------------------------- discovery


def test_dynamic_client_discovers_every_served_kind(dyn: DynamicClient) -> None:
    kinds = {
        ("v1", "Secret"): "secrets",
        ("v1", "Service"): "services",
        ("v1", "Event"): "events",
        ("apps/v1", "Deployment"): "deployments",
        ("apps/v1", "ReplicaSet"): "replicasets",
        ("keda.sh/v1alpha1", "ScaledObject"): "scaledobjects",
        ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentications",
        ("http.keda.sh/v1alpha1", "HTTPScaledObject"): "httpscaledobjects",
        ("security.istio.io/v1", "RequestAuthentication"): "requestauthentications",
        ("security.istio.io/v1", "AuthorizationPolicy"): "authorizationpolicies",
    }
    for (api_version, kind), plural in kinds.items():
        res = dyn.resources.get(api_version=api_version, kind=kind)
        assert res.name == plural and res.namespaced
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    assert not nodes.namespaced
    assert dyn.version["kubernetes"]["major"] == "1"


def test_unknown_group_version_is_404(kube_api_client: client.ApiClient) -> None:
    with pytest.raises(ApiException) as info:
        kube_api_client.call_api("/apis/nope.example.com/v1", "GET", auth_settings=["BearerToken"])
    assert info.value.status == 404


# -------------------------------------------------------------------- create / get


def test_created_objects_get_server_metadata_and_global_resource_versions(
    kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    first = core.create_namespaced_config_map(ml, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    second = core.create_namespaced_secret(
        ml, {"metadata": {"name": "b"}, "stringData": {"t": "x"}}
    )
    assert first.metadata.uid and first.metadata.uid != second.metadata.uid
    assert first.metadata.creation_timestamp is not None
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert second.data == {"t": "eA=="} and second.type == "Opaque"
    fetched = core.read_namespaced_config_map("a", ml)
    assert fetched.data == {"k": "v"}
    assert fetched.metadata.resource_version == first.metadata.resource_version
    assert fetched.metadata.managed_fields[0].operation == "Update"


def test_not_found_and_already_exists_bodies(kube_api_client: client.ApiClient, ml: str) -> None:
    apps = client.AppsV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("missing", ml)
    body = status_body(info.value)
    assert info.value.status == 404 and info.value.reason == "Not Found"
    assert body["reason"] == "NotFound"
    assert body["message"] == 'deployments.apps "missing" not found'
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}

    apps.create_namespaced_deployment(ml, deployment())
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(ml, deployment())
    body = status_body(info.value)
    assert info.value.status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'deployments.apps "vllm" already exists'


def test_create_in_missing_namespace_is_namespace_not_found(
    kube_api_client: client.ApiClient,
) -> None:
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(kube_api_client).create_namespaced_secret(
            "ghost", {"metadata": {"name": "s"}}
        )
    body = status_body(info.value)
    assert info.value.status == 404
    assert body["message"] == 'namespaces "ghost" not found'
    assert body["details"] == {"name": "ghost", "kind": "namespaces"}


def test_builtin_validation_rejects_container_without_image(
    kube_api_client: client.ApiClient, ml: str
) -> None:
    bad = deployment()
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(ApiException) as info:
        client.AppsV1Api(kube_api_client).create_namespaced_deployment(ml, bad)
    body = status_body(info.value)
    assert info.value.status == 422 and body["reason"] == "Invalid"
    field = "spec.template.spec.containers[0].image"
    assert body["message"] == f'Deployment.apps "vllm" is invalid: {field}: Required value'
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": field}
    ]


def test_registered_validator_causes_become_422(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    def max_replicas(obj: dict[str, Any]) -> list[FieldCause]:
        if obj["spec"].get("maxReplicaCount", 0) > 10:
            return [FieldCause("spec.maxReplicaCount", "must be at most 10")]
        return []

    fake_kube.add_validator("keda.sh", "ScaledObject", max_replicas)
    custom = client.CustomObjectsApi(kube_api_client)
    body = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "vllm"},
        "spec": {"scaleTargetRef": {"name": "vllm"}, "maxReplicaCount": 50},
    }
    with pytest.raises(ApiException) as info:
        custom.create_namespaced_custom_object("keda.sh", "v1alpha1", ml, "scaledobjects", body)
    causes = status_body(info.value)["details"]["causes"]
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "message": "must be at most 10",
            "field": "spec.maxReplicaCount",
        }
    ]
    body["spec"]["maxReplicaCount"] = 5
    created = custom.create_namespaced_custom_object(
        "keda.sh", "v1alpha1", ml, "scaledobjects", body
    )
    assert created["metadata"]["generation"] == 1 and created["kind"] == "ScaledObject"


# ------------------------------------------------------------------------- listing


def test_list_with_label_selectors(kube_api_client: client.ApiClient, ml: str) -> None:
    core = client.CoreV1Api(kube_api_client)
    labels = {
        "a": {"app": "vllm", "env": "prod", "team": "ml"},
        "b": {"app": "vllm", "env": "dev"},
        "c": {"app": "router", "env": "staging"},
        "d": {},
    }
    for name, lab in labels.items():
        core.create_namespaced_config_map(ml, {"metadata": {"name": name, "labels": lab}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map(ml, label_selector=selector).items
        return [i.metadata.name for i in items]

    assert names("app=vllm") == ["a", "b"]
    assert names("app==vllm,env!=prod") == ["b"]
    assert names("env in (prod, staging)") == ["a", "c"]
    assert names("env notin (prod),app") == ["b", "c"]
    assert names("team") == ["a"]
    assert names("!team") == ["b", "c", "d"]
    assert names("") == ["a", "b", "c", "d"]
    with pytest.raises(ApiException) as info:
        names("app in (x")
    assert info.value.status == 400


def test_list_with_field_selectors_and_cluster_wide(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    fake_kube.create_namespace("other")
    apps = client.AppsV1Api(kube_api_client)
    apps.create_namespaced_deployment(ml, deployment("one"))
    apps.create_namespaced_deployment("other", deployment("two"))
    everywhere = apps.list_deployment_for_all_namespaces()
    assert [(d.metadata.namespace, d.metadata.name) for d in everywhere.items] == [
        ("ml", "one"),
        ("other", "two"),
    ]
    by_name = apps.list_deployment_for_all_namespaces(field_selector="metadata.name=two")
    assert [d.metadata.namespace for d in by_name.items] == ["other"]
    by_ns = apps.list_deployment_for_all_namespaces(field_selector="metadata.namespace!=ml")
    assert [d.metadata.name for d in by_ns.items] == ["two"]

    for n, (kind, target) in enumerate(
        [("Pod", "vllm-0"), ("Pod", "vllm-1"), ("Deployment", "vllm-0")]
    ):
        fake_kube.put_object(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"ev{n}", "namespace": ml},
                "involvedObject": {"kind": kind, "name": target, "namespace": ml},
                "reason": "Scheduled",
            }
        )
    core = client.CoreV1Api(kube_api_client)
    events = core.list_namespaced_event(
        ml, field_selector="involvedObject.name=vllm-0,involvedObject.kind=Pod"
    )
    assert [e.metadata.name for e in events.items] == ["ev0"]
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map(ml, field_selector="data.k=v")
    assert info.value.status == 400
    assert status_body(info.value)["message"] == "field label not supported: data.k"


def test_list_pagination_with_limit_and_continue(
    kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    for n in range(5):
        core.create_namespaced_config_map(ml, {"metadata": {"name": f"cm{n}"}})
    first = core.list_namespaced_config_map(ml, limit=2)
    assert [i.metadata.name for i in first.items] == ["cm0", "cm1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(ml, limit=10, _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["cm2", "cm3", "cm4"]
    assert not rest.metadata._continue


# ---------------------------------------------------------------- writes / patches


def test_replace_with_stale_resource_version_conflicts(
    kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    created = core.create_namespaced_config_map(ml, {"metadata": {"name": "c"}, "data": {"v": "1"}})
    created.data = {"v": "2"}
    updated = core.replace_namespaced_config_map("c", ml, created)
    assert updated.data == {"v": "2"}
    created.data = {"v": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("c", ml, created)
    body = status_body(info.value)
    assert info.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith(
        'Operation cannot be fulfilled on configmaps "c": the object has been modified'
    )


def test_merge_strategic_and_json_patches(kube_api_client: client.ApiClient, ml: str) -> None:
    apps = client.AppsV1Api(kube_api_client)
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1"})
    apps.create_namespaced_deployment(ml, dep)

    strategic = {
        "spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": "vllm:2"}]}}}
    }
    out = apps.patch_namespaced_deployment("vllm", ml, strategic, _content_type=STRATEGIC)
    containers = {c.name: c.image for c in out.spec.template.spec.containers}
    assert containers == {"vllm": "vllm:2", "sidecar": "envoy:1"}
    assert out.metadata.generation == 2

    out = apps.patch_namespaced_deployment(
        "vllm", ml, {"metadata": {"labels": {"app": None, "tier": "gpu"}}}, _content_type=MERGE
    )
    assert out.metadata.labels == {"tier": "gpu"} and out.metadata.generation == 2

    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "remove", "path": "/metadata/labels/tier"},
    ]
    out = apps.patch_namespaced_deployment("vllm", ml, ops)
    assert out.spec.replicas == 4 and not out.metadata.labels
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment(
            "vllm", ml, [{"op": "test", "path": "/spec/replicas", "value": 1}]
        )
    assert info.value.status == 422


# ------------------------------------------------------------------ server-side apply


def test_server_side_apply_creates_then_updates_and_bumps_generation_on_spec_only(
    dyn: DynamicClient, ml: str
) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment(replicas=1)
    created = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert created.metadata.generation == 1
    managed = created.to_dict()["metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managed] == [("hfinfer", "Apply")]
    assert "f:replicas" in managed[0]["fieldsV1"]["f:spec"]

    again = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert again.metadata.resourceVersion == created.metadata.resourceVersion

    body["metadata"]["labels"]["revision"] = "2"
    relabeled = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert relabeled.metadata.generation == 1
    assert int(relabeled.metadata.resourceVersion) > int(created.metadata.resourceVersion)

    body["spec"]["replicas"] = 3
    scaled = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert scaled.metadata.generation == 2 and scaled.spec.replicas == 3

    del body["metadata"]["labels"]["revision"]
    pruned = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert "revision" not in pruned.metadata.labels


def test_server_side_apply_conflicts_and_force(dyn: DynamicClient, ml: str) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.server_side_apply(
        body=deployment(replicas=1), namespace=ml, field_manager="hfinfer"
    )
    scaler = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm"},
        "spec": {"replicas": 5},
    }
    with pytest.raises(ApiException) as info:
        deployments.server_side_apply(body=scaler, namespace=ml, field_manager="keda")
    body = status_body(info.value)
    assert info.value.status == 409 and body["reason"] == "Conflict"
    assert (
        body["message"]
        == 'Apply failed with 1 conflict: conflict with "hfinfer" using apps/v1: .spec.replicas'
    )
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"

    same_value = dict(scaler, spec={"replicas": 1})
    deployments.server_side_apply(body=same_value, namespace=ml, field_manager="keda")

    forced = deployments.server_side_apply(
        body=scaler, namespace=ml, field_manager="keda", force_conflicts=True
    )
    assert forced.spec.replicas == 5
    owners = {m["manager"]: m["fieldsV1"] for m in forced.to_dict()["metadata"]["managedFields"]}
    assert "f:replicas" not in owners["hfinfer"]["f:spec"]
    assert "f:replicas" in owners["keda"]["f:spec"]


def test_apply_requires_field_manager_and_works_through_custom_objects_api(
    kube_api_client: client.ApiClient, ml: str
) -> None:
    custom = client.CustomObjectsApi(kube_api_client)
    policy = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "vllm"},
        "spec": {
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}],
        },
    }
    args = ("security.istio.io", "v1", ml, "authorizationpolicies", "vllm", policy)
    with pytest.raises(ApiException) as info:
        custom.patch_namespaced_custom_object(*args, _content_type=APPLY)
    body = status_body(info.value)
    assert info.value.status == 422
    assert body["details"]["causes"][0]["field"] == "fieldManager"
    created = custom.patch_namespaced_custom_object(
        *args, field_manager="hfinfer", _content_type=APPLY
    )
    # Like the real server, an apply that creates answers 201, which this generated client
    # method does not deserialize (its response map only has 200): it returns None.
    assert created is None
    applied = custom.patch_namespaced_custom_object(
        *args, field_manager="hfinfer", _content_type=APPLY
    )
    assert applied["spec"]["action"] == "ALLOW" and applied["metadata"]["generation"] == 1


def test_main_resource_writes_keep_status_and_status_subresource_changes_it(
    kube_api_client: client.ApiClient, dyn: DynamicClient, ml: str
) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = deployment()
    body["status"] = {"readyReplicas": 9}
    created = deployments.server_side_apply(body=body, namespace=ml, field_manager="hfinfer")
    assert not created.status
    apps = client.AppsV1Api(kube_api_client)
    out = apps.patch_namespaced_deployment_status(
        "vllm", ml, {"status": {"readyReplicas": 1}, "spec": {"replicas": 7}}, _content_type=MERGE
    )
    assert out.status.ready_replicas == 1 and out.spec.replicas == 1


# --------------------------------------------------------------------- dry run


def test_dry_run_create_apply_patch_and_delete_store_nothing(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, dyn: DynamicClient, ml: str
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    would_be = apps.create_namespaced_deployment(ml, deployment(), dry_run="All")
    assert would_be.metadata.uid and would_be.spec.replicas == 1
    assert fake_kube.get_object("apps/v1", "deployments", ml, "vllm") is None

    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.server_side_apply(body=deployment(), namespace=ml, field_manager="t", dry_run="All")
    assert fake_kube.get_object("apps/v1", "deployments", ml, "vllm") is None

    apps.create_namespaced_deployment(ml, deployment())
    patched = apps.patch_namespaced_deployment(
        "vllm", ml, {"spec": {"replicas": 9}}, dry_run="All", _content_type=MERGE
    )
    assert patched.spec.replicas == 9
    apps.delete_namespaced_deployment("vllm", ml, dry_run="All")
    stored = fake_kube.get_object("apps/v1", "deployments", ml, "vllm")
    assert stored is not None and stored["spec"]["replicas"] == 1


# ----------------------------------------------------------------------- deletion


def _owned(fake_kube: FakeKubeServer, ml: str, owner: dict[str, Any]) -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "vllm-abc",
            "namespace": ml,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "vllm",
                    "uid": owner["metadata"]["uid"],
                }
            ],
        },
        "spec": {"replicas": 1},
    }
    stored_rs = fake_kube.put_object(rs)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "vllm-abc-1",
            "namespace": ml,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "vllm-abc",
                    "uid": stored_rs["metadata"]["uid"],
                }
            ],
        },
        "spec": {"containers": [{"name": "vllm", "image": "vllm:1"}]},
    }
    fake_kube.put_object(pod)


def test_delete_cascades_to_owned_objects(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    owner = apps.create_namespaced_deployment(ml, deployment()).to_dict()
    _owned(fake_kube, ml, owner)
    status = apps.delete_namespaced_deployment("vllm", ml, propagation_policy="Background")
    assert status.status == "Success" and status.details.name == "vllm"
    assert fake_kube.list_objects("apps/v1", "replicasets", ml) == []
    assert fake_kube.list_objects("v1", "pods", ml) == []


def test_orphan_delete_keeps_dependents_without_owner_reference(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    owner = apps.create_namespaced_deployment(ml, deployment()).to_dict()
    _owned(fake_kube, ml, owner)
    apps.delete_namespaced_deployment(
        "vllm", ml, body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    [rs] = fake_kube.list_objects("apps/v1", "replicasets", ml)
    assert rs["metadata"]["ownerReferences"] == []
    assert len(fake_kube.list_objects("v1", "pods", ml)) == 1


def test_delete_collection_by_label_selector(kube_api_client: client.ApiClient, ml: str) -> None:
    core = client.CoreV1Api(kube_api_client)
    for name, app in [("a", "vllm"), ("b", "vllm"), ("c", "other")]:
        core.create_namespaced_secret(ml, {"metadata": {"name": name, "labels": {"app": app}}})
    core.delete_collection_namespaced_secret(ml, label_selector="app=vllm")
    assert [s.metadata.name for s in core.list_namespaced_secret(ml).items] == ["c"]


def test_generate_name_and_namespace_deletion_removes_contents(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    made = core.create_namespaced_pod(
        ml,
        {
            "metadata": {"generateName": "vllm-"},
            "spec": {"containers": [{"name": "vllm", "image": "vllm:1"}]},
        },
    )
    assert made.metadata.name.startswith("vllm-") and len(made.metadata.name) == 10
    core.delete_namespace(ml)
    assert fake_kube.list_objects("v1", "pods") == []
    assert [n.metadata.name for n in core.list_namespace().items] == ["default"]


# -------------------------------------------------------------------------- RBAC / auth


def test_denied_verb_returns_real_forbidden_message(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    fake_kube.create_namespace("staging")
    fake_kube.deny("create", "deployments", namespace="ml", group="apps")
    apps = client.AppsV1Api(kube_api_client)
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(ml, deployment())
    body = status_body(info.value)
    assert info.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'deployments.apps is forbidden: User "system:serviceaccount:airflow:hfinfer" cannot create '
        'resource "deployments" in API group "apps" in the namespace "ml"'
    )
    apps.create_namespaced_deployment("staging", deployment())
    fake_kube.deny("list", "nodes")
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(kube_api_client).list_node()
    assert status_body(info.value)["message"].endswith(
        'cannot list resource "nodes" in API group "" at the cluster scope'
    )


def test_apply_that_would_create_also_needs_create_permission(
    fake_kube: FakeKubeServer, dyn: DynamicClient, ml: str
) -> None:
    fake_kube.deny("create", "deployments", group="apps")
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(ApiException) as info:
        deployments.server_side_apply(body=deployment(), namespace=ml, field_manager="hfinfer")
    assert info.value.status == 403


def test_wrong_token_is_unauthorized(fake_kube: FakeKubeServer) -> None:
    config = client.Configuration()
    config.host = fake_kube.url
    config.api_key = {"authorization": "Bearer wrong"}
    with client.ApiClient(config) as api_client, pytest.raises(ApiException) as info:
        client.CoreV1Api(api_client).list_namespace()
    assert info.value.status == 401 and status_body(info.value)["reason"] == "Unauthorized"


# --------------------------------------------------------------------------- watch


def test_watch_replays_added_modified_deleted_after_resource_version(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    start = apps.list_namespaced_deployment(ml).metadata.resource_version
    apps.create_namespaced_deployment(ml, deployment())
    fake_kube.set_status("apps/v1", "deployments", ml, "vllm", {"readyReplicas": 1})
    apps.delete_namespaced_deployment("vllm", ml)
    seen = []
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment, ml, resource_version=start, timeout_seconds=5
    ):
        status = event["object"].status
        seen.append((event["type"], status.ready_replicas if status else None))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", None), ("MODIFIED", 1), ("DELETED", 1)]


def test_watch_streams_live_changes_and_selector_transitions(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_config_map(ml, {"metadata": {"name": "keep", "labels": {"w": "yes"}}})
    core.create_namespaced_config_map(ml, {"metadata": {"name": "skip"}})
    w = watch.Watch()
    seen: list[tuple[str, str]] = []
    stream = w.stream(
        core.list_namespaced_config_map, ml, label_selector="w=yes", timeout_seconds=5
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 1:
            fake_kube.update("v1", "configmaps", ml, "skip", {"metadata": {"labels": {"w": "yes"}}})
        elif len(seen) == 2:
            fake_kube.update("v1", "configmaps", ml, "keep", {"metadata": {"labels": {"w": "no"}}})
        else:
            w.stop()
    assert seen == [("ADDED", "keep"), ("ADDED", "skip"), ("DELETED", "keep")]


def test_watch_with_expired_resource_version_gets_410(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    old = core.create_namespaced_config_map(
        ml, {"metadata": {"name": "a"}}
    ).metadata.resource_version
    core.create_namespaced_config_map(ml, {"metadata": {"name": "b"}})
    fake_kube.compact()
    with pytest.raises(ApiException) as info:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, ml, resource_version=old, timeout_seconds=2
        ):
            pass
    assert info.value.status == 410
    assert "too old resource version" in str(info.value.reason)


def test_watch_history_is_bounded() -> None:
    with FakeKubeServer(history_size=3) as server:
        api_client = server.api_client()
        core = client.CoreV1Api(api_client)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for n in range(3):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{n}"}})
        recent = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", {"metadata": {"name": "c3"}})
        w = watch.Watch()
        resumed = [
            e["object"].metadata.name
            for e in w.stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=recent,
                timeout_seconds=1,
            )
        ]
        assert resumed == ["c3"]
        with pytest.raises(ApiException) as info:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=start,
                    timeout_seconds=1,
                )
            )
        assert info.value.status == 410
        api_client.close()


def test_watch_sends_bookmarks_when_allowed(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    fake_kube.bookmark_interval = 0.1
    core = client.CoreV1Api(kube_api_client)
    rv = core.list_namespaced_pod(ml).metadata.resource_version
    w = watch.Watch()
    types = []
    for event in w.stream(
        core.list_namespaced_pod,
        ml,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=3,
    ):
        types.append(event["type"])
        w.stop()
    assert types == ["BOOKMARK"]


# ------------------------------------------------------------------------- faults


def test_error_burst_then_success(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient
) -> None:
    rule = fake_kube.faults.add(method="GET", path_regex=r"/namespaces$", status=500, times=2)
    core = client.CoreV1Api(kube_api_client)
    statuses = []
    for _ in range(3):
        try:
            core.list_namespace()
            statuses.append(200)
        except ApiException as exc:
            statuses.append(exc.status)
    assert statuses == [500, 500, 200]
    assert rule.hits == 2 and fake_kube.faults.pending() == 0


def test_throttling_with_retry_after_is_retried_by_urllib3_and_visible_without_retries(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient
) -> None:
    fake_kube.faults.add(path_regex="/namespaces$", status=429, retry_after=0)
    assert client.CoreV1Api(kube_api_client).list_namespace().items
    assert [r.status for r in fake_kube.requests.filter(path_regex="/namespaces$")] == [429, 200]

    config = client.Configuration()
    config.host = fake_kube.url
    config.api_key = {"authorization": f"Bearer {fake_kube.token}"}
    config.retries = False
    fake_kube.faults.add(status=429, retry_after=3)
    with client.ApiClient(config) as no_retry, pytest.raises(ApiException) as info:
        client.CoreV1Api(no_retry).list_namespace()
    assert info.value.status == 429 and info.value.headers["Retry-After"] == "3"
    body = status_body(info.value)
    assert body["reason"] == "TooManyRequests" and body["details"] == {"retryAfterSeconds": 3}


def test_dropped_connection_raises_for_writes_and_is_retried_by_urllib3_for_reads(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    fake_kube.faults.add(method="POST", drop_connection=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.create_namespaced_config_map(ml, {"metadata": {"name": "x"}})
    assert fake_kube.get_object("v1", "configmaps", ml, "x") is None

    fake_kube.faults.add(method="GET", drop_connection=True, times=1)
    assert core.read_namespace(ml).metadata.name == ml
    assert fake_kube.requests.count(method="GET", path_regex=f"/namespaces/{ml}$") == 2

    fake_kube.faults.add(method="GET", drop_connection=True, times=10)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.read_namespace(ml)


def test_slow_response_times_out_client(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    fake_kube.faults.add(method="POST", status=None, delay=0.5)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.CoreV1Api(kube_api_client).create_namespaced_config_map(
            ml, {"metadata": {"name": "x"}}, _request_timeout=0.1
        )


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "close"])
def test_a_client_hanging_up_before_the_answer_prints_nothing(
    fake_kube: FakeKubeServer,
    kube_api_client: client.ApiClient,
    ml: str,
    capfd: pytest.CaptureFixture[str],
    reset: bool,
) -> None:
    import socket
    import struct
    import time

    fault = fake_kube.faults.add(method="GET", status=None, delay=0.3)
    sock = socket.create_connection(("127.0.0.1", fake_kube.port))
    sock.sendall(f"GET /api/v1/namespaces/{ml} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    if reset:  # an RST, as a client killed mid-request sends
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    deadline = time.monotonic() + 5
    while fault.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # the delayed answer is written to the closed socket by now
    # The server still answers the next client, and said nothing on stderr.
    assert client.CoreV1Api(kube_api_client).read_namespace(ml).metadata.name == ml
    assert "Traceback" not in capfd.readouterr().err


# ----------------------------------------------------------------- request log


def test_request_log_counts_reads_and_writes(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, dyn: DynamicClient, ml: str
) -> None:
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    fake_kube.requests.clear()
    deployments.server_side_apply(body=deployment(), namespace=ml, field_manager="hfinfer")
    deployments.get(name="vllm", namespace=ml)
    deployments.server_side_apply(
        body=deployment(), namespace=ml, field_manager="hfinfer", dry_run="All"
    )
    records = fake_kube.requests.all()
    assert [(r.method, r.verb, r.status) for r in records] == [
        ("PATCH", "apply", 201),
        ("GET", "get", 200),
        ("PATCH", "apply", 200),
    ]
    assert fake_kube.requests.writes == 2 and fake_kube.requests.reads == 1
    assert records[0].query["fieldManager"] == "hfinfer" and records[0].content_type == APPLY
    assert [r.dry_run for r in records] == [False, False, True]
    fake_kube.requests.clear()
    assert len(fake_kube.requests) == 0


# ---------------------------------------------------------------- proxy / logs / seeding


def test_service_proxy_is_answered_by_registered_handler(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_service(
        ml, {"metadata": {"name": "vllm"}, "spec": {"ports": [{"port": 8000}]}}
    )
    with pytest.raises(ApiException) as info:
        core.connect_get_namespaced_service_proxy_with_path("vllm:8000", ml, "health")
    assert info.value.status == 503

    def endpoint(req: Any) -> tuple[int, Any]:
        if req.path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "meta-llama/Llama-3.1-8B"}]}
        if req.path == "/health":
            return 200, ""
        return 404, "not found"

    fake_kube.register_proxy(ml, "vllm", endpoint)
    # kubernetes 36 returns text responses as a bytes repr (kubernetes-client/python#2596),
    # against real servers too; read the raw body instead.
    raw = core.connect_get_namespaced_service_proxy_with_path(
        "vllm:8000", ml, "v1/models", _preload_content=False
    )
    assert raw.status == 200
    assert json.loads(raw.data)["data"] == [{"id": "meta-llama/Llama-3.1-8B"}]
    health = core.connect_get_namespaced_service_proxy_with_path(
        "vllm", ml, "health", _preload_content=False
    )
    assert health.status == 200 and health.data == b""
    with pytest.raises(ApiException) as info:
        core.connect_get_namespaced_service_proxy_with_path("vllm:8000", ml, "metrics")
    assert info.value.status == 404
    with pytest.raises(ApiException) as info:
        core.connect_get_namespaced_service_proxy_with_path("ghost:8000", ml, "health")
    assert status_body(info.value)["message"] == 'services "ghost" not found'


def test_pod_log_returns_text_with_tail(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient, ml: str
) -> None:
    fake_kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "vllm-0", "namespace": ml},
            "spec": {"containers": [{"name": "vllm", "image": "vllm:1"}]},
        }
    )
    fake_kube.set_pod_log(ml, "vllm-0", "loading\nCUDA out of memory\n")
    core = client.CoreV1Api(kube_api_client)
    raw = core.read_namespaced_pod_log("vllm-0", ml, tail_lines=1, _preload_content=False)
    assert raw.data == b"CUDA out of memory\n"
    assert raw.headers["Content-Type"] == "text/plain"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("vllm-1", ml)
    assert info.value.status == 404


def test_seeded_cluster_scoped_objects_and_status_updates(
    fake_kube: FakeKubeServer, kube_api_client: client.ApiClient
) -> None:
    fake_kube.put_object(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "gpu-1", "labels": {"nvidia.com/gpu.product": "A100"}},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}},
        }
    )
    core = client.CoreV1Api(kube_api_client)
    [node] = core.list_node(label_selector="nvidia.com/gpu.product=A100").items
    assert node.status.allocatable == {"nvidia.com/gpu": "8"}
    before = int(node.metadata.resource_version)
    updated = fake_kube.set_status(
        "v1", "nodes", None, "gpu-1", {"allocatable": {"nvidia.com/gpu": "4"}}
    )
    assert int(updated["metadata"]["resourceVersion"]) > before
    assert core.read_node("gpu-1").status.allocatable == {"nvidia.com/gpu": "4"}


# ---------------------------------------------------------------------- airflow hooks


def test_airflow_kubernetes_hook_lists_namespaces(fake_kube_conn_id: str, ml: str) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

    hook = KubernetesHook(conn_id=fake_kube_conn_id)
    names = [n.metadata.name for n in hook.core_v1_client.list_namespace().items]
    assert names == ["default", "ml"]


def test_async_hook_lists_and_watches(
    fake_kube: FakeKubeServer, fake_kube_conn_id: str, ml: str
) -> None:
    from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
    from kubernetes_asyncio import client as async_client
    from kubernetes_asyncio import watch as async_watch

    async def scenario() -> tuple[list[str], list[tuple[str, str]]]:
        hook = AsyncKubernetesHook(conn_id=fake_kube_conn_id)
        async with hook.get_conn() as api_client:
            core = async_client.CoreV1Api(api_client)
            listed = await core.list_namespace()
            rv = (await core.list_namespaced_config_map(ml)).metadata.resource_version
            creator = threading.Timer(
                0.2,
                lambda: fake_kube.put_object(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "late", "namespace": ml},
                    }
                ),
            )
            creator.start()
            seen = []
            w = async_watch.Watch()
            async for event in w.stream(
                core.list_namespaced_config_map, ml, resource_version=rv, timeout_seconds=5
            ):
                seen.append((event["type"], event["object"].metadata.name))
                w.stop()
            creator.join()
            return [n.metadata.name for n in listed.items], seen

    names, seen = asyncio.run(scenario())
    assert names == ["default", "ml"]
    assert seen == [("ADDED", "late")]
