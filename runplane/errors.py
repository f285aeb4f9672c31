"""Our error types and the one table that maps every error to a status, a code and a message.

Everything that can end a request early, ours or a library's, is turned into one `ErrorBody` by
`describe()`, and every error response of the service is rendered from it. Nothing else decides a status
code or an error code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import connexion.exceptions as cx
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from runplane.store import errors as database_errors
from runplane.validation import JsonBodyProblem, ParameterProblem, request_problem


class ApiError(Exception):
    """Base of the errors our own code raises; the class says the status and the code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = dict(details) if details else None
        self.headers = dict(headers) if headers else {}
        super().__init__(self.message)


class BadRequest(ApiError):
    status, code, default_message = 400, "BAD_REQUEST", "Bad request"


class ValidationFailed(ApiError):
    status, code, default_message = 400, "VALIDATION_ERROR", "Validation failed"


class Unprocessable(ApiError):
    status, code, default_message = 422, "VALIDATION_ERROR", "The request cannot be processed"


class Unauthorized(ApiError):
    status, code, default_message = 401, "UNAUTHORIZED", "Missing or invalid API key"


class Forbidden(ApiError):
    status, code, default_message = 403, "FORBIDDEN", "Insufficient permissions"


class NotFound(ApiError):
    status, code, default_message = 404, "NOT_FOUND", "Resource not found"


class MethodNotAllowed(ApiError):
    status, code, default_message = 405, "METHOD_NOT_ALLOWED", "Method not allowed"


class Conflict(ApiError):
    status, code, default_message = 409, "CONFLICT", "Conflict with the current state"


class PayloadTooLarge(ApiError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "Request body too large"


class RequestTimeout(ApiError):
    status, code, default_message = 408, "REQUEST_TIMEOUT", "The request body did not arrive in time"


class UnsupportedMediaType(ApiError):
    status, code, default_message = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported content type"


class RangeNotSatisfiable(ApiError):
    status, code, default_message = 416, "RANGE_NOT_SATISFIABLE", "Range not satisfiable"


class UpgradeRequired(ApiError):
    status, code, default_message = 426, "UPGRADE_REQUIRED", "Use a WebSocket to connect here"


class RateLimited(ApiError):
    status, code, default_message = 429, "RATE_LIMITED", "Rate limit exceeded"


class ServiceUnavailable(ApiError):
    status, code, default_message = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


CLIENT_CLOSED_REQUEST = 499
"""The status recorded (logs, metrics) for a request whose client went away before the answer: nginx's
499. No client ever reads it; it keeps a hang-up apart from a server error (500)."""


@dataclass(frozen=True)
class ErrorBody:
    status: int
    code: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self, trace_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code, "trace_id": trace_id}
        if self.details:
            body["details"] = self.details
        return body

    def render(self, trace_id: str) -> bytes:
        return json.dumps(self.payload(trace_id), separators=(",", ":")).encode()


# Codes for statuses that reach us without one of our exceptions (starlette routing, connexion problems).
STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", "Missing or invalid API key"),
    403: ("FORBIDDEN", "Insufficient permissions"),
    404: ("NOT_FOUND", "Resource not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    408: ("REQUEST_TIMEOUT", "The request body did not arrive in time"),
    409: ("CONFLICT", "Conflict with the current state"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported content type"),
    416: ("RANGE_NOT_SATISFIABLE", "Range not satisfiable"),
    422: ("VALIDATION_ERROR", "The request cannot be processed"),
    429: ("RATE_LIMITED", "Rate limit exceeded"),
    CLIENT_CLOSED_REQUEST: ("CLIENT_CLOSED_REQUEST", "The client closed the request"),
    500: ("INTERNAL_ERROR", "Internal server error"),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable"),
}

_MAX_MESSAGE = 300


def _from_api_error(exc: Exception) -> ErrorBody:
    assert isinstance(exc, ApiError)
    return ErrorBody(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _from_bad_request_problem(exc: Exception) -> ErrorBody:
    assert isinstance(exc, cx.ProblemException)
    if isinstance(exc.__context__, json.JSONDecodeError):
        return _from_json_error(exc.__context__)
    message, details = trim_validation_message(str(exc.detail or exc.title or "Bad request"))
    return ErrorBody(400, "VALIDATION_ERROR", message, details)


def _from_parameter_problem(exc: Exception) -> ErrorBody:
    assert isinstance(exc, ParameterProblem)
    return ErrorBody(
        400, "VALIDATION_ERROR", _short(str(exc.detail)), {"field": exc.field, "in": exc.location}
    )


def _from_extra_parameter(exc: Exception) -> ErrorBody:
    # connexion keeps the names only in its message: "Extra query parameter(s) a,b not in spec".
    assert isinstance(exc, cx.ExtraParameterProblem)
    words = str(exc.detail).split(" ")
    location, names = words[1], sorted(words[3].split(","))
    return ErrorBody(
        400,
        "VALIDATION_ERROR",
        _short(f"Unknown {location} parameter(s): {', '.join(names)}"),
        {"field": names[0], "in": location},
    )


def _from_problem(exc: Exception) -> ErrorBody:
    assert isinstance(exc, cx.ProblemException)
    code, default = STATUS_CODES.get(exc.status, STATUS_CODES[500])
    # Server-side problems (5xx) never show their detail: it may name internals.
    message = default if exc.status >= 500 else _short(str(exc.detail or default))
    return ErrorBody(exc.status if exc.status in STATUS_CODES else 500, code, message)


def _from_http_exception(exc: Exception) -> ErrorBody:
    assert isinstance(exc, HTTPException)
    code, default = STATUS_CODES.get(exc.status_code, ("BAD_REQUEST", "Bad request"))
    status = exc.status_code if exc.status_code >= 400 else 400
    return ErrorBody(status, code, default, headers=dict(exc.headers or {}))


def _from_unicode_error(exc: Exception) -> ErrorBody:
    return ErrorBody(400, "BAD_REQUEST", "Request body is not valid UTF-8")


def _from_json_error(exc: Exception) -> ErrorBody:
    assert isinstance(exc, json.JSONDecodeError)
    return ErrorBody(400, "BAD_REQUEST", "Request body is not valid JSON", {"position": exc.pos})


def _from_json_body_problem(exc: Exception) -> ErrorBody:
    assert isinstance(exc, JsonBodyProblem)
    details: dict[str, Any] = {}
    if exc.field is not None:
        details["field"] = exc.field
    if exc.position is not None:
        details["position"] = exc.position
    return ErrorBody(400, exc.code, _short(exc.message), details or None)


def _from_validation_error(exc: Exception) -> ErrorBody:
    # A request model's mismatch (the handler parsed the body) is the client's; a response model's is ours.
    assert isinstance(exc, ValidationError)
    if exc.title in request_model_names():
        return _from_json_body_problem(request_problem(exc))
    return _internal(exc)


def _from_client_disconnect(exc: Exception) -> ErrorBody:
    return ErrorBody(CLIENT_CLOSED_REQUEST, "CLIENT_CLOSED_REQUEST", "The client closed the request")


def _from_database_error(exc: Exception) -> ErrorBody:
    return ErrorBody(503, "SERVICE_UNAVAILABLE", "Database unavailable", headers={"Retry-After": "5"})


def _internal(exc: Exception) -> ErrorBody:
    return ErrorBody(500, "INTERNAL_ERROR", "Internal server error")


# The table. Order matters: the first entry whose type matches wins, so subclasses come first.
ERROR_TABLE: list[tuple[type[BaseException], Callable[[Exception], ErrorBody]]] = [
    (ApiError, _from_api_error),
    (ParameterProblem, _from_parameter_problem),
    (cx.ExtraParameterProblem, _from_extra_parameter),
    (cx.BadRequestProblem, _from_bad_request_problem),
    (cx.ProblemException, _from_problem),
    (cx.Forbidden, lambda exc: ErrorBody(403, "FORBIDDEN", "Insufficient permissions")),
    (HTTPException, _from_http_exception),
    (JsonBodyProblem, _from_json_body_problem),
    (ValidationError, _from_validation_error),
    (ClientDisconnect, _from_client_disconnect),
    (UnicodeDecodeError, _from_unicode_error),
    (json.JSONDecodeError, _from_json_error),
    (
        database_errors.DatabaseError,
        lambda exc: _from_database_error(exc) if database_errors.unavailable(exc) else _internal(exc),
    ),
    (Exception, _internal),
]


@cache
def request_model_names() -> frozenset[str]:
    """The names of the contract's schemas that are request bodies (the generated models' titles)."""
    from runplane.app import load_spec  # the contract is parsed once per process, there

    names = set()
    for item in load_spec().get("paths", {}).values():
        for operation in item.values():
            content = (
                operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            )
            for media in content.values():
                reference = media.get("schema", {}).get("$ref", "")
                if reference.startswith("#/components/schemas/"):
                    names.add(reference.rsplit("/", 1)[1])
    return frozenset(names)


def log_level(error: ErrorBody) -> int:
    """How loud a log line an error deserves: a server fault (500) is an error with its traceback; a
    dependency outage (503) is a warning, and so is a client that hung up (499); the rest is the client's."""
    if error.status in (CLIENT_CLOSED_REQUEST, 503):
        return logging.WARNING
    return logging.ERROR if error.status >= 500 else logging.DEBUG


def describe(exc: BaseException) -> ErrorBody:
    for exc_type, convert in ERROR_TABLE:
        if isinstance(exc, exc_type):
            return convert(exc)  # type: ignore[arg-type]
    return _internal(Exception())


def for_status(status: int, message: str | None = None, **details: Any) -> ErrorBody:
    code, default = STATUS_CODES.get(status, STATUS_CODES[500])
    return ErrorBody(status, code, message or default, details or None)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def trim_validation_message(detail: str) -> tuple[str, dict[str, Any] | None]:
    """Turn connexion's validation text into a short message and the offending field.

    connexion appends the whole JSON schema to body errors ("... Failed validating 'maximum' in
    schema[...]: {...}"); only the first sentence is useful to a client. Body errors name the field
    as "'x' is a required property" or as a path "- 'a.b'"; parameter errors as "for query parameter x".
    """
    first = detail.split("\n\nFailed validating")[0].split("\n")[0].strip()
    field_name: str | None = None
    if " - '" in first:
        first, _, path = first.rpartition(" - '")
        field_name = path.rstrip("'")
    elif first.endswith("is a required property") and first.startswith("'"):
        field_name = first[1:].split("'", 1)[0]
    elif first.startswith("Additional properties are not allowed ('"):
        field_name = first.split("('", 1)[1].split("'", 1)[0]
    else:
        for marker in ("query parameter ", "path parameter ", "header parameter ", "parameter "):
            if marker in first:
                field_name = first.split(marker, 1)[1].split()[0].strip("'\":,")
                break
    details = {"field": field_name} if field_name else None
    return _short(first), details


def log_error(logger: logging.Logger, error: ErrorBody, exc: BaseException, method: Any, path: Any) -> None:
    """One log line for an error answer, as loud as `log_level` says: a traceback only for our faults."""
    level = log_level(error)
    if level >= logging.ERROR:
        logger.error("unhandled error on %s %s", method, path, exc_info=exc)
    elif error.status == CLIENT_CLOSED_REQUEST:
        logger.warning("client disconnected during %s %s", method, path)
    elif level >= logging.WARNING:
        logger.warning(
            "%s on %s %s: %s (%s)", error.status, method, path, error.message, exc.__class__.__name__
        )
