"""The baseline for bench/api_load.py: a bare Starlette app doing a task request's essential work.

Per request it does what runplane cannot avoid doing for `GET /v1/tasks/{id}` and `POST /v1/tasks`, with
the same building blocks and nothing else: the X-API-Key looked up by its SHA-256 hash
(`runplane.security.hash_key`) in the same schema through the same `runplane.store.Database` (so the same
SQLite file, WAL mode and pragmas), the body validated by the generated `TaskCreate` model, one INSERT of a
`TaskRow` or one SELECT by id (with the same owner check), and the answer built with the generated `Task`
model. What it leaves out is what the ratio measures: connexion (routing, security, JSON-schema
validation, parameter handling), runplane's middleware chain (trace id, error rendering, access log,
metrics, rate limiter, body limit), idempotency fingerprints, redaction and aging.

``BARE_RECORDS`` says what a POST writes besides the task row: ``task`` (the default) nothing, which is the
baseline the ratio goal of issue 11 was set against; ``all`` also what runplane records of every
submission in the same transaction, with runplane's own writer (`runplane.store.events.task_changed`):
the `task_update` event the live streams read and the audit chain's `job_queued` link. The ratio against
``all`` is what the framework costs (contract layers, middleware, handler) beside the same writes.

Served by api_load.py with runplane's own gunicorn command line (`runplane.cli.gunicorn_command`), the
app target swapped for `bare_app:app`; it reads the database location from the same RUNPLANE_* settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from generated.models import Task, TaskCreate
from runplane.security import hash_key
from runplane.settings import Settings
from runplane.store import events
from runplane.store.database import Database
from runplane.store.tables import ApiKeyRow, TaskRow
from runplane.tasks import new_task_row

settings = Settings()
db = Database(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
RECORDS = os.environ.get("BARE_RECORDS", "task")
if RECORDS not in ("task", "all"):
    raise SystemExit(f"BARE_RECORDS must be 'task' or 'all', not {RECORDS!r}")


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": message, "code": code})
    return Response(body, status_code=status, media_type="application/json")


async def _user_of(request: Request) -> str | None:
    """The user id the presented key acts for, or None (no key, unknown or revoked)."""
    key = request.headers.get("x-api-key")
    if key is None:
        return None
    async with db.reader() as session:
        row = await session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key), ApiKeyRow.revoked_at.is_(None))
        )
    return row.user_id if row is not None else None


# Task fields that are a TaskRow attribute of the same name; the others are set in _task_json.
_COPIED_FIELDS = (
    "id",
    "job_name",
    "status",
    "priority",
    "user_id",
    "entrypoint",
    "args",
    "model_id",
    "inputs",
    "snapshot_id",
    "datasets",
    "dataset_specs",
    "cpu",
    "memory_gb",
    "gpu",
    "gpu_type",
    "node_count",
    "reservation_id",
    "plugin_configs",
    "max_retries",
    "retry_count",
    "retry_on",
    "retry_on_exit_codes",
    "retry_backoff_seconds",
    "attempts",
    "timeout_seconds",
    "env",
    "experiment_id",
    "run_label",
    "random_seed",
    "progress",
    "message",
    "worker_id",
    "created_at",
    "updated_at",
    "started_at",
    "ended_at",
)


def _task_json(row: TaskRow) -> bytes:
    fields: dict[str, Any] = {name: getattr(row, name) for name in _COPIED_FIELDS}
    fields.update(
        priority_aged=float(row.priority),
        attempt=row.retry_count + 1,
        secret_names=sorted(row.secrets),
        metadata=row.metadata_,
        failure=None,
    )
    # model_dump_json is the idiomatic (and fastest) pydantic way; runplane goes through a dict and json.
    return Task.model_validate(fields).model_dump_json().encode()


async def create_task(request: Request) -> Response:
    user_id = await _user_of(request)
    if user_id is None:
        return _error(401, "UNAUTHENTICATED", "A valid X-API-Key header is required")
    try:
        body = TaskCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        return _error(400, "VALIDATION_ERROR", str(exc.errors(include_url=False)[0]["msg"]))
    if (body.entrypoint is None) == (body.model_id is None):
        return _error(422, "UNPROCESSABLE", "Give exactly one of 'entrypoint' or 'model_id'")
    row = new_task_row(user_id, body)
    async with db.session() as session:
        session.add(row)
        if RECORDS == "all":
            await events.task_changed(session, row, previous=None)
    return Response(_task_json(row), status_code=201, media_type="application/json")


async def get_task(request: Request) -> Response:
    user_id = await _user_of(request)
    if user_id is None:
        return _error(401, "UNAUTHENTICATED", "A valid X-API-Key header is required")
    async with db.reader() as session:
        row = await session.get(TaskRow, request.path_params["task_id"])
    if row is None or row.user_id != user_id:
        return _error(404, "NOT_FOUND", "Task not found")
    return Response(_task_json(row), media_type="application/json")


async def liveness(_request: Request) -> Response:
    """The trivial endpoint: what the server and the client cost with no work at all."""
    return PlainTextResponse("ok")


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await db.close()


app = Starlette(
    routes=[
        Route("/healthz", liveness),
        Route("/v1/tasks", create_task, methods=["POST"]),
        Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
    ],
    lifespan=lifespan,
)
