"""Log lines for people and for machines, each with the trace id of the request it belongs to.

Two formats (``RUNPLANE_LOG_FORMAT`` / ``--log-format``):

- ``json``: one JSON object a line (``ts``, ``level``, ``logger``, ``msg``, ``trace_id`` and the record's
  extra fields), every record at the configured level, per-request access lines included. What a log
  collector reads; the default of ``runplane serve``.
- ``console``: ``HH:MM:SS LEVEL message`` for a person at a terminal, the default of ``runplane up``. It
  leaves out what scrolls a terminal away without telling anyone anything: the per-request access lines
  (a dashboard or a polling client makes one a second) and the libraries' INFO lines (server start-up,
  migrations). Both come back at ``DEBUG``.

``RUNPLANE_LOG_FILE`` / ``--log-file`` adds JSON lines appended to a file, whatever the console shows.
"""

from __future__ import annotations

import enum
import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from runplane.tracing import current_trace_id

LogFormat = Literal["console", "json"]


class LogFormatName(enum.StrEnum):
    """The formats as a command-line choice (typer takes enums)."""

    console = "console"
    json = "json"


LOG_FORMATS: tuple[LogFormat, ...] = ("console", "json")
ACCESS_LOGGER = "runplane.access"

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ms), level, logger, msg, trace_id, the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or current_trace_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key != "trace_id":
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL   message`` in local time; errors name their request's trace id."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        trace_id = getattr(record, "trace_id", None) or current_trace_id.get()
        if record.levelno >= logging.ERROR and trace_id:
            line += f"  (trace {trace_id})"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class QuietConsoleFilter(logging.Filter):
    """The console at INFO: runplane's own lines (task transitions, errors), and others' warnings.

    Drops the per-request access lines and the libraries' INFO chatter (uvicorn's "Started server
    process", connexion's "Adding spec", alembic's "Context impl"), one set per server process.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:
            return False
        ours = record.name == "runplane" or record.name.startswith("runplane.")
        return ours or record.levelno >= logging.WARNING


class ConnexionNoticeFilter(logging.Filter):
    """Drops connexion's "this operation accepts multiple content types, using X" warning.

    connexion (3.x, ``connexion.operations.openapi3``) logs it each time it looks up the body schema of an
    operation that declares several request content types (a snapshot upload accepts gzip, zstd and
    octet-stream), several times per request: a note about our own contract, not about the request.
    """

    NOTICE = "this operation accepts multiple content types, using %s"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != self.NOTICE


def configure_logging(
    level: str = "INFO", log_format: str = "json", log_file: Path | str | None = None
) -> None:
    """Sends every log record to stderr in `log_format`, and as JSON lines to `log_file` when given.

    `level` is DEBUG, INFO, WARNING or ERROR (case-insensitive); at DEBUG the console shows everything.
    Raises ValueError for an unknown `log_format`.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    level = level.upper()
    console = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        console.setFormatter(JsonFormatter())
    else:
        console.setFormatter(ConsoleFormatter())
        if level != "DEBUG":
            console.addFilter(QuietConsoleFilter())
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        path = Path(log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moves it; each process appends whole lines.
        file_handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        handlers.append(file_handler)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.handlers.WatchedFileHandler):
            old.close()  # an earlier call's log file (tests build several apps in one process)
    root.handlers[:] = handlers
    root.setLevel(level)
    notices = logging.getLogger("connexion.operations.openapi3")
    if not any(isinstance(kept, ConnexionNoticeFilter) for kept in notices.filters):
        notices.addFilter(ConnexionNoticeFilter())
    # uvicorn's and gunicorn's own access logs would duplicate ours, in another format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = name not in ("uvicorn.access", "gunicorn.access")
