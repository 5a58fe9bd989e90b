"""Makes the fake API server fixtures available to the tests in this package."""

from __future__ import annotations

from .fixtures import fake_kube, fake_kube_conn_id, kube_api_client  # noqa: F401
