"""RenderOptions: cluster settings that would render objects a cluster rejects fail early."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_hfinfer.render import RenderOptions

from .builders import ISSUER, JWKS, one, options, render


def test_from_extras_reads_prefixed_keys_and_overrides_win() -> None:
    opts = RenderOptions.from_extras(
        {"hfinfer_jwt_issuer": ISSUER, "hfinfer_service_port": 8080, "in_cluster": True},
        {"service_port": 9090},
    )
    assert opts.jwt_issuer == ISSUER
    assert opts.service_port == 9090


def test_options_from_extras_reach_the_rendered_objects() -> None:
    opts = RenderOptions.from_extras({"hfinfer_jwt_issuer": ISSUER, "hfinfer_jwks_uri": JWKS})
    manifests = render(endpoint_access={"mode": "authenticated"}, opts=opts)
    (rule,) = one(manifests, "RequestAuthentication")["spec"]["jwtRules"]
    assert rule["jwksUri"] == JWKS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("node_pool_label_key", "bad key"),
        ("node_type_label_key", "/type"),
        ("gpu_memory_label_key", "nvidia.com/"),
        ("gpu_resource_name", "nvidia.com/gpu!"),
        ("prometheus_namespace_label", "kubernetes-namespace"),
        ("jwks_uri", "sso.example.com/certs"),
        ("shm_size_per_gpu", "lots"),
        ("service_port", 0),
        ("unknown_option", 1),
    ],
)
def test_invalid_settings_are_rejected_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        RenderOptions(**{field: value})


def test_blank_issuer_reads_as_unset_so_the_error_names_the_extra() -> None:
    opts = RenderOptions.from_extras({"hfinfer_jwt_issuer": " ", "hfinfer_jwks_uri": ""})
    assert opts.jwt_issuer is None and opts.jwks_uri is None
    with pytest.raises(ValueError, match="hfinfer_jwt_issuer"):
        render(endpoint_access={"mode": "authenticated"}, opts=opts)


def test_gpu_memory_selection_may_be_switched_off() -> None:
    assert options(gpu_memory_label_key=None).gpu_memory_label_key is None
