"""Request planning and error mapping: pure, asserted without a server."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hfinfer.exceptions import (
    AccessDeniedError,
    ClusterUnavailableError,
    ConflictError,
    InvalidObjectError,
    KubeAPIError,
    NamespaceNotFoundError,
)
from airflow_provider_hfinfer.kube import resources as res
from airflow_provider_hfinfer.kube.errors import error_for, is_retryable
from airflow_provider_hfinfer.kube.requests import (
    APPLY_PATCH,
    FIELD_MANAGER,
    plan_apply,
    plan_delete,
    plan_list,
)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "llama", "namespace": "team-a"},
    "spec": {},
}


def test_apply_is_one_server_side_patch_with_our_field_manager() -> None:
    request = plan_apply(DEPLOYMENT)
    assert request.method == "PATCH"
    assert request.path == "/apis/apps/v1/namespaces/team-a/deployments/llama"
    assert request.content_type == APPLY_PATCH
    assert ("fieldManager", FIELD_MANAGER) in request.query
    assert ("force", "true") in request.query
    assert ("dryRun", "All") not in request.query
    assert ("dryRun", "All") in plan_apply(DEPLOYMENT, dry_run=True).query


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("v1", "Secret", "/api/v1/namespaces/ns/secrets/x"),
        (
            "keda.sh/v1alpha1",
            "ScaledObject",
            "/apis/keda.sh/v1alpha1/namespaces/ns/scaledobjects/x",
        ),
        (
            "security.istio.io/v1",
            "AuthorizationPolicy",
            "/apis/security.istio.io/v1/namespaces/ns/authorizationpolicies/x",
        ),
    ],
)
def test_paths_of_every_kind(api_version: str, kind: str, path: str) -> None:
    assert res.resource_for(api_version, kind).path("ns", "x") == path


def test_list_and_delete_plans() -> None:
    listing = plan_list(res.NODE, label_selector="a=b")
    assert listing.path == "/api/v1/nodes" and ("labelSelector", "a=b") in listing.query
    delete = plan_delete(res.DEPLOYMENT, "llama", "team-a")
    assert delete.method == "DELETE" and ("propagationPolicy", "Background") in delete.query
    assert delete.is_write and not listing.is_write


def _status(
    code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
) -> str:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
        "details": {"causes": causes or []},
    }
    return json.dumps(body)


def test_forbidden_names_verb_resource_and_namespace() -> None:
    message = (
        'deployments.apps "llama" is forbidden: User "system:serviceaccount:airflow:hf" '
        'cannot patch resource "deployments" in API group "apps" in the namespace "team-a"'
    )
    err = error_for(plan_apply(DEPLOYMENT), 403, _status(403, "Forbidden", message))
    assert isinstance(err, AccessDeniedError)
    text = str(err)
    assert "may not patch deployments.apps in namespace 'team-a'" in text
    assert "deploy/rbac.yaml" in text and "system:serviceaccount:airflow:hf" in text


def test_missing_namespace_and_invalid_fields() -> None:
    err = error_for(
        plan_apply(DEPLOYMENT), 404, _status(404, "NotFound", 'namespaces "team-a" not found')
    )
    assert isinstance(err, NamespaceNotFoundError)
    assert "namespace 'team-a' does not exist" in str(err)
    causes = [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.template.spec.containers[0].image",
        }
    ]
    invalid = error_for(plan_apply(DEPLOYMENT), 422, _status(422, "Invalid", "invalid", causes))
    assert isinstance(invalid, InvalidObjectError)
    assert invalid.causes == ("spec.template.spec.containers[0].image: Required value",)
    assert "containers[0].image: Required value" in str(invalid)


def test_missing_crd_says_what_to_install() -> None:
    scaler = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x", "namespace": "ns"},
    }
    err = error_for(
        plan_apply(scaler),
        404,
        _status(404, "NotFound", "the server could not find the requested resource"),
    )
    assert "install its custom resource definition" in str(err) and "KEDA" in str(err)


def test_conflict_and_server_errors() -> None:
    assert isinstance(
        error_for(plan_apply(DEPLOYMENT), 409, _status(409, "Conflict", "changed")), ConflictError
    )
    unavailable = error_for(plan_apply(DEPLOYMENT), 503, "")
    assert isinstance(unavailable, ClusterUnavailableError) and "HTTP 503" in str(unavailable)
    dropped = error_for(plan_apply(DEPLOYMENT), 0, None)
    assert "connection dropped" in str(dropped)
    odd = error_for(plan_apply(DEPLOYMENT), 400, "not json")
    assert type(odd) is KubeAPIError and "not json" in str(odd)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (0, True),
        (429, True),
        (500, True),
        (503, True),
        (409, False),
        (403, False),
        (422, False),
        (404, False),
    ],
)
def test_what_is_retried(status: int, retry: bool) -> None:
    assert is_retryable(status) is retry
