"""Input rules the contract cannot state, checked in one place.

- `NamingParameterValidator`: connexion's parameter validation, made to name the parameter it rejects.
- `check_json_body`: the server limits on every JSON request body (no NUL, no lone surrogates, bounded
  integers, bounded nesting), applied by `ServerLimitsJSONBodyValidator`, connexion's body validator for
  every JSON body of every operation.
- `parse_request`: a generated request model from a validated body; a mismatch is a 400 naming the field.
- `invalid_environment_names`: environment variable names a process could never be given.
- `utc_instant`: an RFC 3339 date-time as a UTC instant; every `format: date-time` parameter and body
  field is held to it (a date-time whose UTC value falls outside years 1 to 9999 is refused, by name).

connexion reports a bad parameter value with the jsonschema message alone ("0 is less than the minimum
of 1"), which leaves a client guessing which parameter was meant; this validator raises a problem that
carries the parameter's name and location, which the error table puts into `details`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import jsonschema  # type: ignore[import-untyped]
from connexion.exceptions import BadRequestProblem
from connexion.validators.json import JSONRequestBodyValidator
from connexion.validators.parameter import ParameterValidator
from pydantic import BaseModel, ValidationError
from rfc3339_validator import validate_rfc3339  # type: ignore[import-untyped]
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from generated import models as generated_models


class ParameterProblem(BadRequestProblem):
    def __init__(self, detail: str, *, field: str, location: str) -> None:
        super().__init__(detail=detail)
        self.field = field
        self.location = location


class NamingParameterValidator(ParameterValidator):
    """connexion's parameter validation, with errors naming the parameter (`ParameterProblem`), and a
    single-valued query parameter given more than once refused (connexion would keep one of them)."""

    def validate_query_parameter(self, param: dict[str, Any], request: Any) -> str | None:
        name = param["name"]
        if param.get("schema", {}).get("type") != "array":
            given = request._starlette_request.query_params.getlist(name)
            if len(given) > 1:
                raise ParameterProblem(
                    f"Query parameter '{name}' takes one value; it was given {len(given)} times",
                    field=name,
                    location="query",
                )
        return super().validate_query_parameter(param, request)  # type: ignore[no-any-return]

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if error and param.get("schema", {}).get("format") == "date-time":
            raise ParameterProblem(
                f"'{param['name']}' {DATE_TIME_RULE}", field=param["name"], location=parameter_type
            )
        if error:
            message = error.split("\n\nFailed validating")[0].split("\n")[0]
            raise ParameterProblem(message, field=param["name"], location=parameter_type)
        return None


ModelT = TypeVar("ModelT", bound=BaseModel)


# --- date-times ------------------------------------------------------------------------------------------
#
# RFC 3339 allows offsets up to ±23:59 on any date of years 0000 to 9999, so "9999-12-31T23:59:59-14:00" is a
# valid date-time whose UTC value lies in year 10000: Python's datetime (years 1 to 9999) cannot hold it, and
# converting it to UTC (as every stored or compared instant is) raises OverflowError. The contract cannot
# say this, so every `format: date-time` value is checked here, once: the JSON-schema format checker that
# connexion uses for every parameter and body is given this rule in place of the plain RFC 3339 one.

DATE_TIME_RULE = (
    "must be an RFC 3339 date-time (e.g. 2026-01-31T12:00:00Z) whose UTC value lies between "
    "0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
)
"""What a date-time must be, as the error messages say it."""


def utc_instant(text: str) -> datetime:
    """The UTC instant of an RFC 3339 date-time (`text`, with its offset); raises ValueError when `text`
    is no RFC 3339 date-time or its UTC value is outside what `datetime` holds (years 1 to 9999)."""
    if not validate_rfc3339(text.upper()):
        raise ValueError(DATE_TIME_RULE)
    try:
        moment = datetime.fromisoformat(text.upper())
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(DATE_TIME_RULE) from None


@jsonschema.Draft4Validator.FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_representable_date_time(instance: object) -> bool:
    # Replaces jsonschema's RFC 3339 check in the checker connexion validates parameters and bodies with.
    if isinstance(instance, str):
        utc_instant(instance)
    return True


# --- JSON request bodies -------------------------------------------------------------------------------
#
# JSON (RFC 8259) allows things no part of this service can hold: a lone surrogate escape ("\ud800") is no
# Unicode character and cannot be encoded as UTF-8, PostgreSQL refuses NUL in text and JSON columns and an
# operating system refuses it in a command line or an environment, Python refuses to convert integers of
# more than 4300 digits, and its parser overflows the stack on nesting a few hundred levels deep. The
# contract cannot say most of this, so these are server limits, documented in openapi.yaml's description
# and checked here, once, for every JSON body of every operation, before the contract's own validation
# (by `ServerLimitsJSONBodyValidator`, which replaces connexion's parser).

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in a JSON body (the body itself is level 1)."""
MAX_INTEGER_DIGITS = 64
"""Longest integer literal accepted in a JSON body, in digits; every integer field is far smaller."""

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Strings and the brackets outside them, for locating an overly deep spot without recursion.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


class JsonBodyProblem(Exception):
    """A JSON request body the service refuses; `code` is the error code, `field` the dotted path."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "VALIDATION_ERROR",
        field: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.position = position


class _Refused:
    """A number the parser met that the service refuses (kept as a marker so its path can be named)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_int(literal: str) -> int | _Refused:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        return _Refused(f"integer has more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def _parse_float(literal: str) -> float | _Refused:
    value = float(literal)
    return value if math.isfinite(value) else _Refused("number is out of range")


def _parse_constant(literal: str) -> _Refused:
    return _Refused(f"{literal} is not a JSON number")


def _dotted(path: Sequence[str | int]) -> str | None:
    return ".".join(str(part) for part in path) if path else None


def _character_problem(text: str, forbidden: re.Pattern[str]) -> str | None:
    found = forbidden.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000)"
    return f"contains an unpaired surrogate (\\u{ord(found.group()):04x})"


def _walk(document: Any, *, allow_nul: bool) -> None:
    """Depth-first over the parsed body without recursion; raises on the first refused value."""
    forbidden = _SURROGATE if allow_nul else _FORBIDDEN
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_JSON_DEPTH and isinstance(value, (dict, list)):
            raise JsonBodyProblem(
                f"Nested deeper than {MAX_JSON_DEPTH} levels",
                field=_dotted([part for part in path if isinstance(part, str)]),
            )
        if isinstance(value, str):
            problem = _character_problem(value, forbidden)
            if problem:
                raise JsonBodyProblem(f"'{_dotted(path) or 'body'}' {problem}", field=_dotted(path))
        elif isinstance(value, _Refused):
            raise JsonBodyProblem(f"'{_dotted(path) or 'body'}': {value.reason}", field=_dotted(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _character_problem(key, forbidden)
                if problem:
                    where = _dotted(path)
                    raise JsonBodyProblem(f"A property name in '{where or 'body'}' {problem}", field=where)
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


def _deep_spot(text: str) -> str | None:
    """The dotted path (property names only) at which `text` first nests deeper than MAX_JSON_DEPTH."""
    keys: list[str | None] = []
    pending: str | None = None
    for token in _JSON_TOKEN.finditer(text):
        lexeme = token.group()
        if lexeme in ("{", "["):
            keys.append(pending)
            pending = None
            if len(keys) > MAX_JSON_DEPTH:
                break
        elif lexeme in ("}", "]"):
            if keys:
                keys.pop()
        elif lexeme.endswith(":"):
            pending = lexeme.rstrip(":").strip()[1:-1]
    return ".".join(key for key in keys if key is not None) or None


def check_json_body(data: bytes, *, allow_nul: bool = False) -> Any:
    """The parsed JSON request body, unless the service cannot hold it (see the server limits above).

    Raises `JsonBodyProblem`: code BAD_REQUEST when the bytes are not UTF-8 or not JSON (with the
    parser's `position`), VALIDATION_ERROR naming the field (a dotted path, list indices as numbers) for
    a lone surrogate, a NUL (unless `allow_nul`: task log text is stored as written), an integer of more
    than MAX_INTEGER_DIGITS digits, NaN or an infinite number, or nesting deeper than MAX_JSON_DEPTH.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyProblem("Request body is not valid UTF-8", code="BAD_REQUEST") from None
    try:
        document = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except json.JSONDecodeError as exc:
        raise JsonBodyProblem(
            "Request body is not valid JSON", code="BAD_REQUEST", position=exc.pos
        ) from None
    except RecursionError:
        raise JsonBodyProblem(f"Nested deeper than {MAX_JSON_DEPTH} levels", field=_deep_spot(text)) from None
    _walk(document, allow_nul=allow_nul)
    return document


ALLOW_NUL_SCOPE_KEY = "runplane.json_allow_nul"
"""True in the ASGI scope of the operations whose JSON strings may hold NUL (task log lines)."""


class ServerLimitsJSONBodyValidator(JSONRequestBodyValidator):
    """connexion's validator of JSON request bodies, parsing with `check_json_body`.

    connexion runs it for every operation with a JSON body, after the key is checked (an unauthenticated
    body is never parsed) and before the schema is: so every JSON body of every operation is held to the
    server limits in this one place, and what passes is parsed once. It differs from connexion's in three
    ways: a chunked body (``Transfer-Encoding: chunked``, RFC 9112 §7.1, no ``Content-Length``) is read
    instead of being taken for a missing one; a JSON ``null`` body is named as such; and a schema mismatch
    is described without the offending value (`schema_error_message`), so a secret sent in the wrong
    shape is never echoed to the client or written to the log.
    """

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        headers = Headers(scope=scope)
        if "content-length" not in headers and "chunked" in headers.get("transfer-encoding", "").lower():
            # BodyLimitMiddleware, outside this, has already bounded what `receive` can deliver.
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunks.append(message.get("body", b""))
                more = bool(message.get("more_body", False))
            body = b"".join(chunks)
            scope = {
                **scope,
                "headers": [
                    *(
                        (name, value)
                        for name, value in scope["headers"]
                        if name.lower() != b"transfer-encoding"
                    ),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
            receive = self._insert_messages(
                receive, messages=[{"type": "http.request", "body": body, "more_body": False}]
            )
        wrapped: tuple[Receive, Scope] = await super().wrap_receive(receive, scope=scope)
        return wrapped

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        data = b"".join([chunk async for chunk in stream])
        if not data:
            return None
        document = check_json_body(data, allow_nul=bool(scope.get(ALLOW_NUL_SCOPE_KEY)))
        if document is None and not self._nullable:
            raise JsonBodyProblem("Request body must be a JSON value other than null")
        return document

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None and not self._required:
            return None  # an optional body (``requestBody.required: false``) left out
        if not self._nullable and body is None:
            raise BadRequestProblem("Request body must not be empty")
        try:
            self._validator.validate(body)
        except jsonschema.ValidationError as exc:
            message, field = schema_error_message(exc)
            raise JsonBodyProblem(message, field=field) from None
        return None


def schema_error_message(error: jsonschema.ValidationError) -> tuple[str, str | None]:
    """A JSON-schema mismatch as (message, dotted field), naming the rule and never the value.

    jsonschema's own messages quote the instance (``'topsecret' is not of type 'object'``); a body's
    values may be secrets, so the message is rebuilt from the keyword (`error.validator`) and its
    argument (`error.validator_value`), which come from the contract: ``'priority' must be at most
    10``. A missing or unexpected property keeps jsonschema's message, which names properties only
    (``'job_name' is a required property``), and the field is that property.
    """
    rule = error.validator
    bound = error.validator_value
    where = _dotted(list(error.path))
    if rule in ("required", "additionalProperties"):
        names = re.findall(r"'([^']*)'", error.message)
        field = ".".join(part for part in (where, names[0] if names else None) if part)
        suffix = f" in '{where}'" if where else ""
        return error.message + suffix, field or None
    if rule == "type":
        kinds = [bound] if isinstance(bound, str) else list(bound)
        text = f"must be of type {' or '.join(kinds)}"
    elif rule == "enum":
        text = f"must be one of: {', '.join(json.dumps(choice) for choice in bound)}"
    elif rule == "const":
        text = f"must be {json.dumps(bound)}"
    elif rule in _BOUND_WORDS:
        text = _BOUND_WORDS[rule].format(bound)
    elif rule == "pattern":
        text = f"must match the pattern {bound}"
    elif rule == "format" and bound == "date-time":
        text = DATE_TIME_RULE
    elif rule == "format":
        text = f"must be a valid {bound}"
    elif rule == "uniqueItems":
        text = "must not hold the same item twice"
    elif rule in ("oneOf", "anyOf"):
        text = "matches none of the allowed shapes"
    elif rule == "not":
        text = "has a shape that is not allowed"
    else:
        text = f"is not valid ({rule})"
    return (f"'{where}' {text}" if where else f"Request body {text}"), where


_BOUND_WORDS = {
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "multipleOf": "must be a multiple of {}",
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minItems": "must hold at least {} items",
    "maxItems": "must hold at most {} items",
    "minProperties": "must hold at least {} entries",
    "maxProperties": "must hold at most {} entries",
}


def parse_request(model: type[ModelT], body: Any) -> ModelT:
    """`model` (a generated request model) from a request body; a mismatch is a 400 naming the field.

    connexion has validated the body against the same schema already; this is the seam where the two
    validators could disagree (pydantic is stricter about strings and numbers than jsonschema).
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise request_problem(exc) from None


def request_problem(exc: ValidationError) -> JsonBodyProblem:
    """A request model's ValidationError as a 400 naming the field: the most specific of its errors.

    A field that takes one of several shapes (`args`: a string or a list) fails once per shape, and
    pydantic puts the shape's name into the error's location (`args.ArgumentList.1`); those names are
    left out, and the deepest location wins, so the answer names `args.1` rather than `args`.
    """
    shapes = _model_names()

    def path(error: Any) -> list[str | int]:
        return [
            part
            for part in error["loc"]
            if isinstance(part, int) or (isinstance(part, str) and part not in shapes and "[" not in part)
        ]

    best = max(exc.errors(include_url=False), key=lambda error: len(path(error)))
    where = _dotted(path(best))
    message = f"'{where}': {best['msg']}" if where else str(best["msg"])
    return JsonBodyProblem(message, field=where)


@functools.cache
def _model_names() -> frozenset[str]:
    """The names of the generated models (pydantic's tags for the shapes of a union field)."""
    return frozenset(
        name
        for name, value in vars(generated_models).items()
        if isinstance(value, type) and name[0].isupper()
    )


# --- Environment variable names --------------------------------------------------------------------------

POSIX_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A portable environment variable name (POSIX.1-2017, 8.1: letters, digits and `_`, not a digit first)."""


def invalid_environment_names(names: Iterable[str]) -> list[str]:
    """The names among `names` that are not portable environment variable names, in the order given."""
    return [name for name in names if POSIX_NAME.fullmatch(name) is None]
