"""Who may call the endpoint: Istio RequestAuthentication + AuthorizationPolicy.

This module owns the endpoint-access rules. Public endpoints render nothing;
every other mode validates the caller's JWT (RequestAuthentication) and allows
only matching principals (an ALLOW AuthorizationPolicy, which denies the rest).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hfinfer.exceptions import RenderError
from airflow_provider_hfinfer.render.context import Stamp
from airflow_provider_hfinfer.render.metadata import object_meta, selector_labels
from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.spec import InferenceWorkload

ISTIO_API = "security.istio.io/v1"


def _jwt_rule(options: RenderOptions) -> dict[str, Any]:
    if not options.jwt_issuer:
        problem = "endpoint_access needs the cluster's JWT issuer for non-public access"
        raise RenderError(
            f"{problem}: set 'hfinfer_jwt_issuer' (and optionally 'hfinfer_jwks_uri') in the "
            "Kubernetes connection's extras, or pass render_options={'jwt_issuer': ...}",
            problem=problem,
            options=("jwt_issuer", "jwks_uri"),
        )
    rule: dict[str, Any] = {"issuer": options.jwt_issuer, "forwardOriginalToken": True}
    if options.jwks_uri:
        rule["jwksUri"] = options.jwks_uri
    if options.jwt_audiences:
        rule["audiences"] = list(options.jwt_audiences)
    return rule


def _selector(workload: InferenceWorkload) -> dict[str, Any]:
    # A fresh dict per object: shared ones would alias (YAML anchors, edits leaking across).
    return {"matchLabels": selector_labels(workload)}


def _principal_rules(workload: InferenceWorkload, options: RenderOptions) -> list[dict[str, Any]]:
    access = workload.endpoint_access
    authenticated = [{"source": {"requestPrincipals": ["*"]}}]
    if access.mode == "groups":
        return [
            {
                "from": authenticated,
                "when": [
                    {
                        "key": f"request.auth.claims[{options.groups_claim}]",
                        "values": list(access.groups),
                    }
                ],
            }
        ]
    if access.mode == "users":
        # Users are given as e-mail or user name; any configured claim may match.
        return [
            {
                "from": authenticated,
                "when": [{"key": f"request.auth.claims[{claim}]", "values": list(access.users)}],
            }
            for claim in options.user_claims
        ]
    return [{"from": authenticated}]


def render_access(
    workload: InferenceWorkload, namespace: str, options: RenderOptions, stamp: Stamp
) -> list[dict[str, Any]]:
    """Render the Istio objects for the endpoint access mode (none when public)."""
    if workload.endpoint_access.mode == "public":
        return []
    rules = _principal_rules(workload, options)
    if options.unauthenticated_paths:
        # Kubelet probes and Prometheus scraping carry no user token.
        rules.append(
            {
                "to": [
                    {
                        "operation": {
                            "paths": list(options.unauthenticated_paths),
                            "methods": ["GET"],
                        }
                    }
                ]
            }
        )
    return [
        {
            "apiVersion": ISTIO_API,
            "kind": "RequestAuthentication",
            "metadata": object_meta(f"{workload.name}-jwt", namespace, workload, stamp),
            "spec": {"selector": _selector(workload), "jwtRules": [_jwt_rule(options)]},
        },
        {
            "apiVersion": ISTIO_API,
            "kind": "AuthorizationPolicy",
            "metadata": object_meta(f"{workload.name}-access", namespace, workload, stamp),
            "spec": {"selector": _selector(workload), "action": "ALLOW", "rules": rules},
        },
    ]
