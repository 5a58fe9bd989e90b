"""The Airflow plugin that puts the Workloads page into the Airflow 3 UI.

This module owns the plugin's registration (the package's ``airflow.plugins``
entry point names :class:`WorkloadsPlugin`): a FastAPI app mounted by the API
server under ``/hfinfer`` and an external view, "Inference workloads", in the
UI's navigation, which the UI embeds as an iframe at ``/plugin/inference-workloads``.

Every Airflow process that loads plugins (workers too, for macros) imports this
module, so the app is built only when the API server asks for ``fastapi_apps``:
FastAPI and the page's code are not imported anywhere else.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/hfinfer"
PAGE_NAME = "Inference workloads"
URL_ROUTE = "inference-workloads"


class _LazyApps:
    """``fastapi_apps``, built on first read and then kept (one app per process)."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._apps is None:
            from airflow_provider_hfinfer.ui.app import create_app

            self._apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": PAGE_NAME}]
        return self._apps


class WorkloadsPlugin(AirflowPlugin):
    """Registers the Workloads page: its API app and its navigation entry."""

    name = "hfinfer_workloads"
    fastapi_apps = _LazyApps()
    external_views = [
        {
            "name": PAGE_NAME,
            "href": f"{URL_PREFIX}/",
            "url_route": URL_ROUTE,
            "destination": "nav",
            "icon": f"{URL_PREFIX}/icon.svg",
        }
    ]
