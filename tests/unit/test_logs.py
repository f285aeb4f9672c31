"""The two log formats: the console (for a person) leaves out access lines below DEBUG; JSON keeps all."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from runplane.logs import configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit() -> None:
    logging.getLogger("runplane.access").info("GET /v1/queue 200", extra={"status": 200})
    logging.getLogger("runplane.tasks").info("task abc (train): queued → preparing")
    logging.getLogger("connexion.middleware").info("Adding spec json: /openapi.json")
    logging.getLogger("alembic.runtime").warning("a library's warning")


def test_console_at_info_shows_transitions_and_warnings_not_access_lines(capsys) -> None:
    configure_logging("INFO", "console")
    _emit()
    lines = capsys.readouterr().err.splitlines()
    assert [line[9:] for line in lines] == [
        "INFO    task abc (train): queued → preparing",
        "WARNING a library's warning",
    ]


def test_console_at_debug_shows_every_line(capsys) -> None:
    configure_logging("DEBUG", "console")
    _emit()
    err = capsys.readouterr().err
    assert "GET /v1/queue 200" in err and "Adding spec" in err and "queued → preparing" in err


def test_json_keeps_access_lines_and_a_log_file_gets_them_too(capsys, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "runplane.jsonl"
    configure_logging("INFO", "console", log_file)
    _emit()
    assert "GET /v1/queue" not in capsys.readouterr().err
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [r["logger"] for r in records] == [
        "runplane.access",
        "runplane.tasks",
        "connexion.middleware",
        "alembic.runtime",
    ]
    assert records[0]["status"] == 200

    configure_logging("INFO", "json")
    _emit()
    stderr = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert stderr[0]["msg"] == "GET /v1/queue 200" and stderr[0]["level"] == "info"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("INFO", "yaml")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_connexions_multiple_content_types_notice_is_dropped(capsys, log_format: str) -> None:
    configure_logging("INFO", log_format)
    notices = logging.getLogger("connexion.operations.openapi3")
    notices.warning("this operation accepts multiple content types, using %s", "application/gzip")
    notices.warning("another connexion warning")
    err = capsys.readouterr().err
    assert "multiple content types" not in err and "another connexion warning" in err
