"""The worker's HTTP client: exactly the worker operations of ``openapi.yaml``, and nothing else.

Bodies are built and parsed with the models generated from the contract (``generated/models.py``), so a
drift between the spec and what the worker sends or expects fails loudly here rather than on the server.

Retries. A request is retried with exponential backoff (and jitter) when the server could not take it:
connection failures, 502/503/504, and 429 (waiting at least ``Retry-After``). A request that may have
reached the server but whose answer was lost (a read timeout, a dropped connection) is retried only for
operations that are safe to repeat: claiming twice could take a second task the worker never hears of.
(Log batches are safe: each names its first line, and the server stores a line once.) Everything else is an exception the caller can act on:
:class:`Unauthorized` / :class:`Forbidden` (the key is wrong: stop), :class:`NotFound` /
:class:`Conflict` (the worker or the task is no longer ours: re-register, or drop the task), and
:class:`ApiUnavailable` when the retries ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from generated.models import (
    Artifact,
    ClaimRequest,
    ClaimResult,
    ErrorResponse,
    Heartbeat,
    HeartbeatReply,
    LogBatch,
    TaskReport,
    TaskReportReply,
    WorkerLease,
    WorkerRegistration,
)
from runplane import __version__
from runplane.worker.outputs import encode_artifact_path

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Failures before the request left this machine: repeating is always safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UPLOAD_CHUNK_BYTES = 1024 * 1024


class ApiError(Exception):
    """The API answered with an error; ``code`` and ``trace_id`` come from its uniform error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        trace_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        text = f"{status} {code or 'HTTP error'}: {message}"
        if trace_id:
            text += f" (trace {trace_id})"
        super().__init__(text)
        self.status = status
        self.message = message
        self.code = code
        self.trace_id = trace_id
        self.details = details or {}


class BadRequest(ApiError):
    """400/413/415/416/422: the worker sent something the contract does not allow (a bug, or a file)."""


class Unauthorized(ApiError):
    """401: the key is unknown or revoked."""


class Forbidden(ApiError):
    """403: the key is not a worker key."""


class NotFound(ApiError):
    """404: the worker, the task or the snapshot does not exist (for this key)."""


class Conflict(ApiError):
    """409: the worker's lease has ended, or the task is no longer assigned to this worker."""


class RateLimited(ApiError):
    """429 that outlasted the retry budget."""


class ServerError(ApiError):
    """5xx that outlasted the retry budget (or is not worth retrying)."""


class ApiUnavailable(Exception):
    """The API could not be reached (or kept failing) within the retry budget."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for a non-2xx answer, with the uniform error body's fields when it has one."""
    status = response.status_code
    try:
        body = ErrorResponse.model_validate_json(response.content)
    except ValidationError:
        cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
        text = response.text.strip()[:200] or response.reason_phrase
        return cls(status, text, trace_id=response.headers.get("x-trace-id"))
    return error_from_body(status, body)


def error_from_body(status: int, body: ErrorResponse | None) -> ApiError:
    """The exception a call answered `status` with `body` raises: what a report carried by a claim
    (`ClaimReportResult`) raises when its status is an error, exactly as the report operation would."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else BadRequest)
    if body is None:
        return cls(status, "no error body")
    return cls(
        status,
        body.error,
        code=str(body.code),
        trace_id=body.trace_id,
        details=dict(body.details) if body.details else None,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: at most ``attempts`` tries within ``deadline_seconds``."""

    attempts: int = 6
    base_delay_seconds: float = 0.25
    max_delay_seconds: float = 5.0
    deadline_seconds: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The pause before try ``attempt + 1`` (``attempt`` >= 1): exponential, capped, with full jitter."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


# A request body that can be produced again for a retry (an upload streams its file afresh each time).
ContentFactory = Callable[[], AsyncIterator[bytes]]


class WorkerClient:
    """The worker operations of the contract over one pooled ``httpx.AsyncClient``.

    ``transport`` replaces the network (tests pass an ``httpx.MockTransport``); ``sleep`` replaces
    ``asyncio.sleep`` between retries.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"X-API-Key": api_key, "User-Agent": f"runplane-worker/{__version__}"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            transport=transport,
            # Worker operations never redirect; following one would send the key elsewhere.
            follow_redirects=False,
        )

    async def __aenter__(self) -> WorkerClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- operations -----------------------------------------------------------------------------------

    async def register(self, registration: WorkerRegistration) -> WorkerLease:
        # Registering twice leaves one stale worker record that simply expires: safe to repeat.
        response = await self._call("POST", "/v1/workers", json=_dump(registration), idempotent=True)
        return _parse(WorkerLease, response)

    async def heartbeat(
        self, worker_id: str, heartbeat: Heartbeat, *, retry: RetryPolicy | None = None
    ) -> HeartbeatReply:
        response = await self._call(
            "POST",
            f"/v1/workers/{_seg(worker_id)}/heartbeat",
            json=_dump(heartbeat),
            idempotent=True,
            retry=retry,
        )
        return _parse(HeartbeatReply, response)

    async def claim(
        self, worker_id: str, request: ClaimRequest, *, retry: RetryPolicy | None = None
    ) -> ClaimResult:
        """Claims work; a long poll (`wait_seconds`) gets that much longer to answer than other calls."""
        response = await self._call(
            "POST",
            f"/v1/workers/{_seg(worker_id)}/claim",
            json=_dump(request),
            idempotent=False,
            retry=retry,
            extra_seconds=request.wait_seconds or 0.0,
        )
        return _parse(ClaimResult, response)

    async def report(self, worker_id: str, task_id: str, report: TaskReport) -> TaskReportReply:
        # The same report sent twice states the same thing twice (progress never goes down).
        response = await self._call(
            "POST",
            f"/v1/workers/{_seg(worker_id)}/tasks/{_seg(task_id)}/report",
            json=_dump(report),
            idempotent=True,
        )
        return _parse(TaskReportReply, response)

    async def append_logs(self, worker_id: str, task_id: str, batch: LogBatch) -> None:
        # A batch names its attempt and first line: the server skips lines it has, so repeating is safe.
        await self._call(
            "POST",
            f"/v1/workers/{_seg(worker_id)}/tasks/{_seg(task_id)}/logs",
            json=_dump(batch),
            idempotent=True,
        )

    async def upload_artifact(
        self, worker_id: str, task_id: str, *, path: str, sha256: str, file: Path, size: int
    ) -> Artifact:
        """Stream ``file`` as the artifact ``path``; the server checks ``sha256`` on arrival.

        ``path`` is the artifact name; it travels with each segment percent-encoded (the server decodes it
        exactly once), so names holding ``%`` arrive as written.
        """

        async def chunks() -> AsyncIterator[bytes]:
            with file.open("rb") as fh:
                while chunk := await asyncio.to_thread(fh.read, _UPLOAD_CHUNK_BYTES):
                    yield chunk

        response = await self._call(
            "POST",
            f"/v1/workers/{_seg(worker_id)}/tasks/{_seg(task_id)}/artifacts",
            params={"path": encode_artifact_path(path), "sha256": sha256},
            content_factory=chunks,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            # The same path uploaded again replaces the same bytes.
            idempotent=True,
        )
        return _parse(Artifact, response)

    async def download_snapshot(self, snapshot_id: str, dest: Path) -> int:
        """Save the snapshot archive to ``dest``; returns its size in bytes."""
        url = f"/v1/snapshots/{_seg(snapshot_id)}/content"
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._http.stream("GET", url) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        delay = self._retry_delay(policy, attempt, started, response=response)
                        if delay is None:
                            raise error_from_response(response)
                    else:
                        size = 0
                        with dest.open("wb") as out:
                            async for chunk in response.aiter_bytes(_UPLOAD_CHUNK_BYTES):
                                await asyncio.to_thread(out.write, chunk)
                                size += len(chunk)
                        return size
            except httpx.TransportError as exc:
                delay = self._retry_delay(policy, attempt, started, error=exc, idempotent=True)
                if delay is None:
                    raise ApiUnavailable(f"GET {url}: {exc!r}") from exc
            await self._sleep(delay)

    # -- the retry loop -------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content_factory: ContentFactory | None = None,
        retry: RetryPolicy | None = None,
        extra_seconds: float = 0.0,
    ) -> httpx.Response:
        policy = retry or self.retry
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if extra_seconds > 0:
            # The server may hold this request that long before it starts to answer (a long poll).
            default = self._http.timeout
            timeout = httpx.Timeout(
                connect=default.connect,
                read=(default.read or 0.0) + extra_seconds,
                write=default.write,
                pool=default.pool,
            )
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    params=params,
                    headers=headers,
                    content=content_factory() if content_factory is not None else None,
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                delay = self._retry_delay(policy, attempt, started, error=exc, idempotent=idempotent)
                if delay is None:
                    raise ApiUnavailable(f"{method} {url}: {exc!r}") from exc
                logger.info("%s %s failed (%r); retrying in %.2fs", method, url, exc, delay)
            else:
                if response.status_code < 400:
                    return response
                delay = self._retry_delay(policy, attempt, started, response=response)
                if delay is None:
                    raise error_from_response(response)
                logger.info("%s %s answered %d; retrying in %.2fs", method, url, response.status_code, delay)
            await self._sleep(delay)

    @staticmethod
    def _retry_delay(
        policy: RetryPolicy,
        attempt: int,
        started: float,
        *,
        response: httpx.Response | None = None,
        error: httpx.TransportError | None = None,
        idempotent: bool = True,
    ) -> float | None:
        """How long to wait before trying again, or ``None`` to give up now."""
        if response is not None:
            if response.status_code not in _RETRY_STATUSES:
                return None
            delay = max(policy.backoff(attempt), retry_after_seconds(response) or 0.0)
        else:
            if not idempotent and not isinstance(error, _NOT_SENT):
                return None
            delay = policy.backoff(attempt)
        if attempt >= policy.attempts:
            return None
        if time.monotonic() - started + delay > policy.deadline_seconds:
            return None
        return delay


def _seg(value: str) -> str:
    """One path segment, percent-encoded (ids are opaque strings to the worker)."""
    return quote(value, safe="")


def _dump(model: BaseModel) -> Any:
    # Omit unset optional fields: a TaskReport with only ``progress`` must not send ``status: null``.
    return model.model_dump(mode="json", exclude_none=True)


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ServerError(
            response.status_code,
            f"answer does not match the contract's {model.__name__}: {exc.errors()[:3]}",
            trace_id=response.headers.get("x-trace-id"),
        ) from exc
