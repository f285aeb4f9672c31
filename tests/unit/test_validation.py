"""The server limits on JSON request bodies and the request-model seam (runplane.validation)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from generated.models import Task, TaskCreate
from runplane.errors import describe
from runplane.validation import (
    MAX_JSON_DEPTH,
    JsonBodyProblem,
    check_json_body,
    invalid_environment_names,
    parse_request,
)


def problem(data: bytes, **options: bool) -> JsonBodyProblem:
    with pytest.raises(JsonBodyProblem) as caught:
        check_json_body(data, **options)
    return caught.value


def test_ordinary_bodies_pass():
    check_json_body(b'{"a": [1, -2.5e3, "\\ud83d\\ude00 ok", {"b": null}], "c": true}')
    check_json_body(b'{"n": ' + b"9" * 64 + b"}")
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    check_json_body(b'{"d": ' + nested + b"}")


def test_nesting_is_counted_from_the_body():
    too_deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    found = problem(b'{"d": ' + too_deep + b"}")
    assert (found.message, found.field) == ("Nested deeper than 32 levels", "d")


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        (b'{"a": {"b": ["x", "\\u0000"]}}', "'a.b.1' contains a NUL character (\\u0000)", "a.b.1"),
        (b'{"a": "\\udc80"}', "'a' contains an unpaired surrogate (\\udc80)", "a"),
        (b'{"a": {"\\ud800": 1}}', "A property name in 'a' contains an unpaired surrogate (\\ud800)", "a"),
        (b'"\\u0000"', "'body' contains a NUL character (\\u0000)", None),
        (b'{"a": -' + b"1" * 65 + b"}", "'a': integer has more than 64 digits", "a"),
        (b'{"a": [Infinity]}', "'a.0': Infinity is not a JSON number", "a.0"),
        (b'{"a": -1e400}', "'a': number is out of range", "a"),
    ],
)
def test_refused_values_name_their_field(data, message, field):
    found = problem(data)
    assert (found.code, found.message, found.field) == ("VALIDATION_ERROR", message, field)


def test_nul_may_be_allowed_but_surrogates_never():
    check_json_body(b'{"text": "a\\u0000b"}', allow_nul=True)
    assert problem(b'{"text": "\\ud800"}', allow_nul=True).field == "text"


def test_syntax_and_encoding_are_bad_requests():
    assert (problem(b'{"a": ').code, problem(b'{"a": ').position) == ("BAD_REQUEST", 6)
    assert problem(b'{"a": "\xff"}').message == "Request body is not valid UTF-8"


def test_a_request_model_mismatch_is_a_400_naming_the_field():
    with pytest.raises(JsonBodyProblem) as caught:
        parse_request(TaskCreate, {"job_name": "x", "priority": "high"})
    error = describe(caught.value)
    assert (error.status, error.code, error.details) == (400, "VALIDATION_ERROR", {"field": "priority"})


def test_a_validation_error_reaching_the_error_table_is_the_clients_only_for_request_models():
    with pytest.raises(ValidationError) as request_error:
        TaskCreate.model_validate({"job_name": "x", "args": ["a", 3]})
    error = describe(request_error.value)
    assert (error.status, error.code, error.details) == (400, "VALIDATION_ERROR", {"field": "args.1"})
    with pytest.raises(ValidationError) as response_error:
        Task.model_validate({"id": "x"})
    assert describe(response_error.value).status == 500  # an answer we built wrong is our fault


def test_environment_names():
    assert invalid_environment_names(["PATH", "_x1", "A=B", "", "1X", "Ä", "OK"]) == ["A=B", "", "1X", "Ä"]
