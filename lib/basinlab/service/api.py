"""The data API (``basinlab serve``): FastAPI over the published warehouse, read-only.

Routes (OpenAPI docs at ``/docs``; every route but ``/health`` and the docs needs a key):

==========================================  ===========  ==========================================
route                                       permission   what
==========================================  ===========  ==========================================
``GET /health``                             none         warehouse present, age of the last publish, last run
``GET /catalog``                            read         the resources, their columns, keys and filters
``GET /wells``, ``/production/monthly``, …  read         one page of a warehouse table (:mod:`.query`)
``GET /runs/{run_id}``                      read         a run's status (running, succeeded, failed, …)
``POST /runs``                              write        start ``basinlab run --month M`` (409 while one runs)
``GET /reports``, ``/reports/{month}``      read         report bundles; ``/reports/{month}/pdf|xlsx|manifest``
``GET /generator``                          read         the GL generator: stream id, window, schedule
``GET /generator/gl``                       read         the released GL ledger, filtered and paged
``GET /generator/gl/stream``                read         NDJSON: balanced journal batches as they are released
``GET|POST /keys``, ``/keys/{name}/…``      admin        list, create, revoke, rotate API keys
==========================================  ===========  ==========================================

Keys travel in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (never in the
URL). Missing, malformed, unknown, revoked or expired keys get 401, a key without the
permission 403; permissions are ranked read < write < admin. A client whose
authentications keep failing (``auth_failures`` within ``auth_window_s``) gets 429
with ``Retry-After`` until ``auth_block_s`` has passed; it is refused before its key
is looked at, so guessing gains nothing. The limit is per client address in this
process.

Every request — refused ones too — is appended to the access log
(:mod:`.audit`) by :class:`AuditMiddleware`, after the response is sent (for the
stream: when it ends).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, config
from . import query as q
from .audit import AccessLog, mask_parameters
from .files import ServicePaths
from .generator import HEARTBEAT_S, GeneratorConfig, GLGenerator
from .keys import DEFAULT_GRACE_HOURS, PERMISSIONS, AuthFailure, Identity, KeyStore, KeyStoreError
from .published import NotPublished, PublishedWarehouse, Snapshot, file_version, version_label
from .runs import Launcher, RunBusy, RunStartFailed, last_run, lock_holder, run_log_entry, status_from_log

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
REPORT_ARTIFACTS = {"pdf": ("basinlab_{month}.pdf", "application/pdf"),
                    "xlsx": ("basinlab_{month}.xlsx",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                    "manifest": ("manifest.json", "application/json")}
PUBLIC_PATHS = ("/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


@dataclass
class ServiceSettings:
    """How ``basinlab serve`` runs; every field has the default an operator expects."""

    paths: config.Paths
    default_page_size: int = DEFAULT_PAGE_SIZE
    max_page_size: int = MAX_PAGE_SIZE
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    auth_failures: int = 10
    auth_window_s: float = 60.0
    auth_block_s: float = 60.0
    default_grace_hours: float = DEFAULT_GRACE_HOURS


class ApiError(Exception):
    def __init__(self, status: int, message: str, allowed: list[str] | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.allowed, self.headers, self.extra = status, message, allowed, headers, extra


def _error_body(status: int, message: str, allowed: list[str] | None = None, **extra: Any) -> dict:
    err: dict[str, Any] = {"status": status, "message": message}
    if allowed is not None:
        err["allowed"] = allowed
    err.update({k: v for k, v in extra.items() if v is not None})
    return {"error": err}


# --------------------------------------------------------------------------- rate limit


class FailureLimiter:
    """Failed authentications per client: ``limit`` within ``window_s`` blocks it for ``block_s``."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int, window_s: float, block_s: float, clock=time.monotonic):
        self.limit, self.window_s, self.block_s, self.clock = limit, window_s, block_s, clock
        self._fails: OrderedDict[str, deque] = OrderedDict()
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def blocked_for(self, client: str) -> float:
        """Seconds the client must still wait (0 when it may try)."""
        with self._lock:
            until = self._blocked.get(client)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._blocked[client]
                self._fails.pop(client, None)
                return 0.0
            return left

    def failure(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            dq = self._fails.pop(client, None) or deque()
            dq.append(now)
            while dq and dq[0] <= now - self.window_s:
                dq.popleft()
            self._fails[client] = dq
            if len(dq) >= self.limit:
                self._blocked[client] = now + self.block_s
            while len(self._fails) > self.MAX_CLIENTS:
                self._fails.popitem(last=False)


# --------------------------------------------------------------------------- audit middleware


class AuditMiddleware:
    """Appends one access record per HTTP request once its response is complete."""

    def __init__(self, app, access_log: AccessLog):
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        started = datetime.now(UTC)
        state = scope.setdefault("state", {})
        state["request_id"] = uuid.uuid4().hex
        status: dict[str, int] = {}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", state["request_id"].encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            status.setdefault("code", 500)
            raise
        finally:
            try:
                self._write(scope, state, status.get("code", 500), started, t0)
            except Exception:  # the audit must never take a response down with it
                log.exception("could not write the access log")

    def _write(self, scope, state: dict, code: int, started: datetime, t0: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "(no route)"
        from urllib.parse import parse_qsl

        params: dict[str, Any] = {}
        for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            params[k] = v if k not in params else (params[k] if isinstance(params[k], list) else [params[k]]) + [v]
        params.update(scope.get("path_params") or {})
        params.update(state.get("audit_fields") or {})
        ident: Identity | None = state.get("identity")
        client = scope.get("client")
        self.access_log.write({
            "request_id": state["request_id"],
            "requested_at": started.isoformat(timespec="milliseconds"),
            "key_id": ident.key_id if ident else state.get("key_id"),
            "key_name": ident.name if ident else state.get("key_name"),
            "permission": ident.permission if ident else None,
            "auth": state.get("auth") or ("public" if template in PUBLIC_PATHS else "none"),
            "client": client[0] if client else None,
            "method": scope.get("method"),
            "route": template,
            "path": scope.get("path"),
            "parameters": mask_parameters(params),
            "status": code,
            "rows_returned": state.get("rows"),
            "duration_ms": round((time.perf_counter() - t0) * 1000.0, 3),
            "warehouse_version": state.get("warehouse_version"),
        })


# --------------------------------------------------------------------------- the app


class Service:
    """Everything a request needs: paths, keys, access log, the published warehouse, the generator."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self.paths = settings.paths
        self.sp = ServicePaths(settings.paths)
        self.keys = KeyStore(self.sp.keys)
        self.access_log = AccessLog(self.sp.access_log)
        self.warehouse = PublishedWarehouse(settings.paths.warehouse)
        self.limiter = FailureLimiter(settings.auth_failures, settings.auth_window_s, settings.auth_block_s)
        self.launcher = Launcher(self.sp)
        self.started = time.time()
        self._generator: GLGenerator | None = None
        self._gen_lock = threading.Lock()
        #: (method, path) → permission of every route that needs a key
        self.route_permissions: dict[tuple[str, str], str] = {}

    def generator(self) -> GLGenerator:
        with self._gen_lock:
            if self._generator is None:
                try:
                    self._generator = GLGenerator(self.settings.generator)
                except ValueError as exc:
                    raise ApiError(503, str(exc)) from None
            return self._generator

    def close(self) -> None:
        self.warehouse.close()
        if self._generator is not None:
            self._generator.close()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else auth.strip()
    return request.headers.get("x-api-key")


def create_app(settings: ServiceSettings) -> FastAPI:
    """The FastAPI application for one data dir (``basinlab serve`` runs it with uvicorn)."""
    svc = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        svc.close()

    app = FastAPI(
        lifespan=lifespan,
        title="basinlab data API",
        version=__version__,
        description=(
            "Read-only access to the published basinlab warehouse: wells, production, revenue, financials, "
            "JIB, decline, runs, data quality and report bundles; the demo GL generator as a history and a "
            "stream. Send your key as `Authorization: Bearer <key>` (or `X-API-Key`). Data routes page with "
            "`limit` and `cursor` (keyset on the table's key: stable while runs publish), filter on any "
            "column by name, `from`/`to` months, and answer in `format=json|csv|parquet`."),
    )
    app.state.service = svc
    app.add_middleware(AuditMiddleware, access_log=svc.access_log)

    _register_error_handlers(app)
    route = _router(app, svc)
    _register_health(app, svc, settings)
    _register_catalog(route, svc, settings)
    for res in q.RESOURCES:
        _register_data_route(route, svc, settings, res)
    _register_runs(route, svc, settings)
    _register_reports(route, settings)
    _register_generator(route, svc, settings)
    _register_keys(route, svc, settings)
    return app


# --------------------------------------------------------------------------- routes, by group


def _register_error_handlers(app: FastAPI) -> None:
    """Every error becomes one JSON body with its status and what is allowed."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(_error_body(exc.status, exc.message, exc.allowed, **(exc.extra or {})),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(q.QueryError)
    async def _query_error(request: Request, exc: q.QueryError):
        return JSONResponse(_error_body(exc.status, exc.message, exc.allowed), status_code=exc.status)

    @app.exception_handler(NotPublished)
    async def _not_published(request: Request, exc: NotPublished):
        return JSONResponse(_error_body(503, str(exc)), status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        msgs = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse(_error_body(400, f"bad request: {msgs}"), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            msg = f"no route {request.url.path} (GET /catalog lists the data routes; /docs has them all)"
        return JSONResponse(_error_body(exc.status_code, msg), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(duckdb.Error)
    async def _duckdb(request: Request, exc: duckdb.Error):
        log.error("query failed on %s: %s", request.url.path, exc)
        return JSONResponse(_error_body(500, "the warehouse query failed; the server log has the detail"),
                            status_code=500)


def _require(svc: Service, permission: str):
    """A FastAPI dependency: the caller's key, verified and allowed ``permission`` (else 401 / 403 / 429)."""

    def dependency(request: Request) -> Identity:
        st = request.state
        client = _client(request)
        wait = svc.limiter.blocked_for(client)
        if wait > 0:
            st.auth = "rate_limited"
            raise ApiError(429, f"too many failed authentications from {client}: try again in "
                           f"{math.ceil(wait)} s", headers={"Retry-After": str(math.ceil(wait))})
        try:
            result = svc.keys.verify(_token(request))
        except KeyStoreError as exc:
            log.error("%s", exc)
            raise ApiError(503, "the key store cannot be read; the server log has the detail") from None
        if isinstance(result, AuthFailure):
            svc.limiter.failure(client)
            st.auth, st.key_id, st.key_name = result.reason, result.key_id, result.name
            raise ApiError(401, result.message, headers={"WWW-Authenticate": 'Bearer realm="basinlab"'})
        st.identity = result
        st.auth = "old_secret" if result.via_old_secret else "ok"
        if not result.may(permission):
            raise ApiError(403, f"key {result.name!r} has permission {result.permission!r}; "
                                f"this route needs {permission!r}",
                                allowed=[p for p in PERMISSIONS
                                         if PERMISSIONS.index(p) >= PERMISSIONS.index(permission)])
        return result

    return Depends(dependency)


def _router(app: FastAPI, svc: Service):
    """``route(method, path, permission, **kw)``: a decorator adding an API route that needs ``permission``
    (recorded in ``svc.route_permissions``; None: no key needed)."""

    def route(method: str, path: str, permission: str | None, **kw):
        def deco(fn):
            if permission:
                svc.route_permissions[(method, path)] = permission
                kw.setdefault("dependencies", []).append(_require(svc, permission))
            app.add_api_route(path, fn, methods=[method], **kw)
            return fn
        return deco

    return route


def _identity(request: Request) -> Identity:
    return request.state.identity


def _register_health(app: FastAPI, svc: Service, settings: ServiceSettings) -> None:
    """``GET /health`` (no key needed)."""
    @app.get("/health", tags=["service"], summary="Warehouse present, age of the last publish, last run "
                                                  "(no key needed)")
    def health(request: Request):
        now = time.time()
        version = file_version(settings.paths.warehouse)
        wh: dict[str, Any] = {"present": version is not None}
        if version:
            wh.update(published_at=datetime.fromtimestamp(version[2] / 1e9, UTC).isoformat(
                timespec="seconds"), age_seconds=round(now - version[2] / 1e9, 1), version=version_label(version))
        last = last_run(settings.paths)
        holder = lock_holder(settings.paths)
        body = {
            "status": "ok" if version and (not last or last.get("status") == "succeeded") else (
                "no_warehouse" if not version else "degraded"),
            "warehouse": wh,
            "last_run": ({k: last.get(k) for k in ("run_id", "month", "status", "finished_at")} if last else None),
            "run_in_progress": ({"run_id": holder.get("run_id"), "month": holder.get("month"),
                                 "started_at": holder.get("started_at")} if holder else None),
            "service": {"version": __version__, "uptime_seconds": round(now - svc.started, 1)},
        }
        return JSONResponse(body, status_code=200 if version else 503)


def _register_catalog(route, svc: Service, settings: ServiceSettings) -> None:
    """``GET /catalog``: the data routes, their tables, keys, columns and filters."""
    @route("GET", "/catalog", "read", tags=["data"], summary="Data routes: table, key, columns and filters")
    def catalog(request: Request):
        try:
            with svc.warehouse.acquire() as snap:
                cols = snap.columns()
                request.state.warehouse_version = snap.label
        except NotPublished:
            cols = {}
        out = []
        for r in q.RESOURCES:
            tc = cols.get((r.schema, r.table))
            out.append({"path": r.path, "table": r.qualified, "summary": r.summary, "key": list(r.key),
                        "available": tc is not None,
                        "month_range_on": r.month_column or r.year_column,
                        "shorthands": {k: {"column": a.column, "implies": dict(a.implies), "doc": a.doc}
                                       for k, a in r.aliases.items()},
                        "columns": [{"name": c, "type": t} for c, t in (tc or [])]})
        request.state.rows = len(out)
        return {"resources": out, "common_parameters": {
            "format": "json (default), csv or parquet", "limit": f"rows per page, 1..{settings.max_page_size} "
            f"(default {settings.default_page_size})", "cursor": "next_cursor of the previous page",
            "columns": "comma list of columns to return", "order": "asc (default) or desc on the key",
            "from/to": "month range YYYY-MM or date YYYY-MM-DD, inclusive, on the resource's month column",
            "<column>=<value>": "equality on any column; repeat for a list"}}


def _register_data_route(route, svc: Service, settings: ServiceSettings, res: q.Resource) -> None:
    """``GET <res.path>``: one page of a warehouse table (see :func:`basinlab.service.query.run_query`)."""

    def handler(request: Request):
        with svc.warehouse.cursor() as (snap, cur):
            request.state.warehouse_version = snap.label
            try:
                page = q.run_query(res, snap, cur, list(request.query_params.multi_items()),
                                   default_limit=settings.default_page_size, max_limit=settings.max_page_size)
            except (duckdb.ConversionException, duckdb.OutOfRangeException) as exc:
                raise q.QueryError(f"a filter value does not fit its column: {str(exc).splitlines()[0]}") \
                    from None
        return _render(request, page)

    handler.__name__ = f"get_{res.name}"
    handler.__doc__ = res.summary
    route("GET", res.path, "read", tags=["data"], summary=res.summary.split(" (")[0],
          description=res.summary + _filters_doc(res),
          openapi_extra={"parameters": _openapi_params(res, settings)})(handler)


def _register_runs(route, svc: Service, settings: ServiceSettings) -> None:
    """``GET /runs/{run_id}`` and ``POST /runs``."""
    @route("GET", "/runs/{run_id}", "read", tags=["runs"],
           summary="A run's status: running (with progress), succeeded, failed, abandoned")
    def get_run(run_id: str, request: Request):
        rid = run_id
        launch = svc.launcher.load(rid) if rid.startswith("launch-") else None
        if rid.startswith("launch-"):
            if launch is None:
                raise ApiError(404, f"no launch {rid}")
            if not launch.get("run_id"):
                state = "starting" if launch.get("exit_code") is None else "exited"
                return {"launch_id": rid, "status": state, "month": launch.get("month"),
                        "exit_code": launch.get("exit_code"), "output": svc.launcher.log_tail(launch)}
            rid = launch["run_id"]
        entry = run_log_entry(settings.paths, rid)
        launch = launch or svc.launcher.find_by_run(rid)
        if entry:
            body = status_from_log(entry)
        else:
            holder = lock_holder(settings.paths)
            if holder and holder.get("run_id") == rid:
                body = {"run_id": rid, "month": holder.get("month"), "status": "running",
                        "started_at": holder.get("started_at"), "source": "run lock"}
            else:
                body = _run_from_warehouse(svc, rid, request)
                if body is None:
                    raise ApiError(404, f"no run {rid!r} in runs.jsonl, in progress, or in the published warehouse")
        if launch:
            body["launch"] = {"launch_id": launch["launch_id"], "requested_by": launch.get("requested_by"),
                              "requested_at": launch.get("requested_at"), "exit_code": launch.get("exit_code")}
            if body.get("status") == "running":
                body["progress"] = svc.launcher.log_tail(launch)
        return body

    @route("POST", "/runs", "write", tags=["runs"], status_code=202,
           summary="Start `basinlab run --month M` (body {\"month\": \"YYYY-MM\"}); 409 while a run holds the lock",
           openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
               "type": "object", "required": ["month"],
               "properties": {"month": {"type": "string", "example": "2024-06"}}}}}}})
    async def post_run(request: Request):
        body = await _json_body(request)
        month = body.get("month")
        request.state.audit_fields = {"month": month}
        try:
            config.parse_month(str(month))
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        unknown = sorted(set(body) - {"month"})
        if unknown:
            raise ApiError(400, f"unknown field(s) {unknown}", allowed=["month"])
        who = _identity(request)
        try:
            rec = await asyncio.to_thread(svc.launcher.start, str(month), who.name)
        except RunBusy as exc:
            raise ApiError(409, str(exc), extra={"holder": {k: exc.holder.get(k) for k in (
                "run_id", "month", "pid", "host", "started_at")} if exc.holder else None}) from None
        except RunStartFailed as exc:
            raise ApiError(500, str(exc)) from None
        run_id = rec.get("run_id")
        ref = run_id or rec["launch_id"]
        return JSONResponse({"launch_id": rec["launch_id"], "run_id": run_id, "month": month,
                             "status": "running" if run_id else "starting", "status_url": f"/runs/{ref}"},
                            status_code=202, headers={"Location": f"/runs/{ref}"})


def _register_reports(route, settings: ServiceSettings) -> None:
    """``GET /reports``, ``/reports/{month}`` and ``/reports/{month}/{artifact}``."""
    @route("GET", "/reports", "read", tags=["reports"], summary="Report bundles (one per month)")
    def list_reports(request: Request):
        rd = settings.paths.reports_dir
        out = []
        if rd.exists():
            for d in sorted((p for p in rd.iterdir() if p.is_dir() and config.MONTH_RE.match(p.name)), reverse=True):
                out.append(_bundle(d))
        request.state.rows = len(out)
        return {"reports": out}

    @route("GET", "/reports/{month}", "read", tags=["reports"], summary="One month's bundle: files and manifest "
                                                                         "summary")
    def get_report(month: str, request: Request):
        d = _report_dir(settings, month)
        body = _bundle(d)
        try:
            m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
            body["manifest"] = {k: m.get(k) for k in ("run_id", "month", "generated_at", "parameters")}
            body["manifest"]["checks"] = {s: sum(1 for c in m.get("checks", []) if c.get("status") == s)
                                          for s in ("pass", "fail")}
            body["manifest"]["inputs"] = len(m.get("inputs", []))
        except (OSError, json.JSONDecodeError):
            body["manifest"] = None
        return body

    @route("GET", "/reports/{month}/{artifact}", "read", tags=["reports"],
           summary="Download a month's pdf, xlsx or manifest")
    def get_report_file(month: str, artifact: str, request: Request):
        d = _report_dir(settings, month)
        if artifact not in REPORT_ARTIFACTS:
            raise ApiError(404, f"no artifact {artifact!r}", allowed=list(REPORT_ARTIFACTS))
        name, media = REPORT_ARTIFACTS[artifact]
        p = d / name.format(month=month)
        if not p.is_file():
            raise ApiError(404, f"the {month} bundle has no {artifact}")
        return FileResponse(p, media_type=media, filename=p.name)


def _register_generator(route, svc: Service, settings: ServiceSettings) -> None:
    """``GET /generator``, ``/generator/gl`` and ``/generator/gl/stream``."""
    @route("GET", "/generator", "read", tags=["generator"], summary="The GL generator: stream id, window, "
                                                                     "release schedule")
    def generator_info(request: Request):
        return svc.generator().info()

    @route("GET", "/generator/gl", "read", tags=["generator"],
           summary="The released demo GL ledger (history + batches out so far), filtered and paged",
           description=q.GENERATOR_GL.summary + _filters_doc(q.GENERATOR_GL),
           openapi_extra={"parameters": _openapi_params(q.GENERATOR_GL, settings)})
    def generator_gl(request: Request):
        gen = svc.generator()
        snap = Snapshot(version=(0, 0, 0, 0), con=gen.connection(), opened_at=svc.started)
        cur = snap.cursor()
        try:
            released = gen.released()
            page = q.run_query(q.GENERATOR_GL, snap, cur, list(request.query_params.multi_items()),
                               default_limit=settings.default_page_size, max_limit=settings.max_page_size,
                               extra=("batch_sequence is null or batch_sequence < ?", [released]))
        finally:
            cur.close()
        page.snapshot_label = f"{gen.stream_id}@{released}"
        return _render(request, page)

    @route("GET", "/generator/gl/stream", "read", tags=["generator"],
           summary="NDJSON stream of balanced journal batches as they are released",
           description=(
               "One JSON object per line. `{\"type\": \"batch\", \"batch_id\", \"sequence\", \"released_at\", "
               "\"journals\", \"lines\": [...]}` for each batch after `after` (default -1: from the first), "
               "`{\"type\": \"heartbeat\", \"next_sequence\", \"next_release_at\"}` while waiting, "
               "`{\"type\": \"caught_up\"}` when `follow=false` and nothing more is out, `{\"type\": \"end\"}` "
               "after the last batch. `limit` caps the batches sent."),
           openapi_extra={"parameters": [
               {"name": "after", "in": "query", "schema": {"type": "integer", "default": -1},
                "description": "last sequence the client has"},
               {"name": "follow", "in": "query", "schema": {"type": "boolean", "default": True},
                "description": "wait for new batches (false: send what is out, then stop)"},
               {"name": "limit", "in": "query", "schema": {"type": "integer"}, "description": "at most this many "
                                                                                             "batches"}]})
    async def generator_stream(request: Request):
        params = dict(request.query_params)
        unknown = sorted(set(params) - {"after", "follow", "limit"})
        if unknown:
            raise ApiError(400, f"unknown parameter(s) {unknown}", allowed=["after", "follow", "limit"])
        try:
            after = int(params.get("after", "-1"))
            limit = int(params["limit"]) if "limit" in params else None
            if after < -1 or (limit is not None and limit < 1):
                raise ValueError
        except ValueError:
            raise ApiError(400, "after must be a whole number >= -1 and limit a whole number >= 1") from None
        follow_raw = params.get("follow", "true").lower()
        if follow_raw not in ("true", "false", "1", "0"):
            raise ApiError(400, f"follow must be true or false, got {params['follow']!r}")
        follow = follow_raw in ("true", "1")
        gen = await asyncio.to_thread(svc.generator)
        request.state.rows = 0

        async def lines():
            seq = after + 1
            sent = 0
            while True:
                if seq >= gen.n_batches:
                    yield _ndjson({"type": "end", "stream_id": gen.stream_id, "last_sequence": gen.n_batches - 1})
                    return
                now = gen.clock()
                if seq < gen.released(now):
                    yield _ndjson(gen.batch(seq))
                    seq += 1
                    sent += 1
                    request.state.rows = sent
                    if limit is not None and sent >= limit:
                        return
                    continue
                if not follow:
                    yield _ndjson({"type": "caught_up", "stream_id": gen.stream_id, "next_sequence": seq,
                                   "next_release_at": _iso(gen.release_time(seq))})
                    return
                wait = gen.release_time(seq) - now
                if wait > HEARTBEAT_S:
                    yield _ndjson({"type": "heartbeat", "stream_id": gen.stream_id, "next_sequence": seq,
                                   "next_release_at": _iso(gen.release_time(seq))})
                await asyncio.sleep(min(max(wait, 0.0), HEARTBEAT_S) + 0.001)

        return StreamingResponse(lines(), media_type="application/x-ndjson",
                                 headers={"X-Stream-Id": gen.stream_id, "Cache-Control": "no-store"})


def _register_keys(route, svc: Service, settings: ServiceSettings) -> None:
    """``GET /keys``, ``POST /keys``, ``/keys/{name}/revoke`` and ``/keys/{name}/rotate``."""
    @route("GET", "/keys", "admin", tags=["keys"], summary="Every key: id, name, permission, status (no secrets)")
    def list_keys(request: Request):
        recs = [r.public() for r in svc.keys.records().values()]
        request.state.rows = len(recs)
        return {"keys": sorted(recs, key=lambda r: r["created_at"])}

    @route("POST", "/keys", "admin", tags=["keys"], status_code=201,
           summary="Create a key; the secret is in this response only",
           openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
               "type": "object", "required": ["name", "permission"], "properties": {
                   "name": {"type": "string"}, "permission": {"type": "string", "enum": list(PERMISSIONS)},
                   "expires_days": {"type": "number"}}}}}}})
    async def create_key(request: Request):
        body = await _json_body(request)
        request.state.audit_fields = {k: body.get(k) for k in ("name", "permission", "expires_days")}
        unknown = sorted(set(body) - {"name", "permission", "expires_days"})
        if unknown:
            raise ApiError(400, f"unknown field(s) {unknown}", allowed=["name", "permission", "expires_days"])
        expires = body.get("expires_days")
        if expires is not None and not isinstance(expires, (int, float)):
            raise ApiError(400, "expires_days must be a number of days")
        try:
            created = await asyncio.to_thread(svc.keys.create, str(body.get("name") or ""),
                                              str(body.get("permission") or ""), expires)
        except KeyStoreError as exc:
            raise ApiError(400, str(exc), allowed=list(PERMISSIONS) if "permission" in str(exc) else None) from None
        return JSONResponse({"key": created.token, "record": created.record.public(),
                             "note": "the key is shown once: store it now"}, status_code=201,
                            headers={"Cache-Control": "no-store"})

    @route("POST", "/keys/{name}/revoke", "admin", tags=["keys"], summary="Revoke a key (by name or id)")
    async def revoke_key(name: str, request: Request):
        try:
            rec = await asyncio.to_thread(svc.keys.revoke, name)
        except KeyStoreError as exc:
            raise ApiError(404 if "no key" in str(exc) else 409, str(exc)) from None
        return {"record": rec.public()}

    @route("POST", "/keys/{name}/rotate", "admin", tags=["keys"],
           summary="New secret for a key; the old one stays valid for grace_hours (body, default 24)")
    async def rotate_key(name: str, request: Request):
        body = await _json_body(request, optional=True)
        grace = body.get("grace_hours", settings.default_grace_hours)
        request.state.audit_fields = {"grace_hours": grace}
        if not isinstance(grace, (int, float)) or isinstance(grace, bool):
            raise ApiError(400, "grace_hours must be a number of hours")
        try:
            created = await asyncio.to_thread(svc.keys.rotate, name, float(grace))
        except KeyStoreError as exc:
            raise ApiError(404 if "no key" in str(exc) else 409, str(exc)) from None
        return JSONResponse({"key": created.token, "record": created.record.public(),
                             "old_secret_valid_until": created.old_valid_until,
                             "note": "the key is shown once: store it now"}, headers={"Cache-Control": "no-store"})


# --------------------------------------------------------------------------- helpers


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def _ndjson(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), default=q.json_default) + "\n").encode("utf-8")


async def _json_body(request: Request, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "a JSON object body is required")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _report_dir(settings: ServiceSettings, month: str) -> Path:
    if not config.MONTH_RE.match(month):
        raise ApiError(400, f"month must be YYYY-MM (e.g. 2024-06), got {month!r}")
    d = settings.paths.reports_dir / month
    if not d.is_dir():
        raise ApiError(404, f"no report bundle for {month}")
    return d


def _bundle(d: Path) -> dict[str, Any]:
    month = d.name
    files = {}
    for art, (name, _media) in REPORT_ARTIFACTS.items():
        p = d / name.format(month=month)
        if p.is_file():
            st = p.stat()
            files[art] = {"url": f"/reports/{month}/{art}", "size_bytes": st.st_size,
                          "modified_at": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(
                              timespec="seconds")}
    return {"month": month, "files": files}


def _run_from_warehouse(svc: Service, run_id: str, request: Request) -> dict[str, Any] | None:
    try:
        with svc.warehouse.cursor() as (snap, cur):
            request.state.warehouse_version = snap.label
            row = cur.execute("select run_id, month, status, started_at, finished_at, error "
                              "from wh.metadata.pipeline_runs where run_id = ?", [run_id]).fetchall()
            row = row[0] if row else None
            if row is None:
                return None
            steps = cur.execute("select step, status, started_at, finished_at, rows_in, rows_out, error "
                                "from wh.metadata.pipeline_run_steps where run_id = ? order by started_at",
                                [run_id]).fetchall()
    except NotPublished:
        return None
    keys = ("run_id", "month", "status", "started_at", "finished_at", "error")
    body = {k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in zip(keys, row)}
    body["steps"] = [{k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in zip(
        ("step", "status", "started_at", "finished_at", "rows_in", "rows_out", "error"), s)} for s in steps]
    body["source"] = "warehouse"
    return body


def _render(request: Request, page: q.Page) -> Response:
    request.state.rows = page.rows
    request.state.warehouse_version = page.snapshot_label
    headers = {"X-Warehouse-Version": page.snapshot_label, "X-Rows": str(page.rows)}
    next_url = None
    if page.next_cursor:
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        next_url = f"{request.url.path}?{urlencode(items + [('cursor', page.next_cursor)])}"
        headers["X-Next-Cursor"] = page.next_cursor
        headers["Link"] = f'<{next_url}>; rel="next"'
    if page.format == "json":
        head = {"resource": page.resource.path, "table": page.resource.qualified, "columns": page.columns,
                "rows": page.rows}
        tail = {"next_cursor": page.next_cursor, "next": next_url,
                "warehouse": {"version": page.snapshot_label,
                              "published_at": _iso(page.published_at) if page.published_at else None}}
        content = (json.dumps(head, separators=(",", ":"))[:-1] + ',"data":[' + ",".join(page.json_rows) + "],"
                   + json.dumps(tail, separators=(",", ":"))[1:])
        return Response(content, media_type="application/json", headers=headers)
    ext = "csv" if page.format == "csv" else "parquet"
    headers["Content-Disposition"] = f'attachment; filename="{page.resource.name}.{ext}"'
    return Response(q.encode_table(page.table, page.format), media_type=q.MEDIA_TYPES[page.format], headers=headers)


def _filters_doc(res: q.Resource) -> str:
    parts = [f"\n\nStable order: the key ({', '.join(res.key)})."]
    if res.month_column or res.year_column:
        parts.append(f" `from`/`to` apply to {res.month_column or res.year_column}.")
    if res.aliases:
        parts.append(" Shorthands: " + ", ".join(f"`{k}` ({a.doc or a.column})" for k, a in res.aliases.items()) + ".")
    parts.append(" Any column of the table filters by equality (GET /catalog lists them).")
    return "".join(parts)


def _openapi_params(res: q.Resource, settings: ServiceSettings) -> list[dict]:
    ps = [
        {"name": "format", "in": "query", "schema": {"type": "string", "enum": list(q.FORMATS), "default": "json"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                   "maximum": settings.max_page_size,
                                                   "default": settings.default_page_size}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the "
                                                                                      "previous page"},
        {"name": "columns", "in": "query", "schema": {"type": "string"}, "description": "comma list"},
        {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"], "default": "asc"}},
    ]
    if res.month_column or res.year_column:
        ps += [{"name": n, "in": "query", "schema": {"type": "string"},
                "description": f"{'first' if n == 'from' else 'last'} month (YYYY-MM) or date, inclusive"}
               for n in ("from", "to")]
    ps += [{"name": k, "in": "query", "schema": {"type": "string"}, "description": a.doc or a.column}
           for k, a in res.aliases.items()]
    return ps


def serve(settings: ServiceSettings, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted (``basinlab serve``)."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)
