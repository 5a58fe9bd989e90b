"""The HTTP transport and the :class:`FakeKubeServer` facade tests use.

The transport is a standard-library ``ThreadingHTTPServer`` speaking HTTP/1.1 with
keep-alive, bound to 127.0.0.1 on an ephemeral port. For each request it records a
:class:`~fakekube.requestlog.RequestRecord`, applies injected faults, checks the
bearer token, routes through :class:`~fakekube.router.Router` and writes the
response; watches are streamed as newline-delimited JSON with chunked encoding.
"""

from __future__ import annotations

import copy
import json
import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import errors
from .admission import Validator
from .backends import PodLogs, ProxyHandler, ProxyRegistry, ProxyRequest
from .errors import ApiError
from .faults import Fault, FaultInjector
from .patching import merge_patch
from .policy import Rbac, check_token
from .requestlog import WRITE_METHODS, RequestLog, RequestRecord
from .resources import ResourceRegistry, ResourceType
from .router import PUBLIC_PATHS, Request, Response, Router, WatchPlan
from .store import Store

JsonDict = dict[str, Any]
LOG = logging.getLogger(__name__)
DEFAULT_USER = "system:serviceaccount:airflow:hfinfer"
DEFAULT_TOKEN = "fakekube-token"
HOST = "127.0.0.1"

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USER", "FakeKubeServer", "ProxyRequest"]


_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
"""What a socket raises when the client hung up or stopped reading: not a server fault."""


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeKubeServer) -> None:
        super().__init__((HOST, 0), _Handler)
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints every handler exception to stderr; a client that went
        # away mid-request (a timeout, a cancelled watch, a killed task) is routine, and
        # a traceback in a green run reads as a failure. Real faults still print.

        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            LOG.debug("fakekube: client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError as exc:
            LOG.debug("fakekube: error closing connection: %s", exc)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        LOG.debug("fakekube: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    # ------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _request(self) -> Request:
        split = urlsplit(self.path)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        return Request(
            method=self.command,
            path=unquote(split.path),
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            content_type=content_type,
            body=self._read_body(),
            headers={k.lower(): v for k, v in self.headers.items()},
        )

    def _record(self, req: Request, status: int) -> None:
        self.server.fake.requests.append(
            RequestRecord(
                method=req.method,
                path=req.path,
                query=dict(req.query),
                content_type=req.content_type,
                is_write=req.method in WRITE_METHODS,
                verb=req.verb,
                status=status,
            )
        )

    def _send(self, resp: Response) -> None:
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            self.send_header("Cache-Control", "no-cache, private")
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(resp.body)
        except _CLIENT_GONE as exc:
            # The client hung up before reading the answer: nothing to answer to.
            LOG.debug("fakekube: client went away before the response: %s", exc)
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            LOG.debug("fakekube: dropping connection: %s", exc)

    # ------------------------------------------------------------- dispatch

    def _dispatch(self) -> None:
        fake = self.server.fake
        req = self._request()
        fault = fake.faults.take(req.method, req.path)
        if fault is not None and self._inject(req, fault):
            return
        try:
            if req.path not in PUBLIC_PATHS:
                check_token(fake.token, self.headers.get("Authorization"))
            outcome = fake.router.route(req)
        except ApiError as err:
            self._record(req, err.code)
            self._send(Response.error(err))
            return
        if isinstance(outcome, WatchPlan):
            self._record(req, 200)
            _WatchStream(self, outcome).run()
            return
        self._record(req, outcome.status)
        self._send(outcome)

    def _inject(self, req: Request, fault: Fault) -> bool:
        """Act on a fault; True when the request has been fully handled."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop_connection:
            self._record(req, 0)
            self._drop()
            return True
        if fault.status is None:
            return False
        err = errors.injected(fault.status, fault.retry_after)
        self._record(req, err.code)
        self._send(Response.error(err))
        return True


class _WatchStream:
    """Streams one watch as chunked newline-delimited JSON events."""

    def __init__(self, handler: _Handler, plan: WatchPlan) -> None:
        self.handler = handler
        self.plan = plan
        self.fake = handler.server.fake

    def _chunk(self, data: bytes) -> None:
        self.handler.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def _event(self, event_type: str, obj: JsonDict) -> None:
        self._chunk(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")

    def _bookmark(self, rv: int) -> None:
        res = self.plan.res
        self._event(
            "BOOKMARK",
            {
                "kind": res.kind,
                "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(rv)},
            },
        )

    def _client_gone(self) -> bool:
        sock = self.handler.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def run(self) -> None:
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache, private")
        handler.end_headers()
        self.fake._watch_opened(+1)
        try:
            self._stream()
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            LOG.debug("fakekube: watch client went away: %s", exc)
            handler.close_connection = True
        finally:
            self.fake._watch_opened(-1)

    def _stream(self) -> None:
        plan, store = self.plan, self.fake.store
        deadline = time.monotonic() + plan.timeout
        try:
            initial, after = store.watch_start(
                plan.res, plan.namespace, plan.selector, plan.resource_version
            )
        except ApiError as err:
            self._event("ERROR", err.status())
            return
        for event_type, obj in initial:
            self._event(event_type, obj)
        next_bookmark = time.monotonic() + self.fake.bookmark_interval
        while not store.closed and not self._client_gone():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                wait = min(remaining, 0.5)
                if plan.bookmarks:
                    wait = max(0.0, min(wait, next_bookmark - time.monotonic()))
                found, after = store.watch_next(
                    plan.res, plan.namespace, plan.selector, after, wait
                )
            except ApiError as err:
                self._event("ERROR", err.status())
                return
            for event_type, obj in found:
                self._event(event_type, obj)
            if plan.bookmarks and time.monotonic() >= next_bookmark:
                self._bookmark(after)
                next_bookmark = time.monotonic() + self.fake.bookmark_interval


class FakeKubeServer:
    """An in-process fake Kubernetes API server for tests.

    Args:
        token: Bearer token clients must send; None disables the check.
        user: User name quoted in 403 messages.
        history_size: Watch events kept for replay; older resourceVersions get 410.
        resources: Served resources; defaults to the project's set.
        builtin_validation: Run built-in validation (name format, container image/name).
        default_watch_timeout: Seconds a watch without ``timeoutSeconds`` stays open.
        bookmark_interval: Seconds between BOOKMARK events for ``allowWatchBookmarks``.

    Attributes:
        faults: Fault injection rules.
        requests: The request log.
        rbac: Authorization simulation (also via :meth:`deny`).
        proxies: Service proxy handlers (also via :meth:`register_proxy`).
        logs: Pod logs (also via :meth:`set_pod_log`).
        store: The object store.
        registry: The served resources.
    """

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        user: str = DEFAULT_USER,
        history_size: int = 1000,
        resources: list[ResourceType] | None = None,
        builtin_validation: bool = True,
        default_watch_timeout: float = 60.0,
        bookmark_interval: float = 30.0,
    ) -> None:
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.registry = ResourceRegistry(resources)
        self.store = Store(self.registry, history_size, builtin_validation)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.rbac = Rbac(user)
        self.proxies = ProxyRegistry()
        self.logs = PodLogs()
        self.router = Router(
            self.registry, self.store, self.rbac, self.proxies, self.logs, default_watch_timeout
        )
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._watches_lock = threading.Lock()
        self._open_watches = 0
        self.create_namespace("default")

    # ------------------------------------------------------------- lifecycle

    @property
    def open_watches(self) -> int:
        """Watch streams open right now (the API server's long-running request count)."""
        with self._watches_lock:
            return self._open_watches

    def _watch_opened(self, change: int) -> None:
        with self._watches_lock:
            self._open_watches += change

    def start(self) -> FakeKubeServer:
        """Bind 127.0.0.1 on an ephemeral port and serve in a background thread."""
        if self._http is not None:
            return self
        self._http = _HttpServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="fakekube", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """End watches, close client connections and stop serving."""
        http, self._http = self._http, None
        if http is None:
            return
        self.store.close()
        http.shutdown()
        with http.connections_lock:
            open_sockets = list(http.connections)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                LOG.debug("fakekube: closing client socket: %s", exc)
        http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeKubeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._http is None:
            raise RuntimeError("fake kube server is not started")
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{HOST}:{self.port}"

    # ------------------------------------------------------------ client config

    def kubeconfig_dict(self, namespace: str = "default") -> JsonDict:
        """A kubeconfig pointing at this server with its bearer token."""
        user: JsonDict = {"token": self.token} if self.token else {}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fakekube", "cluster": {"server": self.url}}],
            "users": [{"name": "fakekube-user", "user": user}],
            "contexts": [
                {
                    "name": "fakekube",
                    "context": {
                        "cluster": "fakekube",
                        "user": "fakekube-user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "fakekube",
            "preferences": {},
        }

    def airflow_connection_json(self, namespace: str = "default") -> str:
        """The JSON for ``AIRFLOW_CONN_<ID>`` defining a kubernetes connection to this server."""
        extra = {"kube_config": json.dumps(self.kubeconfig_dict(namespace)), "namespace": namespace}
        return json.dumps({"conn_type": "kubernetes", "extra": extra})

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` configured for this server (caller closes it)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        if self.token:
            config.api_key = {"authorization": f"Bearer {self.token}"}
        return client.ApiClient(config)

    # ------------------------------------------------------------ seeding / control

    def _resource(self, group_version: str, plural: str) -> ResourceType:
        res = self.registry.by_group_version(group_version, plural)
        if res is None:
            raise KeyError(f"{plural} in {group_version} is not served")
        return res

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> JsonDict:
        """Create (or keep) a namespace, as ``kubectl create namespace`` would."""
        meta: JsonDict = {"name": name}
        if labels:
            meta["labels"] = dict(labels)
        res = self._resource("v1", "namespaces")
        existing = self.get_object("v1", "namespaces", None, name)
        if existing is not None:
            return existing
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
        self.store.default(res, obj)
        return self.store.put(res, obj)

    def put_object(self, obj: JsonDict) -> JsonDict:
        """Seed or overwrite an object verbatim (no admission, RBAC or namespace check).

        Raises:
            KeyError: When ``apiVersion``/``kind`` is not served.
        """
        res = self.registry.by_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
        if res is None:
            raise KeyError(f"{obj.get('kind')} in {obj.get('apiVersion')} is not served")
        return self.store.put(res, copy.deepcopy(obj))

    def get_object(
        self, group_version: str, plural: str, namespace: str | None, name: str
    ) -> JsonDict | None:
        """A stored object, or None."""
        try:
            return self.store.get(self._resource(group_version, plural), namespace, name)
        except ApiError as err:
            if err.code == 404:
                return None
            raise

    def list_objects(
        self,
        group_version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[JsonDict]:
        """Every stored object of a resource (in one namespace, or all), optionally by label."""
        from .selectors import Selector

        res = self._resource(group_version, plural)
        listed = self.store.list_objects(res, namespace, Selector.parse(label_selector, None, res))
        return list(listed["items"])

    def update(
        self,
        group_version: str,
        plural: str,
        namespace: str | None,
        name: str,
        change: Callable[[JsonDict], None] | JsonDict,
    ) -> JsonDict:
        """Mutate an object as a controller would: bump resourceVersion, emit MODIFIED.

        Args:
            group_version: ``apps/v1``, ``v1``, ...
            plural: Resource plural.
            namespace: Namespace (None for cluster-scoped).
            name: Object name.
            change: A function editing the object in place, or a merge patch dict.

        Raises:
            ApiError: 404 when the object does not exist.
        """
        res = self._resource(group_version, plural)
        if callable(change):
            return self.store.mutate(res, namespace, name, change)
        patch = change

        def _merge(obj: JsonDict) -> None:
            merged = merge_patch(obj, patch)
            obj.clear()
            obj.update(merged)

        return self.store.mutate(res, namespace, name, _merge)

    def set_status(
        self, group_version: str, plural: str, namespace: str | None, name: str, status: JsonDict
    ) -> JsonDict:
        """Replace an object's ``status`` (emits MODIFIED; generation unchanged)."""
        return self.update(
            group_version,
            plural,
            namespace,
            name,
            lambda obj: obj.__setitem__("status", copy.deepcopy(status)),
        )

    def delete_object(
        self, group_version: str, plural: str, namespace: str | None, name: str
    ) -> JsonDict:
        """Delete an object (with background cascade) as a controller would."""
        return self.store.delete(
            self._resource(group_version, plural), namespace, name, "Background", False
        )

    def compact(self) -> None:
        """Forget the watch history so any older resourceVersion gets 410 Gone."""
        self.store.compact()

    def add_resource(self, res: ResourceType) -> None:
        """Serve an additional resource (for example another CRD)."""
        self.registry.add(res)

    # -------------------------------------------------------------- behaviour hooks

    def deny(self, verb: str, resource: str, namespace: str | None = None, group: str = "") -> None:
        """Make ``verb`` on ``resource`` answer 403 (see :meth:`Rbac.deny`)."""
        self.rbac.deny(verb, resource, namespace, group)

    def add_validator(self, group: str, kind: str, validator: Validator) -> None:
        """Run ``validator`` on writes of ``kind``; returned causes become 422 Invalid."""
        self.store.validators.add(group, kind, validator)

    def register_proxy(
        self, namespace: str, service: str, handler: ProxyHandler, port: str | None = None
    ) -> None:
        """Answer ``services/<service>[:port]/proxy/...`` with ``handler(ProxyRequest)``.

        The handler returns ``(status, body)`` or ``(status, body, headers)``; a dict or
        list body is sent as JSON, ``str`` as text, ``bytes`` verbatim.
        """
        self.proxies.register(namespace, service, handler, port)

    def set_pod_log(
        self, namespace: str, pod: str, text: str, container: str | None = None
    ) -> None:
        """Set the text ``pods/<pod>/log`` returns."""
        self.logs.set(namespace, pod, text, container)
