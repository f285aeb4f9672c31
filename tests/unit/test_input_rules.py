"""The shared input rules: date-times (`runplane.validation.utc_instant`), the workdir path rule
(`runplane.workdir`, the server's and the worker's), entrypoint words, the shortest secret value, and
redaction of whole JSON values (`SecretValues.deep`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runplane.app import load_spec
from runplane.entrypoints import entrypoint_words
from runplane.redaction import MIN_SECRET_CHARS, REDACTED, SecretValues
from runplane.validation import utc_instant
from runplane.workdir import mount_parts, mount_path_problem

# Parsed once per process with libyaml (runplane.app.load_spec): pure-Python safe_load took ~1 s of
# every test process's collection, per module. Read only.
SPEC = load_spec()


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+00:01",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "not a date",
    ],
)
def test_date_times_outside_the_utc_range_are_refused(text):
    with pytest.raises(ValueError, match="0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"):
        utc_instant(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("9999-12-31T23:59:59+14:00", datetime(9999, 12, 31, 9, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00-14:00", datetime(1, 1, 1, 14, 0, 0, tzinfo=UTC)),
        ("2026-11-30t06:00:00.5z", datetime(2026, 11, 30, 6, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_date_times_in_range_are_utc_instants(text, expected):
    assert utc_instant(text) == expected


@pytest.mark.parametrize("path", ["../../x", "/tmp/x", ".", "./", "code/../..", "a/../b", "x\0y"])
def test_mount_paths_leaving_or_naming_the_workdir_are_refused(path):
    assert mount_path_problem(path) is not None
    with pytest.raises(ValueError, match="mount path"):
        mount_parts("d", path)


@pytest.mark.parametrize(
    ("path", "parts"), [("data", ("data",)), ("./data/x", ("data", "x")), (None, ("datasets", "d"))]
)
def test_mount_paths_inside_the_workdir(path, parts):
    assert mount_parts("d", path) == parts


@pytest.mark.parametrize("name", ["..", ".", "a/b", ""])
def test_dataset_names_are_one_component(name):
    with pytest.raises(ValueError, match="single path component"):
        mount_parts(name, None)


@pytest.mark.parametrize("entrypoint", ["", "   ", "\t\n", 'python "x'])
def test_entrypoints_without_words_are_refused(entrypoint):
    with pytest.raises(ValueError, match="entrypoint"):
        entrypoint_words(entrypoint)


def test_entrypoint_words_split_as_a_shell_would():
    assert entrypoint_words("  python 'a b.py'  --x ") == ["python", "a b.py", "--x"]


def test_the_contract_states_the_shortest_secret_value():
    schemas = SPEC["components"]["schemas"]
    for schema in (schemas["TaskCreate"], schemas["TaskRetry"]):
        assert schema["properties"]["secrets"]["additionalProperties"]["minLength"] == MIN_SECRET_CHARS


def test_deep_redacts_every_string_and_key():
    hidden = SecretValues(["s3cret"])
    value = {"a": ["x s3cret y", 1, None, {"s3cret": True}], "n": 2.5}
    assert hidden.deep(value) == {"a": [f"x {REDACTED} y", 1, None, {REDACTED: True}], "n": 2.5}
    assert SecretValues([]).deep(value) is value
