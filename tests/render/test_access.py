"""Endpoint access: nothing when public, else Istio RequestAuthentication + AuthorizationPolicy."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_hfinfer.exceptions import RenderError
from airflow_provider_hfinfer.render import RenderOptions

from .builders import ISSUER, JWKS, of_kind, one, options, render

ISTIO_KINDS = ("RequestAuthentication", "AuthorizationPolicy")
MODES: dict[str, dict[str, Any]] = {
    "authenticated": {"mode": "authenticated"},
    "groups": {"mode": "groups", "groups": ["ml-research", "ml-platform"]},
    "users": {"mode": "users", "users": ["ada@example.com", "grace"]},
}


def _policy_rules(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policy = one(manifests, "AuthorizationPolicy")
    assert policy["spec"]["action"] == "ALLOW"
    rules: list[dict[str, Any]] = policy["spec"]["rules"]
    return rules


def _principal_rules(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules that admit callers by their token (not the unauthenticated probe paths)."""
    return [rule for rule in _policy_rules(manifests) if "from" in rule]


def test_public_endpoint_renders_no_istio_objects() -> None:
    manifests = render(endpoint_access={"mode": "public"})
    assert not [m for m in manifests if m["kind"] in ISTIO_KINDS]
    assert not [m for m in manifests if m["apiVersion"].startswith("security.istio.io")]


def test_public_endpoint_needs_no_issuer() -> None:
    manifests = render(opts=RenderOptions())
    assert not of_kind(manifests, "RequestAuthentication")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_protected_modes_render_both_istio_objects_on_the_workload_pods(mode: str) -> None:
    manifests = render(endpoint_access=MODES[mode])
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    for kind in ISTIO_KINDS:
        item = one(manifests, kind)
        assert item["apiVersion"] == "security.istio.io/v1"
        selector = item["spec"]["selector"]["matchLabels"]
        assert selector and selector.items() <= pod_labels.items()


@pytest.mark.parametrize("mode", sorted(MODES))
def test_request_authentication_trusts_the_cluster_issuer(mode: str) -> None:
    manifests = render(
        endpoint_access=MODES[mode],
        opts=options(jwks_uri=JWKS, jwt_audiences=("inference", "api")),
    )
    (rule,) = one(manifests, "RequestAuthentication")["spec"]["jwtRules"]
    assert rule["issuer"] == ISSUER
    assert rule["jwksUri"] == JWKS
    assert rule["audiences"] == ["inference", "api"]


def test_jwks_and_audiences_are_optional() -> None:
    (rule,) = one(render(endpoint_access=MODES["authenticated"]), "RequestAuthentication")["spec"][
        "jwtRules"
    ]
    assert "jwksUri" not in rule
    assert "audiences" not in rule


def test_authenticated_mode_admits_any_valid_token() -> None:
    (rule,) = _principal_rules(render(endpoint_access=MODES["authenticated"]))
    assert rule["from"] == [{"source": {"requestPrincipals": ["*"]}}]
    assert "when" not in rule


def test_groups_mode_matches_the_groups_claim() -> None:
    (rule,) = _principal_rules(render(endpoint_access=MODES["groups"]))
    assert rule["from"] == [{"source": {"requestPrincipals": ["*"]}}]
    assert rule["when"] == [
        {"key": "request.auth.claims[groups]", "values": ["ml-research", "ml-platform"]}
    ]


def test_groups_claim_name_comes_from_options() -> None:
    manifests = render(endpoint_access=MODES["groups"], opts=options(groups_claim="roles"))
    (rule,) = _principal_rules(manifests)
    assert rule["when"][0]["key"] == "request.auth.claims[roles]"


def test_users_mode_matches_any_configured_user_claim() -> None:
    rules = _principal_rules(render(endpoint_access=MODES["users"]))
    # Rules of an ALLOW policy are ORed: one rule per claim lets either claim match.
    keys = set()
    for rule in rules:
        assert rule["from"] == [{"source": {"requestPrincipals": ["*"]}}]
        (condition,) = rule["when"]
        assert condition["values"] == ["ada@example.com", "grace"]
        keys.add(condition["key"])
    assert keys == {"request.auth.claims[email]", "request.auth.claims[preferred_username]"}


def test_user_claims_come_from_options() -> None:
    manifests = render(endpoint_access=MODES["users"], opts=options(user_claims=("sub",)))
    (rule,) = _principal_rules(manifests)
    assert rule["when"] == [
        {"key": "request.auth.claims[sub]", "values": ["ada@example.com", "grace"]}
    ]


def test_probe_and_metrics_paths_stay_reachable_without_a_token() -> None:
    open_rules = [
        rule
        for rule in _policy_rules(render(endpoint_access=MODES["groups"]))
        if "from" not in rule
    ]
    (rule,) = open_rules
    assert "when" not in rule
    (operation,) = [item["operation"] for item in rule["to"]]
    assert set(operation["paths"]) == {"/health", "/metrics"}
    assert operation["methods"] == ["GET"]


def test_no_open_paths_when_none_are_configured() -> None:
    manifests = render(endpoint_access=MODES["groups"], opts=options(unauthenticated_paths=()))
    assert all("from" in rule for rule in _policy_rules(manifests))


def test_openai_routes_are_never_opened_without_a_token() -> None:
    for rule in _policy_rules(render(endpoint_access=MODES["users"])):
        if "from" in rule:
            continue
        for target in rule["to"]:
            assert not [p for p in target["operation"]["paths"] if p.startswith("/v1")]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_missing_issuer_is_a_render_error_naming_the_connection_extra(mode: str) -> None:
    with pytest.raises(RenderError, match="hfinfer_jwt_issuer"):
        render(endpoint_access=MODES[mode], opts=RenderOptions())


def test_the_two_istio_objects_do_not_share_mutable_parts() -> None:
    manifests = render(endpoint_access=MODES["groups"])
    authn, authz = one(manifests, "RequestAuthentication"), one(manifests, "AuthorizationPolicy")
    authn["spec"]["selector"]["matchLabels"]["extra"] = "x"
    assert "extra" not in authz["spec"]["selector"]["matchLabels"]
