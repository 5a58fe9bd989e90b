"""The Workloads page's FastAPI app, mounted by Airflow's API server under ``/hfinfer``.

This module owns the page's HTTP surface and who may use it:

* ``GET /`` the page itself (one self-contained HTML file), ``GET /icon.svg``;
* ``GET /api/connections``: the connections the page may list (Airflow config
  ``[hfinfer] workloads_connections``) and those chosen by default
  (``workloads_default_connections``);
* ``GET /api/workloads?connection=...``: the table rows and the errors per
  connection and namespace;
* ``GET /api/workloads/{connection}/{namespace}/{name}``: the detail panel;
* ``POST .../complete`` and ``POST .../delete`` with ``{"confirm": "<name>"}``:
  mark Completed (the TTL starts) or delete now.

Every API route needs an Airflow user (the API server's JWT, from the bearer
header or the UI's cookie). Rows are shown to users who may read the DAG that
deployed the workload; the actions need permission to edit that DAG
(``is_authorized_dag(method="PUT")`` of the configured auth manager), are
refused with 403 otherwise, and re-read the owner from the cluster rather than
trust the page. Actions take a JSON body only, which a cross-site form cannot
send.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.resources import files
from typing import Annotated, Any, Literal

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from airflow_provider_hfinfer.ui.listing import expected_errors

log = logging.getLogger(__name__)

CONFIG_SECTION = "hfinfer"
CONNECTIONS_OPTION = "workloads_connections"
DEFAULTS_OPTION = "workloads_default_connections"
DEFAULT_CONNECTION = "kubernetes_default"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

Clock = Callable[[], datetime]
Method = Literal["GET", "PUT"]


class Confirmation(BaseModel):
    """The body of an action: the person confirms by naming the workload again.

    Attributes:
        confirm: The workload's name.
    """

    model_config = ConfigDict(extra="forbid")

    confirm: str


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _listed(option: str, fallback: str) -> list[str]:
    from airflow.configuration import conf

    raw = conf.get(CONFIG_SECTION, option, fallback=fallback) or ""
    return list(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))


def allowed_connections() -> list[str]:
    """The connections the page may list: ``[hfinfer] workloads_connections``."""
    return _listed(CONNECTIONS_OPTION, DEFAULT_CONNECTION)


def default_connections() -> list[str]:
    """The connections chosen when the page opens (default: every allowed one)."""
    allowed = allowed_connections()
    chosen = [item for item in _listed(DEFAULTS_OPTION, "") if item in allowed]
    return chosen or allowed


def _check_connection(connection: str) -> None:
    if connection not in allowed_connections():
        raise HTTPException(
            400,
            f"connection {connection!r} is not one the Workloads page lists: add it to "
            f"[{CONFIG_SECTION}] {CONNECTIONS_OPTION} (now: {', '.join(allowed_connections())})",
        )


def _check_names(namespace: str, name: str) -> None:
    for what, value in (("namespace", namespace), ("name", name)):
        if not _DNS_LABEL.match(value):
            raise HTTPException(
                400, f"{what} {value[:80]!r} is not a Kubernetes name (DNS-1123 label)"
            )


def _can(user: Any, method: Method, dag_id: str | None) -> bool:
    """Whether the auth manager lets ``user`` use ``method`` on the DAG (any DAG: None)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    details = DagDetails(id=dag_id) if dag_id else None
    return bool(get_auth_manager().is_authorized_dag(method=method, user=user, details=details))


class _Permissions:
    """Per-request memo of the auth manager's answers, one per DAG and method."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self._seen: dict[tuple[Method, str | None], bool] = {}

    def can(self, method: Method, dag_id: str | None) -> bool:
        key = (method, dag_id)
        if key not in self._seen:
            self._seen[key] = _can(self.user, method, dag_id)
        return self._seen[key]


def _upstream(connection: str, err: BaseException) -> HTTPException:
    """502 with the cluster's refusal mapped as the table maps it (permission, unreachable)."""
    from airflow_provider_hfinfer.ui.listing import error_of

    problem = error_of(connection, None, err)
    return HTTPException(
        502, {"reason": problem.reason, "status": problem.status, "message": problem.message}
    )


def _now(request: Request) -> datetime:
    """The app's clock (a dependency, so tests can fix it)."""
    clock: Clock = request.app.state.clock
    return clock()


Now = Annotated[datetime, Depends(_now)]
router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    """The page: one self-contained HTML file."""
    html = files("airflow_provider_hfinfer.ui").joinpath("static/workloads.html")
    return HTMLResponse(html.read_text(encoding="utf-8"))


@router.get("/icon.svg", include_in_schema=False)
def icon() -> Response:
    """The navigation icon."""
    svg = files("airflow_provider_hfinfer.ui").joinpath("static/icon.svg")
    return Response(svg.read_text(encoding="utf-8"), media_type="image/svg+xml")


@router.get("/api/connections")
def connections(user: GetUserDep) -> dict[str, Any]:
    """The connections the page may list and those chosen by default."""
    return {
        "connections": allowed_connections(),
        "default": default_connections(),
        "user": user.get_name(),
    }


def _table(chosen: list[str], permissions: _Permissions, now: datetime) -> dict[str, Any]:
    from airflow_provider_hfinfer.ui.listing import list_connections
    from airflow_provider_hfinfer.ui.rows import build_rows

    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for listing in list_connections(chosen):
        shown = 0
        for row in build_rows(listing.objects, listing.connection, now, listing.options):
            dag_id = row.owner.dag_id if row.owner else None
            if permissions.can("GET", dag_id):
                rows.append({**row.to_json(), "can_edit": permissions.can("PUT", dag_id)})
                shown += 1
        errors.extend(error.to_json() for error in listing.errors)
        summary.append(
            {
                "connection": listing.connection,
                "namespaces": list(listing.namespaces),
                "workloads": shown,
                "list_calls": listing.requests,
            }
        )
    return {"read_at": now.isoformat(), "rows": rows, "errors": errors, "connections": summary}


@router.get("/api/workloads")
def workloads(
    user: GetUserDep, now: Now, connection: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    """The table: one row per workload the user may read, and what could not be read."""
    chosen = list(dict.fromkeys(connection or default_connections()))
    for item in chosen:
        _check_connection(item)
    return _table(chosen, _Permissions(user), now)


@router.get("/api/workloads/{connection}/{namespace}/{name}")
def detail(
    user: GetUserDep, now: Now, connection: str, namespace: str, name: str
) -> dict[str, Any]:
    """The detail panel of one workload."""
    from airflow_provider_hfinfer.ui.detail import build_detail
    from airflow_provider_hfinfer.ui.listing import read_workload
    from airflow_provider_hfinfer.ui.rows import build_row

    _check_connection(connection)
    _check_names(namespace, name)
    try:
        reading = read_workload(connection, namespace, name, now)
    except expected_errors() as err:  # shown to the person, never swallowed
        raise _upstream(connection, err) from err
    if reading.members is None or reading.status is None:
        raise HTTPException(404, f"no workload {namespace}/{name} via {connection}")
    row = build_row(reading.members, connection, now, reading.options, reading.status)
    dag_id = row.owner.dag_id if row.owner else None
    permissions = _Permissions(user)
    if not permissions.can("GET", dag_id):
        raise HTTPException(403, f"you may not read DAG {dag_id or '(any)'}")
    shown = build_detail(
        row, reading.members, reading.status, reading.log_pod, reading.log_tail, now
    )
    shown["can_edit"] = permissions.can("PUT", dag_id)
    return shown


def _authorize_action(
    user: Any, connection: str, namespace: str, name: str, body: Confirmation
) -> list[dict[str, Any]]:
    """The workload's objects, once the user may edit the DAG that owns it; else 4xx."""
    from airflow_provider_hfinfer.spec.names import owner_of
    from airflow_provider_hfinfer.ui.listing import workload_objects
    from airflow_provider_hfinfer.ui.rows import parse_owner

    _check_connection(connection)
    _check_names(namespace, name)
    if body.confirm != name:
        raise HTTPException(400, f"confirm with the workload's name ({name!r})")
    try:
        objects = workload_objects(connection, namespace, name)
    except expected_errors() as err:
        raise _upstream(connection, err) from err
    if not objects:
        raise HTTPException(404, f"no workload {namespace}/{name} via {connection}")
    speaker = next((o for o in objects if o.get("kind") == "Deployment"), objects[0])
    owner = parse_owner(owner_of(speaker))
    dag_id = owner.dag_id if owner else None
    if not _can(user, "PUT", dag_id):
        raise HTTPException(
            403,
            f"user {user.get_name()!r} may not edit DAG {dag_id or '(every DAG)'}, which "
            f"owns workload {namespace}/{name}: ask for edit permission on that DAG",
        )
    return objects


@router.post("/api/workloads/{connection}/{namespace}/{name}/complete")
def complete(
    user: GetUserDep, now: Now, connection: str, namespace: str, name: str, body: Confirmation
) -> dict[str, Any]:
    """Mark the workload Completed, as the complete operator does: its TTL starts."""
    from airflow_provider_hfinfer.ui.listing import complete_workload

    _authorize_action(user, connection, namespace, name, body)
    try:
        result = complete_workload(connection, namespace, name, now)
    except expected_errors() as err:
        raise _upstream(connection, err) from err
    log.info("workloads page: %s marked %s/%s Completed", user.get_name(), namespace, name)
    return result.to_xcom()


@router.post("/api/workloads/{connection}/{namespace}/{name}/delete")
def delete(
    user: GetUserDep, connection: str, namespace: str, name: str, body: Confirmation
) -> dict[str, Any]:
    """Delete every object of the workload now, as the delete operator does."""
    from airflow_provider_hfinfer.ui.listing import delete_workload

    objects = _authorize_action(user, connection, namespace, name, body)
    try:
        deleted = delete_workload(connection, namespace, name, objects)
    except expected_errors() as err:
        raise _upstream(connection, err) from err
    log.info(
        "workloads page: %s deleted %s/%s: %s",
        user.get_name(),
        namespace,
        name,
        ", ".join(deleted),
    )
    return {"name": name, "namespace": namespace, "deleted": deleted}


def create_app(clock: Clock = _utc_now) -> FastAPI:
    """Build the page's app (Airflow mounts it; tests may pass a fixed clock)."""
    app = FastAPI(title="Inference workloads", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.clock = clock
    app.include_router(router)
    return app
