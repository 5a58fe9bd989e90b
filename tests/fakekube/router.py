"""Routing of REST requests to the store: URL parsing, verbs, RBAC, bodies and responses.

The router is transport-free: it takes a parsed :class:`Request` and returns a
:class:`Response` (or a :class:`WatchPlan` the HTTP layer streams), raising
:class:`~fakekube.errors.ApiError` for failures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import errors
from .backends import PodLogs, ProxyRegistry, ProxyRequest, tail
from .errors import ApiError
from .policy import Rbac
from .resources import ResourceRegistry, ResourceType
from .selectors import Selector
from .store import APPLY_PATCH, Store, WriteOptions

JsonDict = dict[str, Any]

VERSION_INFO: JsonDict = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0-fakekube",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
PUBLIC_PATHS = HEALTH_PATHS | {"/version"}
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass
class Request:
    """A parsed HTTP request."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: bytes
    headers: dict[str, str]
    verb: str = ""

    @property
    def dry_run(self) -> bool:
        """Whether ``dryRun=All`` was requested."""
        return self.query.get("dryRun") == "All"


@dataclass
class Response:
    """A complete (non-streaming) response."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(payload).encode())

    @classmethod
    def error(cls, err: ApiError) -> Response:
        """A ``Status`` response for an error."""
        resp = cls.json(err.code, err.status())
        resp.headers.update(err.headers)
        return resp


@dataclass(frozen=True)
class WatchPlan:
    """What a watch request asks for; the HTTP layer streams it."""

    res: ResourceType
    namespace: str | None
    selector: Selector
    resource_version: str | None
    timeout: float
    bookmarks: bool


@dataclass(frozen=True)
class Target:
    """The resource a REST path addresses."""

    res: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None


def _split_resource_path(path: str) -> tuple[str, str, list[str]] | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 4 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def _not_served() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def parse_target(path: str, registry: ResourceRegistry) -> Target:
    """Resolve a REST path to a :class:`Target`.

    Raises:
        ApiError: 404 when no served resource matches.
    """
    split = _split_resource_path(path)
    if split is None:
        raise _not_served()
    group, version, rest = split
    namespace = None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)
    ):
        namespace, rest = rest[1], rest[2:]
    res = registry.lookup(group, version, rest[0])
    if res is None or (namespace is not None and not res.namespaced):
        raise _not_served()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and sub not in res.subresources:
        raise _not_served()
    if sub != "proxy" and len(rest) > 3:
        raise _not_served()
    return Target(res, namespace, name, sub)


def _parse_body(req: Request) -> Any:
    if not req.body:
        return None
    try:
        if req.content_type == APPLY_PATCH:
            return yaml.safe_load(req.body)
        return json.loads(req.body)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding request body: {exc}") from exc


def _manager(req: Request) -> str:
    explicit = req.query.get("fieldManager")
    if explicit:
        return explicit
    agent = req.headers.get("user-agent", "")
    return agent.split("/")[0] or "unknown"


def _resource_name(target: Target) -> str:
    return f"{target.res.plural}/{target.subresource}" if target.subresource else target.res.plural


class Router:
    """Dispatches requests to discovery, the store, proxies and logs.

    Args:
        registry: Served resources.
        store: Object store.
        rbac: Authorization simulation.
        proxies: Service proxy handlers.
        logs: Container logs.
        default_watch_timeout: Watch length when the client gives no ``timeoutSeconds``.
    """

    def __init__(
        self,
        registry: ResourceRegistry,
        store: Store,
        rbac: Rbac,
        proxies: ProxyRegistry,
        logs: PodLogs,
        default_watch_timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self.store = store
        self.rbac = rbac
        self.proxies = proxies
        self.logs = logs
        self.default_watch_timeout = default_watch_timeout

    # -------------------------------------------------------------- discovery

    def discovery(self, path: str) -> Response | None:
        """Answer discovery and health paths; None for anything else."""
        clean = "/" + path.strip("/")
        if clean in HEALTH_PATHS:
            return Response(200, b"ok", "text/plain")
        parts = [p for p in clean.split("/") if p]
        body: JsonDict | None = None
        if clean == "/version":
            body = VERSION_INFO
        elif clean == "/api":
            body = self.registry.api_versions()
        elif clean == "/apis":
            body = self.registry.api_group_list()
        elif len(parts) == 2 and parts[0] == "api":
            body = self.registry.resource_list("", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            body = self.registry.api_group(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            body = self.registry.resource_list(parts[1], parts[2])
        else:
            return None
        if body is None:
            raise _not_served()
        return Response.json(200, body)

    # ---------------------------------------------------------------- routing

    def route(self, req: Request) -> Response | WatchPlan:
        """Handle one request (``req.verb`` is set as a side effect for the request log).

        Raises:
            ApiError: Any API failure.
        """
        found = self.discovery(req.path)
        if found is not None:
            req.verb = "discovery"
            return found
        target = parse_target(req.path, self.registry)
        if target.subresource == "proxy":
            return self._proxy(req, target)
        if target.subresource == "log":
            return self._log(req, target)
        if target.name is None:
            return self._collection(req, target)
        return self._member(req, target)

    def _authorize(self, req: Request, target: Target, verb: str) -> None:
        req.verb = verb
        self.rbac.check(verb, _resource_name(target), target.namespace, target.res.group)

    def _selector(self, req: Request, res: ResourceType) -> Selector:
        return Selector.parse(req.query.get("labelSelector"), req.query.get("fieldSelector"), res)

    def _collection(self, req: Request, target: Target) -> Response | WatchPlan:
        res, ns = target.res, target.namespace
        if req.method == "GET" and req.query.get("watch") in ("1", "true", "True"):
            self._authorize(req, target, "watch")
            return WatchPlan(
                res,
                ns,
                self._selector(req, res),
                req.query.get("resourceVersion"),
                float(req.query.get("timeoutSeconds") or self.default_watch_timeout),
                req.query.get("allowWatchBookmarks") in ("1", "true", "True"),
            )
        if req.method == "GET":
            self._authorize(req, target, "list")
            limit = int(req.query.get("limit") or 0)
            listed = self.store.list_objects(
                res, ns, self._selector(req, res), limit, req.query.get("continue")
            )
            return Response.json(200, listed)
        if req.method == "POST":
            self._authorize(req, target, "create")
            created = self.store.create(res, ns, _parse_body(req), self._options(req, None))
            return Response.json(201, created)
        if req.method == "DELETE":
            self._authorize(req, target, "deletecollection")
            opts = _parse_body(req) or {}
            deleted = self.store.delete_collection(
                res,
                ns,
                self._selector(req, res),
                req.dry_run or "All" in (opts.get("dryRun") or []),
                req.query.get("propagationPolicy") or opts.get("propagationPolicy"),
            )
            return Response.json(200, deleted)
        raise errors.method_not_allowed()

    def _options(self, req: Request, subresource: str | None) -> WriteOptions:
        return WriteOptions(
            manager=_manager(req),
            dry_run=req.dry_run,
            force=req.query.get("force") in ("true", "True", "1"),
            subresource=subresource,
        )

    def _member(self, req: Request, target: Target) -> Response:
        res, ns, name = target.res, target.namespace, str(target.name)
        sub = target.subresource
        if req.method == "GET":
            self._authorize(req, target, "get")
            return Response.json(200, self.store.get(res, ns, name))
        if req.method == "PUT":
            self._authorize(req, target, "update")
            return Response.json(
                200, self.store.replace(res, ns, name, _parse_body(req), self._options(req, sub))
            )
        if req.method == "PATCH":
            return self._patch(req, target)
        if req.method == "DELETE":
            self._authorize(req, target, "delete")
            return self._delete(req, target)
        raise errors.method_not_allowed()

    def _patch(self, req: Request, target: Target) -> Response:
        res, ns, name = target.res, target.namespace, str(target.name)
        self._authorize(req, target, "patch")
        if req.content_type != APPLY_PATCH:
            patched = self.store.patch(
                res,
                ns,
                name,
                req.content_type,
                _parse_body(req),
                self._options(req, target.subresource),
            )
            return Response.json(200, patched)
        req.verb = "apply"
        if not req.query.get("fieldManager"):
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [errors.required("fieldManager", "is required for apply patch")],
            )
        existed = self._exists(res, ns, name)
        if not existed:
            self.rbac.check("create", _resource_name(target), ns, res.group)
        applied = self.store.patch(
            res, ns, name, APPLY_PATCH, _parse_body(req), self._options(req, target.subresource)
        )
        return Response.json(200 if existed else 201, applied)

    def _exists(self, res: ResourceType, ns: str | None, name: str) -> bool:
        try:
            self.store.get(res, ns, name)
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        return True

    def _delete(self, req: Request, target: Target) -> Response:
        res, ns, name = target.res, target.namespace, str(target.name)
        opts = _parse_body(req) or {}
        if not isinstance(opts, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        gone = self.store.delete(
            res,
            ns,
            name,
            req.query.get("propagationPolicy") or opts.get("propagationPolicy"),
            req.dry_run or "All" in (opts.get("dryRun") or []),
            opts.get("preconditions"),
        )
        if res.plural == "pods" and not res.group:
            return Response.json(200, gone)
        details: JsonDict = {"name": name}
        if res.group:
            details["group"] = res.group
        details.update({"kind": res.plural, "uid": gone["metadata"].get("uid", "")})
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }
        return Response.json(200, status)

    # ----------------------------------------------------------- proxy / logs

    def _log(self, req: Request, target: Target) -> Response:
        if req.method != "GET":
            raise errors.method_not_allowed()
        self._authorize(req, target, "get")
        pod = self.store.get(target.res, target.namespace, str(target.name))
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = req.query.get("container")
        if container is None and len(containers) > 1:
            raise errors.bad_request(
                f"a container name must be specified for pod {target.name}, "
                f"choose one of: [{' '.join(str(c) for c in containers)}]"
            )
        if container is not None and containers and container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {target.name}")
        text = self.logs.get(
            str(target.namespace),
            str(target.name),
            container or (containers or [None])[0],
            timestamps=req.query.get("timestamps") == "true",
        )
        return Response(200, tail(text, req.query.get("tailLines")).encode(), "text/plain")

    def _proxy(self, req: Request, target: Target) -> Response:
        verbs = {
            "GET": "get",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }
        self._authorize(req, target, verbs.get(req.method, "get"))
        req.verb = "proxy"
        raw_name = str(target.name)
        pieces = raw_name.split(":")
        service = pieces[1] if len(pieces) == 3 else pieces[0]
        port = pieces[-1] if len(pieces) > 1 else None
        self.store.get(target.res, target.namespace, service)
        marker = f"/{raw_name}/proxy"
        sub_path = req.path.split(marker, 1)[1] or "/"
        handler = self.proxies.find(str(target.namespace), service, port)
        if handler is None:
            raise ApiError(
                503, "ServiceUnavailable", f'no endpoints available for service "{raw_name}"', {}
            )
        forwarded = ProxyRequest(
            req.method,
            str(target.namespace),
            service,
            port,
            sub_path,
            dict(req.query),
            req.body,
            dict(req.headers),
        )
        return _proxy_response(handler(forwarded))


def _proxy_response(result: Any) -> Response:
    status, payload = int(result[0]), result[1]
    headers = dict(result[2]) if len(result) > 2 else {}
    content_type = headers.pop("Content-Type", None)
    if isinstance(payload, bytes):
        return Response(status, payload, content_type or "application/octet-stream", headers)
    if isinstance(payload, str):
        return Response(status, payload.encode(), content_type or "text/plain", headers)
    return Response(
        status, json.dumps(payload).encode(), content_type or "application/json", headers
    )
