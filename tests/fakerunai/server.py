"""A fake NVIDIA Run:ai control plane on loopback, for tests.

:class:`FakeRunai` serves, over real HTTP on 127.0.0.1, the endpoints the
runai backend calls: ``POST /api/v2/token`` (the OAuth2 form; ``token_v2 =
False`` plays an older control plane without it) and ``POST /api/v1/token``
(applications with a client id and secret, tokens that expire), ``GET /api/v1/clusters``, ``GET
/api/v1/org-unit/projects``, ``GET /api/v1/workloads`` (``filterBy``),
``GET /api/v1/workloads/{id}``, and ``POST``/``GET``/``PATCH``/``DELETE`` on
``/api/v1/workloads/inferences``, and the generic-secret credentials under
``/api/v1/asset/credentials`` (:mod:`.credentials`). Every body is validated
against the published schemas (:mod:`.schema`): an unknown or mistyped field is
a 400, a broken cross-field rule a 422, and a workload whose variable takes a
value from a secret its project's namespace lacks a 422. Workloads walk through
scripted phases, one step per status read; permissions can be withheld (403)
and answers faulted (429, 503).
Every request is recorded, bodies included, so a test can look for a secret.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .credentials import CREDENTIALS, Credentials
from .schema import (
    INFERENCE_CREATION_REQUEST,
    INFERENCE_UPDATE_REQUEST,
    TOKEN_REQUEST,
    TOKEN_V2_FORM,
    problems,
    rule_problems,
)

HOST = "127.0.0.1"
CLIENT_ID = "airflow-hfinfer"
CLIENT_SECRET = "runai-app-SeCrEt-5f2c9a"
CLUSTER_NAME = "gpu-cluster"
CLUSTER_ID = "71f69d83-ba66-4822-adf5-55ce55efd210"
INFERENCES = "/api/v1/workloads/inferences"

Step = dict[str, Any]
"""One scripted status: ``phase`` plus optional ``runningPods``, ``phaseMessage``,
``conditions``, ``phaseReason`` and ``age`` (seconds the phase has lasted already)."""

CREATE_SCRIPT: tuple[Step, ...] = (
    {"phase": "Creating"},
    {"phase": "Initializing"},
    {"phase": "Initializing", "runningPods": 1},
    {"phase": "Running", "runningPods": 1},
)
UPDATE_SCRIPT: tuple[Step, ...] = (
    {"phase": "Updating", "runningPods": 1},
    {"phase": "Running", "runningPods": 1},
)


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Record:
    """One request as the fake received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: str

    def text(self) -> str:
        """Everything about the request, for secret scans."""
        return " ".join([self.method, self.path, json.dumps(self.query), self.body])


@dataclass
class Workload:
    """One workload the fake keeps."""

    id: str
    name: str
    project_id: str
    cluster_id: str
    spec: dict[str, Any]
    type: str = "inference"
    created_by: str = CLIENT_ID
    created_at: str = field(default_factory=now_text)
    script: list[Step] = field(default_factory=list)
    current: Step = field(default_factory=lambda: {"phase": "Creating"})
    phase_updated_at: str = field(default_factory=now_text)

    def advance(self) -> None:
        if self.script:
            step = self.script.pop(0)
            if "age" in step:  # a phase that has lasted this many seconds already
                moment = datetime.fromtimestamp(time.time() - step["age"], timezone.utc)
                self.phase_updated_at = moment.isoformat(timespec="milliseconds")
            elif step != self.current:
                self.phase_updated_at = now_text()
            self.current = step

    def set_script(self, steps: list[Step]) -> None:
        self.script = [dict(step) for step in steps]
        self.advance()

    def requested(self) -> dict[str, int]:
        scaling = self.spec.get("autoscaling") or {}
        low = scaling.get("minReplicas", 1)
        return {"min": low, "max": scaling.get("maxReplicas", low), "number": max(low, 1)}

    def record(self, project_name: str) -> dict[str, Any]:
        phase = self.current.get("phase", "Unknown")
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "projectId": self.project_id,
            "projectName": project_name,
            "clusterId": self.cluster_id,
            "submittedBy": self.created_by,
            "createdAt": self.created_at,
            "phase": phase,
            "phaseMessage": self.current.get("phaseMessage", ""),
            "phaseUpdatedAt": self.phase_updated_at,
            "runningPods": self.current.get("runningPods", 0),
            "requestedPods": self.requested(),
            "conditions": self.current.get("conditions", []),
            "urls": [f"https://{self.name}-{project_name}.inference.example.com"],
            **(
                {"phaseReason": self.current["phaseReason"]}
                if "phaseReason" in self.current
                else {}
            ),
        }

    def inference(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requestedName": self.name,
            "workloadId": self.id,
            "projectId": self.project_id,
            "clusterId": self.cluster_id,
            "createdBy": self.created_by,
            "createdAt": self.created_at,
            "desiredPhase": "Running",
            "actualPhase": self.current.get("phase"),
            "spec": copy.deepcopy(self.spec),
        }


@dataclass
class Fault:
    method: str
    path_prefix: str
    status: int
    times: int
    retry_after: float | None = None


class FakeRunai:
    """The fake control plane and the handles tests use to script it."""

    def __init__(self, token_lifetime: int = 3600) -> None:
        self.lock = threading.RLock()
        self.apps = {CLIENT_ID: CLIENT_SECRET}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_lifetime = token_lifetime
        self.token_v2 = True
        """Serve ``/api/v2/token``; False plays a control plane that has only v1."""
        self.clusters = [{"uuid": CLUSTER_ID, "name": CLUSTER_NAME}]
        self.projects: dict[str, str] = {}
        self.workloads: dict[str, Workload] = {}
        self.denied: set[str] = set()
        self.faults: list[Fault] = []
        self.scripts: dict[str, list[Step]] = {}
        self.update_scripts: dict[str, list[Step]] = {}
        self.requests: list[Record] = []
        self.credentials = Credentials(self.projects, CLIENT_ID, now_text)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeRunai:
        server = ThreadingHTTPServer((HOST, 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}"

    def airflow_connection_json(self, **extra: Any) -> str:
        return json.dumps(
            {
                "conn_type": "runai",
                "host": self.url,
                "login": CLIENT_ID,
                "password": CLIENT_SECRET,
                "extra": {"cluster": CLUSTER_NAME, **extra},
            }
        )

    # -------------------------------------------------------------- scripting

    def add_project(self, name: str, project_id: str | None = None) -> str:
        with self.lock:
            pid = project_id or str(len(self.projects) + 2)
            self.projects[pid] = name
            return pid

    def project_name(self, project_id: str) -> str:
        return self.projects.get(project_id, "?")

    def script(self, name: str, steps: list[Step]) -> None:
        """The phases a workload of that name walks through after its next create."""
        with self.lock:
            self.scripts[name] = list(steps)

    def script_update(self, name: str, steps: list[Step]) -> None:
        """The phases a workload of that name walks through after its next update."""
        with self.lock:
            self.update_scripts[name] = list(steps)

    def set_phase(self, name: str, step: Step) -> None:
        """Put a workload in a phase now (the script is dropped)."""
        with self.lock:
            workload = self.by_name(name)
            workload.current = {}
            workload.script = [dict(step)]
            workload.advance()

    def by_name(self, name: str) -> Workload:
        found = [w for w in self.workloads.values() if w.name == name]
        assert len(found) == 1, f"{len(found)} workloads named {name}"
        return found[0]

    def named(self, name: str) -> list[Workload]:
        return [w for w in self.workloads.values() if w.name == name]

    def add_foreign(self, name: str, project_id: str, *, kind: str = "inference") -> Workload:
        """A workload someone else submitted (no provider labels)."""
        with self.lock:
            workload = Workload(
                str(uuid.uuid4()),
                name,
                project_id,
                CLUSTER_ID,
                {"image": "nginx", "labels": [{"name": "team", "value": "web"}]},
                type=kind,
                created_by="ana@example.com",
                current={"phase": "Running", "runningPods": 1},
            )
            self.workloads[workload.id] = workload
            return workload

    def deny(self, permission: str) -> None:
        """Answer 403 to ``METHOD path-prefix`` (e.g. ``POST /api/v1/workloads/inferences``)."""
        self.denied.add(permission)

    def fail(
        self,
        method: str,
        path_prefix: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.faults.append(Fault(method, path_prefix, status, times, retry_after))

    def sent(self, method: str | None = None, path_prefix: str = "") -> list[Record]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and r.path.startswith(path_prefix)
        ]

    def all_text(self) -> Iterator[str]:
        for record in self.requests:
            yield record.text()
        for workload in self.workloads.values():
            yield json.dumps(workload.spec)

    # ---------------------------------------------------------------- routing

    def issue_token(self, body: Any) -> tuple[int, Any]:
        found = problems(TOKEN_REQUEST, body)
        if found:
            return 400, {"code": 400, "message": "; ".join(found)}
        client = body.get("clientID") or body.get("appID")
        secret = body.get("clientSecret") or body.get("appSecret")
        if body.get("grantType") not in ("client_credentials", "app_token") or (
            self.apps.get(client) != secret
        ):
            return 401, {"code": 401, "message": "invalid client credentials"}
        token = secrets.token_hex(16)
        self.tokens[token] = (client, time.time() + self.token_lifetime)
        return 200, {"accessToken": token, "expiresIn": self.token_lifetime}

    def issue_token_v2(self, content_type: str, raw: str) -> tuple[int, Any]:
        if not self.token_v2:
            return 404, {"code": 404, "message": "not found"}
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request", "error_description": "form body expected"}
        form = dict(parse_qsl(raw, keep_blank_values=True))
        found = problems(TOKEN_V2_FORM, form)
        if found:
            return 400, {"error": "invalid_request", "error_description": "; ".join(found)}
        client = form.get("client_id", "")
        if form["grant_type"] != "client_credentials" or self.apps.get(client) != form.get(
            "client_secret"
        ):
            return 401, {"error": "invalid_client", "error_description": "bad credentials"}
        token = secrets.token_hex(16)
        self.tokens[token] = (client, time.time() + self.token_lifetime)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }

    def authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        entry = self.tokens.get(token)
        return entry is not None and entry[1] > time.time()

    def fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.startswith(fault.path_prefix) and fault.times:
                fault.times -= 1
                return fault
        return None

    def route(
        self, method: str, path: str, query: list[tuple[str, str]], body: Any
    ) -> tuple[int, Any]:
        with self.lock:
            if method == "GET" and path == "/api/v1/clusters":
                return 200, copy.deepcopy(self.clusters)
            if method == "GET" and path == "/api/v1/org-unit/projects":
                return 200, self.list_projects(query)
            if method == "GET" and path == "/api/v1/workloads":
                return 200, self.list_workloads(query)
            if path.startswith(CREDENTIALS):
                return self.credentials.route(method, path, query, body)
            if path == INFERENCES and method == "POST":
                return self.create(body)
            if path.startswith(INFERENCES + "/"):
                return self.inference_call(method, path[len(INFERENCES) + 1 :], body)
            if method == "GET" and path.startswith("/api/v1/workloads/"):
                workload = self.workloads.get(path.rsplit("/", 1)[1])
                if workload is None:
                    return 404, {"code": 404, "message": "workload not found"}
                workload.advance()
                return 200, workload.record(self.project_name(workload.project_id))
            return 404, {"code": 404, "message": f"no route {method} {path}"}

    def list_projects(self, query: list[tuple[str, str]]) -> dict[str, Any]:
        cluster = next(
            (
                v.split("==", 1)[1]
                for k, v in query
                if k == "filterBy" and v.startswith("clusterId")
            ),
            None,
        )
        projects = [
            {"id": pid, "name": name, "clusterId": CLUSTER_ID}
            for pid, name in self.projects.items()
        ]
        if cluster is not None:
            projects = [p for p in projects if p["clusterId"] == cluster]
        return {"projects": projects}

    def list_workloads(self, query: list[tuple[str, str]]) -> dict[str, Any]:
        filters = [v for k, v in query if k == "filterBy"]
        found = []
        for workload in self.workloads.values():
            record = workload.record(self.project_name(workload.project_id))
            if all(str(record.get(f.split("==")[0])) == f.split("==", 1)[1] for f in filters):
                found.append(record)
        return {"workloads": found, "next": 0}

    def create(self, body: Any) -> tuple[int, Any]:
        found = problems(INFERENCE_CREATION_REQUEST, body)
        if found:
            return 400, {"code": 400, "message": "; ".join(found)}
        if body["projectId"] not in self.projects or body["clusterId"] != CLUSTER_ID:
            return 404, {"code": 404, "message": "project or cluster not found"}
        rules = rule_problems(body.get("spec") or {})
        rules += self.credentials.missing_secrets(body["projectId"], body.get("spec") or {})
        if rules:
            return 422, {"code": 422, "message": "; ".join(rules)}
        if any(
            w.name == body["name"] and w.project_id == body["projectId"]
            for w in self.workloads.values()
        ):
            return 409, {"code": 409, "message": f"workload {body['name']} already exists"}
        workload = Workload(
            str(uuid.uuid4()), body["name"], body["projectId"], body["clusterId"], body["spec"]
        )
        workload.set_script(self.scripts.pop(body["name"], list(CREATE_SCRIPT)))
        self.workloads[workload.id] = workload
        return 202, workload.inference()

    def inference_call(self, method: str, workload_id: str, body: Any) -> tuple[int, Any]:
        workload = self.workloads.get(workload_id)
        if workload is None or workload.type != "inference":
            return 404, {"code": 404, "message": "inference not found"}
        if method == "GET":
            return 200, workload.inference()
        if method == "DELETE":
            del self.workloads[workload_id]
            return 202, {"code": 202, "message": "deletion requested"}
        if method == "PATCH":
            found = problems(INFERENCE_UPDATE_REQUEST, body)
            if found:
                return 400, {"code": 400, "message": "; ".join(found)}
            spec = {**workload.spec, **(body.get("spec") or {})}
            rules = rule_problems(spec)
            rules += self.credentials.missing_secrets(workload.project_id, spec)
            if rules:
                return 422, {"code": 422, "message": "; ".join(rules)}
            workload.spec = spec
            workload.set_script(self.update_scripts.pop(workload.name, list(UPDATE_SCRIPT)))
            return 202, workload.inference()
        return 405, {"code": 405, "message": "method not allowed"}


def _permission(method: str, path: str) -> str:
    return f"{method} {path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def _answer(self, status: int, body: Any, retry_after: float | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        fake: FakeRunai = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qsl(parts.query)
        with fake.lock:
            fake.requests.append(Record(self.command, parts.path, query, headers, raw))
            fault = fake.fault_for(self.command, parts.path)
        if fault is not None:
            self._answer(
                fault.status, {"code": fault.status, "message": "injected"}, fault.retry_after
            )
            return
        if parts.path == "/api/v2/token" and self.command == "POST":
            with fake.lock:
                status, answer = fake.issue_token_v2(headers.get("content-type", ""), raw)
            self._answer(status, answer)
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._answer(400, {"code": 400, "message": "body is not JSON"})
            return
        if parts.path == "/api/v1/token" and self.command == "POST":
            with fake.lock:
                status, answer = fake.issue_token(body)
            self._answer(status, answer)
            return
        if not fake.authorized(headers):
            self._answer(401, {"code": 401, "message": "missing or expired token"})
            return
        if any(_permission(self.command, parts.path).startswith(p) for p in fake.denied):
            self._answer(403, {"code": 403, "message": "permission denied"})
            return
        status, answer = fake.route(self.command, parts.path, query, body)
        self._answer(status, answer)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle
