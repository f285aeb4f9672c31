"""Assembles the ASGI application: the connexion API inside an outer Starlette app.

The outer app owns the lifespan, the middleware chain (its order is documented in
`runplane.middleware`) and the routes that are not operations of the contract (static files, ReDoc);
connexion owns routing, security and validation of every operation in openapi.yaml.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from connexion import AsyncApp, ConnexionMiddleware
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.options import SwaggerUIOptions
from connexion.validators import FormDataValidator, MultiPartFormDataValidator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from handlers.system import get_liveness
from runplane.artifacts import ArtifactManager
from runplane.audit import AuditLog
from runplane.errors import describe, log_error
from runplane.experiments import ExperimentManager
from runplane.live.hub import EventHub
from runplane.live.websocket import websocket_endpoint
from runplane.logs import configure_logging
from runplane.logstore import LogStore
from runplane.middleware.access import AccessLogMiddleware
from runplane.middleware.body_limit import BodyLimitMiddleware
from runplane.middleware.content_type import ContentTypeMiddleware
from runplane.middleware.cors import ApiCorsMiddleware
from runplane.middleware.errors import ErrorMiddleware
from runplane.middleware.metrics import MetricsMiddleware
from runplane.middleware.no_content import NoContentMiddleware
from runplane.middleware.ratelimit import RateLimitMiddleware
from runplane.middleware.request_body import RequestBodyMiddleware
from runplane.middleware.trace import TraceMiddleware
from runplane.operations import use_once_operations
from runplane.plugins.manager import PluginManager
from runplane.ratelimit import RateLimiter, SharedCounter, storage_uri_for
from runplane.reservations import ReservationLimits, ReservationManager
from runplane.results import ResultsManager
from runplane.scheduler import Reaper
from runplane.security import operation_roles
from runplane.services import SCOPE_KEY, Services
from runplane.settings import Settings
from runplane.snapshots import SnapshotManager
from runplane.storage import Storage
from runplane.store.artifacts import ArtifactStore
from runplane.store.audit import AuditStore
from runplane.store.database import Database, WalCheckpointer
from runplane.store.experiments import ExperimentStore
from runplane.store.keys import KeyStore
from runplane.store.plugins import PluginStore
from runplane.store.reservations import ReservationStore
from runplane.store.snapshots import SnapshotStore
from runplane.store.sweeps import SweepStore
from runplane.store.tasks import TaskStore
from runplane.store.workers import WorkerStore
from runplane.sweeps import SweepManager
from runplane.tasks import AgingPolicy, TaskManager
from runplane.tracing import current_trace_id
from runplane.uploads import WorkerUploads
from runplane.validation import NamingParameterValidator, ServerLimitsJSONBodyValidator
from runplane.workers import WorkerManager

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The HTML pages outside the contract (`/` and `/dashboard`): scripts and styles from this server only,
# live updates over its WebSocket, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# Operations whose bodies are files: they get settings.max_upload_bytes instead of the JSON limit.
UPLOAD_OPERATIONS = ("upload_snapshot", "upload_task_artifact")
# Operations whose JSON strings may hold NUL: a task's output is stored as the task wrote it.
NUL_ALLOWED_OPERATIONS = ("append_task_logs",)

# What connexion's routing would leave in the scope for the liveness probe (read by the metrics layer).
LIVENESS_ROUTING = {"operation_id": "handlers.system.get_liveness"}

logger = logging.getLogger("runplane.app")


# libyaml's loader when PyYAML has it: the contract is big enough that the pure-Python parser dominated
# the time to build an app.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_spec() -> dict[str, Any]:
    """The contract, parsed once per process. Treat it as read-only; copy it to change it."""
    spec: dict[str, Any] = yaml.load(SPEC_PATH.read_text(), Loader=_YAML_LOADER)  # noqa: S506 (safe loader)
    return spec


def path_methods(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """For each path template of the contract, a matcher and its `Allow` header value."""
    table = []
    for template, item in spec.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        methods = sorted(method.upper() for method in item if method in HTTP_METHODS)
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        table.append((re.compile(f"^{pattern}$"), ", ".join(methods)))
    return table


def operation_routes(
    spec: dict[str, Any], operation_ids: tuple[str, ...]
) -> list[tuple[str, re.Pattern[str]]]:
    """The method and path matcher of each named operation of the contract."""
    routes = []
    for template, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS and operation.get("operationId") in operation_ids:
                pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
                routes.append((method.upper(), re.compile(f"^{pattern}$")))
    return routes


def own_url(request: Request) -> str:
    """This server's base URL as the request reached it (scheme, host, port and any root path)."""
    return str(request.base_url).rstrip("/")


@lru_cache(maxsize=16)
def served_spec(server_url: str) -> bytes:
    """The contract as /openapi.json serves it: `servers` is this server's own URL, so Swagger UI's Servers
    menu and generated clients point at the server that served it (cached per URL: a few hosts at most)."""
    spec = {**load_spec(), "servers": [{"url": server_url, "description": "This server"}]}
    return json.dumps(spec, separators=(",", ":"), default=str).encode()


def build_services(settings: Settings) -> Services:
    db = Database(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    experiments = ExperimentManager(ExperimentStore(db))
    aging = AgingPolicy(settings.aging_rate, settings.aging_max_boost)
    spec = load_spec()
    storage = Storage(settings.resolved_data_dir)
    artifacts = ArtifactManager(ArtifactStore(db), storage, max_upload_bytes=settings.max_upload_bytes)
    logs = LogStore(storage, follow_limit_seconds=settings.stream_max_seconds)
    snapshots = SnapshotManager(
        SnapshotStore(db),
        storage,
        max_upload_bytes=settings.max_upload_bytes,
        max_unpacked_bytes=settings.snapshot_max_unpacked_bytes,
        max_members=settings.snapshot_max_members,
    )
    reservations = ReservationManager(
        ReservationStore(db),
        ReservationLimits(
            max_minutes=settings.reservation_max_minutes, max_nodes=settings.reservation_max_nodes
        ),
    )
    tasks = TaskManager(TaskStore(db), experiments, snapshots, aging, reservations)
    hub = EventHub(db, settings)
    results = ResultsManager(db, artifacts, logs)
    workers = WorkerManager(
        WorkerStore(db),
        settings,
        on_finished=results.task_finished,  # run.json once a task ends (reaper, multi-node tasks)
        on_ending=results.record_runs,  # run.json in the transaction of a worker's ending report
        after_ending=results.after_runs,  # then the summaries of the sweep tasks it ended
        arrivals=hub.arrivals,  # long-poll claims wake on queued tasks
    )
    limiter = RateLimiter(
        storage_uri_for(settings.redis_url, settings.resolved_data_dir), settings.rate_limit
    )
    services = Services(
        settings=settings,
        db=db,
        # Resolved keys are cached per process; revocations reach every process through an epoch kept
        # where the rate limits are (runplane.store.keys.KeyStore).
        keys=KeyStore(
            db,
            revocations=SharedCounter(limiter, "key-revocations"),
            cache_seconds=settings.key_cache_seconds,
        ),
        tasks=tasks,
        experiments=experiments,
        limiter=limiter,
        workers=workers,
        snapshots=snapshots,
        artifacts=artifacts,
        logs=logs,
        results=results,
        sweeps=SweepManager(SweepStore(db), tasks),
        uploads=WorkerUploads(db, logs, artifacts, renew_lease=workers.touch),
        audit=AuditLog(AuditStore(db)),
        reservations=reservations,
        spec=spec,
        operation_roles=operation_roles(spec),
        hub=hub,
        plugins=PluginManager(
            PluginStore(db),
            settings.resolved_data_dir,
            bin_dir=settings.plugins_bin_dir,
            poll_seconds=settings.plugin_poll_seconds,
            health_ttl=settings.plugin_health_ttl_seconds,
            status_seconds=settings.plugin_status_seconds,
        ),
    )
    return services


class AttachServices:
    """Puts the process's services into every request scope, where handlers find them."""

    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.services
        await self.app(scope, receive, send)


def _error_renderer(allow_table: list[tuple[re.Pattern[str], str]]) -> Any:
    async def render(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        error = describe(exc)
        log_error(logger, error, exc, request.method, request.url.path)
        headers = dict(error.headers)
        if error.status == 405:
            # connexion registers one route per method, so the router's own Allow header is wrong.
            path = request.url.path
            headers["Allow"] = next((allow for pattern, allow in allow_table if pattern.match(path)), "")
        trace_id = current_trace_id.get()
        headers["X-Trace-Id"] = trace_id
        return ConnexionResponse(
            status_code=error.status,
            mimetype="application/json",
            content_type="application/json",
            body=error.render(trace_id),
            headers=headers,
        )

    return render


def _starlette_error_handler(render: Any) -> Any:
    """The same rendering for the outer app's own errors (e.g. a path no route matches at all)."""

    async def handle(request: Request, exc: Exception) -> Response:
        rendered: ConnexionResponse = await render(ConnexionRequest.from_starlette_request(request), exc)
        return Response(
            content=rendered.body,
            status_code=rendered.status_code,
            media_type="application/json",
            headers=rendered.headers,
        )

    return handle


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Starlette:
    """The ASGI app. `services` (default: `build_services(settings)`) are the process's long-lived
    objects, assembled before the app and never changed by it."""
    settings = settings or (services.settings if services is not None else Settings())
    configure_logging(settings.log_level, settings.log_format, settings.log_file)
    services = services or build_services(settings)
    hub = services.hub

    api = AsyncApp(
        __name__,
        middlewares=[m for m in ConnexionMiddleware.default_middlewares if m is not ServerErrorMiddleware],
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs", spec_path="/openapi.json"),
        pythonic_params=True,
    )
    use_once_operations(api)  # connexion rebuilds each handler's decorators per request otherwise
    api.add_api(
        copy.deepcopy(load_spec()),  # connexion resolves references in the dict it is given
        strict_validation=True,
        validate_responses=False,
        validator_map={
            "parameter": NamingParameterValidator,
            "body": MediaTypeDict(
                {
                    "*/*json": ServerLimitsJSONBodyValidator,
                    "application/x-www-form-urlencoded": FormDataValidator,
                    "multipart/form-data": MultiPartFormDataValidator,
                }
            ),
        },
    )
    render_error = _error_renderer(path_methods(services.spec))
    for exc_type in (ProblemException, HTTPException, Exception):
        api.add_error_handler(exc_type, render_error)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Every process runs a reaper: lost workers' tasks are requeued even with one process alive.
        reaper = Reaper(services.workers, interval=settings.reaper_seconds)
        reaper.start()
        checkpointer = WalCheckpointer(services.db, settings.wal_checkpoint_seconds)
        checkpointer.start()
        await hub.start()
        # One process of the server supervises the plugins' sidecars (a file lock elects it).
        services.plugins.supervisor.start()
        try:
            yield
        finally:
            await services.plugins.supervisor.stop()
            await hub.stop()
            await reaper.stop()
            await checkpointer.stop()
            await services.limiter.close()
            await services.db.close()

    async def liveness(request: Request) -> Response:
        # The contract's `get_liveness`, answered before connexion: a probe polled every few seconds by
        # every orchestrator has no key, parameter or body to check, so connexion's routing and its
        # layers were nearly all of its cost (docs/benchmarks.md, "The API's fixed cost"). The middleware
        # chain still runs; the operation is named for the metrics as connexion would name it. Other
        # methods fall through to connexion (its uniform 405).
        request.scope.setdefault("extensions", {})["connexion_routing"] = LIVENESS_ROUTING
        return await get_liveness()

    async def openapi_json(request: Request) -> Response:
        return Response(served_spec(own_url(request)), media_type="application/json")

    async def redoc(_request: Any) -> FileResponse:
        return FileResponse(STATIC_DIR / "redoc" / "index.html", media_type="text/html")

    async def landing(_request: Any) -> FileResponse:
        return FileResponse(STATIC_DIR / "landing.html", media_type="text/html", headers=PAGE_HEADERS)

    async def dashboard(_request: Any) -> FileResponse:
        return FileResponse(
            STATIC_DIR / "dashboard" / "index.html", media_type="text/html", headers=PAGE_HEADERS
        )

    return Starlette(
        routes=[
            Route("/healthz", liveness, methods=["GET"]),
            # Before the connexion mount, which would serve the spec with an empty `servers` URL.
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/redoc", redoc),
            Route("/", landing),
            Route("/dashboard", dashboard),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            WebSocketRoute("/ws", websocket_endpoint),  # before the mount (HTTP GET /ws: connexion, 426)
            Mount("/", app=api),
        ],
        middleware=[
            Middleware(TraceMiddleware),
            Middleware(ApiCorsMiddleware, origins=settings.cors_origins),
            Middleware(ErrorMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(MetricsMiddleware),
            Middleware(
                RateLimitMiddleware,
                limiter=services.limiter,
                auth_failure_limit=settings.auth_failure_limit,
            ),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_body_bytes,
                upload_max_bytes=settings.max_upload_bytes,
                upload_routes=operation_routes(services.spec, UPLOAD_OPERATIONS),
            ),
            Middleware(ContentTypeMiddleware),
            Middleware(
                RequestBodyMiddleware,
                timeout_seconds=settings.body_timeout_seconds,
                raw_routes=operation_routes(services.spec, UPLOAD_OPERATIONS),
                allow_nul_routes=operation_routes(services.spec, NUL_ALLOWED_OPERATIONS),
            ),
            Middleware(NoContentMiddleware),
            Middleware(AttachServices, services=services),
        ],
        exception_handlers={HTTPException: _starlette_error_handler(render_error)},
        lifespan=lifespan,
    )
