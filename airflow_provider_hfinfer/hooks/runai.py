"""The thin Run:ai hook: the Airflow ``runai`` connection, its settings, one session per task.

This module owns how a task reaches the NVIDIA Run:ai control plane: the
connection (type ``runai``; host: the control-plane URL; login: the
application's client id; password: its client secret, masked; extra
``cluster``: the cluster's name or UUID, plus ``hfinfer_*`` render settings such
as ``hfinfer_default_image``) and one :class:`~airflow_provider_hfinfer.runai.
session.RunaiSession` per hook, so names resolve to ids once per task. Every
token the client obtains is registered with Airflow's secrets masker. No
business rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_hfinfer.render.options import RenderOptions
from airflow_provider_hfinfer.runai.client import RunaiClient
from airflow_provider_hfinfer.runai.session import RunaiSession


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


class RunaiHook(BaseHook):
    """Talks to one NVIDIA Run:ai control plane as one application.

    Args:
        runai_conn_id: The Airflow ``runai`` connection.
    """

    conn_name_attr = "runai_conn_id"
    default_conn_name = "runai_default"
    conn_type = "runai"
    hook_name = "NVIDIA Run:ai (Hugging Face inference)"

    def __init__(self, runai_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.runai_conn_id = runai_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the connection form names its fields."""
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "host": "Control-plane URL",
                "login": "Application client ID",
                "password": "Application client secret",
            },
            "placeholders": {
                "host": "https://acme.run.ai",
                "extra": '{"cluster": "gpu-cluster"}',
            },
        }

    @cached_property
    def connection(self) -> Any:
        """The Airflow connection (read once)."""
        return self.get_connection(self.runai_conn_id)

    def extras(self) -> dict[str, Any]:
        """The connection's extra dict (empty when it has none)."""
        extras = self.connection.extra_dejson
        return dict(extras) if isinstance(extras, Mapping) else {}

    def render_options(self, overrides: Mapping[str, Any] | None = None) -> RenderOptions:
        """Settings: the connection's ``hfinfer_*`` extras, then operator-level overrides."""
        return RenderOptions.from_extras(self.extras(), overrides)

    def base_url(self) -> str:
        """The control plane's URL (``https://`` added when the host has no scheme)."""
        host = str(self.connection.host or "").strip().rstrip("/")
        if not host:
            raise ValueError(
                f"runai connection {self.runai_conn_id!r} has no host: set it to the "
                "control plane's URL, e.g. https://acme.run.ai"
            )
        return host if "://" in host else f"https://{host}"

    @cached_property
    def session(self) -> RunaiSession:
        """The task's session (names resolved once, token reused)."""
        connection = self.connection
        cluster = str(self.extras().get("cluster") or "").strip()
        if not connection.login or not connection.password or not cluster:
            raise ValueError(
                f"runai connection {self.runai_conn_id!r} needs login (the application's "
                "client id), password (its client secret) and the extra 'cluster' (the "
                "cluster's name or UUID)"
            )
        _mask(str(connection.password))
        client = RunaiClient(
            self.base_url(), str(connection.login), str(connection.password), on_token=_mask
        )
        return RunaiSession(client, cluster)
