"""Assembles the ASGI application: the connexion API inside an outer Starlette app.

The outer app owns the lifespan, the middleware chain (its order is documented in
`runplane.middleware`) and the routes that are not operations of the contract (static files, ReDoc);
connexion owns routing, security and validation of every operation in openapi.yaml.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from connexion import AsyncApp, ConnexionMiddleware
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.options import SwaggerUIOptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from runplane.errors import describe
from runplane.experiments import ExperimentManager
from runplane.logs import configure_logging
from runplane.middleware.access import AccessLogMiddleware
from runplane.middleware.body_limit import BodyLimitMiddleware
from runplane.middleware.errors import ErrorMiddleware
from runplane.middleware.ratelimit import RateLimitMiddleware
from runplane.middleware.trace import TraceMiddleware
from runplane.ratelimit import RateLimiter, storage_uri_for
from runplane.security import operation_roles
from runplane.services import SCOPE_KEY, Services
from runplane.settings import Settings
from runplane.store.database import Database
from runplane.store.experiments import ExperimentStore
from runplane.store.keys import KeyStore
from runplane.store.tasks import TaskStore
from runplane.tasks import AgingPolicy, TaskManager
from runplane.tracing import current_trace_id
from runplane.validation import NamingParameterValidator

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
STATIC_DIR = Path(__file__).resolve().parent / "static"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

logger = logging.getLogger("runplane.app")


@cache
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
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


def build_services(settings: Settings) -> Services:
    db = Database(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
    experiments = ExperimentManager(ExperimentStore(db))
    aging = AgingPolicy(settings.aging_rate, settings.aging_max_boost)
    spec = load_spec()
    return Services(
        settings=settings,
        db=db,
        keys=KeyStore(db),
        tasks=TaskManager(TaskStore(db), experiments, aging),
        experiments=experiments,
        limiter=RateLimiter(
            storage_uri_for(settings.redis_url, settings.resolved_data_dir), settings.rate_limit
        ),
        spec=spec,
        operation_roles=operation_roles(spec),
    )


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
        if error.status >= 500:
            logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    services = build_services(settings)

    api = AsyncApp(
        __name__,
        middlewares=[m for m in ConnexionMiddleware.default_middlewares if m is not ServerErrorMiddleware],
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs", spec_path="/openapi.json"),
        pythonic_params=True,
    )
    api.add_api(
        SPEC_PATH,
        strict_validation=True,
        validate_responses=False,
        validator_map={"parameter": NamingParameterValidator},
    )
    render_error = _error_renderer(path_methods(services.spec))
    for exc_type in (ProblemException, HTTPException, Exception):
        api.add_error_handler(exc_type, render_error)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.limiter.close()
            await services.db.close()

    async def redoc(_request: Any) -> FileResponse:
        return FileResponse(STATIC_DIR / "redoc" / "index.html", media_type="text/html")

    return Starlette(
        routes=[
            Route("/redoc", redoc),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            Mount("/", app=api),
        ],
        middleware=[
            Middleware(TraceMiddleware),
            Middleware(ErrorMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(
                RateLimitMiddleware,
                limiter=services.limiter,
                key_limit=settings.rate_limit,
                auth_failure_limit=settings.auth_failure_limit,
            ),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(AttachServices, services=services),
        ],
        lifespan=lifespan,
    )
