"""Helpers of the Workloads page tests: Airflow config, connections, the seeded cluster.

Users: ``viewer`` (SimpleAuthManager role viewer) and ``admin`` (role admin),
configured through Airflow config; connections: the fake cluster (namespaces
team-a, seeded, and team-b, where pods may not be listed) and one whose cluster
does not answer.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakekube.kubelet import FakeKubelet
from fakekube.server import FakeKubeServer
from workloads_seed import DENIED_NS, NS

PASSWORDS = {"viewer": "viewer-pass", "admin": "admin-pass"}
CONN = "fake_kube"
BROKEN = "broken_kube"
MISSING = "missing_kube"
"""Allowed by the page's config but not defined as an Airflow connection."""


def require_entry_point() -> None:
    """Fail with the fix when the installed metadata lacks the plugin's entry point."""
    import importlib.metadata

    import pytest

    values = {point.value for point in importlib.metadata.entry_points(group="airflow.plugins")}
    if "airflow_provider_hfinfer.ui.plugin:WorkloadsPlugin" not in values:
        pytest.fail(
            "the package's airflow.plugins entry point is not installed in this environment: "
            "reinstall it (make install, or pip install -e '.[dev]') so Airflow finds the page"
        )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broken_connection_json() -> str:
    """A kubernetes connection whose cluster does not answer (a closed loopback port)."""
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "current-context": "gone",
    }
    extra = {"kube_config": json.dumps(kubeconfig), "namespace": NS}
    return json.dumps({"conn_type": "kubernetes", "extra": extra})


def cluster_connection_json(server: FakeKubeServer) -> str:
    """The fake cluster's connection, covering the seeded namespace and a denied one."""
    conn = json.loads(server.airflow_connection_json(NS))
    conn["extra"]["hfinfer_workloads_namespaces"] = f"{NS},{DENIED_NS}"
    return json.dumps(conn)


def airflow_environment(server: FakeKubeServer, home: Path) -> dict[str, str]:
    """The Airflow config (as environment variables) of the page tests."""
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer,admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "hfinfer-page-test-only-" + "x" * 48,
        "AIRFLOW__HFINFER__WORKLOADS_CONNECTIONS": f"{CONN},{BROKEN},{MISSING}",
        "AIRFLOW__HFINFER__WORKLOADS_DEFAULT_CONNECTIONS": f"{CONN},{BROKEN}",
        f"AIRFLOW_CONN_{CONN.upper()}": cluster_connection_json(server),
        f"AIRFLOW_CONN_{BROKEN.upper()}": broken_connection_json(),
    }


@dataclass
class Cluster:
    """The seeded fake cluster."""

    server: FakeKubeServer
    kubelet: FakeKubelet


@dataclass
class Page:
    """Airflow's API app with the plugin mounted, and a token per user."""

    client: Any
    tokens: dict[str, str]

    def call(self, method: str, path: str, user: str | None = "viewer", **kwargs: Any) -> Any:
        """One request to the app as ``user`` (None: unauthenticated)."""
        headers = dict(kwargs.pop("headers", {}))
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return self.client.request(method, path, headers=headers, **kwargs)
