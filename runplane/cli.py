"""The `runplane` command line: serve the API, run the embedded default, run a worker; and, over the API
through the generated SDK, submit and follow tasks and manage keys (runplane/cli_tasks.py, cli_admin.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

# Server modules (settings, store, keys) are imported by the commands that use them, so that the API
# commands (submit, status, logs...) start without loading SQLAlchemy, Alembic and connexion.
from runplane import cli_admin, cli_tasks
from runplane.logs import LogFormatName
from runplane.redaction import redact_url
from runplane.worker.command import worker_command

if TYPE_CHECKING:
    from runplane.settings import Settings

app = typer.Typer(
    help="runplane: queue, schedule and run ML work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    api: Annotated[
        str | None,
        typer.Option("--api", help="The API's URL, for every client command (like RUNPLANE_API_URL)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The API key, for every client command (like RUNPLANE_API_KEY)."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="The config file's profile (like RUNPLANE_PROFILE).")
    ] = None,
) -> None:
    """runplane: queue, schedule and run ML work.

    `--api`, `--key` and `--profile` may come before the command (`runplane --api URL list`) or after it
    (`runplane list --api URL`); after it wins.
    """
    # Set as the environment the commands' own options fall back to, so the order of precedence stays
    # the documented one (the command's flag, then this, then the profile).
    for name, value in (("RUNPLANE_API_URL", api), ("RUNPLANE_API_KEY", key), ("RUNPLANE_PROFILE", profile)):
        if value is not None:
            os.environ[name] = value


cli_tasks.register(app)
cli_admin.register(app)

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]
Workers = Annotated[int, typer.Option(help="API server processes.", min=1, max=64)]
LogLevel = Annotated[
    str,
    typer.Option(
        envvar="RUNPLANE_LOG_LEVEL",
        help="DEBUG, INFO, WARNING or ERROR. The console shows every request only at DEBUG.",
    ),
]
LogFile = Annotated[
    Path | None,
    typer.Option(
        envvar="RUNPLANE_LOG_FILE",
        help="Also append JSON log lines here, every request's access line included.",
        show_default=False,
    ),
]


def log_format_option(default: str) -> Any:
    return typer.Option(
        envvar="RUNPLANE_LOG_FORMAT",
        help="console: short lines for a person (task transitions, errors); json: one object a line, "
        "every request's access line included.",
        show_default=default,
    )


def logging_environment(level: str, log_format: LogFormatName, log_file: Path | None) -> dict[str, str]:
    """The RUNPLANE_LOG_* variables that hand `serve`'s and `up`'s log options to the server processes."""
    level = level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise typer.BadParameter("must be DEBUG, INFO, WARNING or ERROR", param_hint="--log-level")
    env = {"RUNPLANE_LOG_LEVEL": level, "RUNPLANE_LOG_FORMAT": log_format.value}
    if log_file is not None:
        env["RUNPLANE_LOG_FILE"] = str(log_file.expanduser().resolve())
    return env


def gunicorn_command(host: str, port: int, workers: int, forwarded_allow_ips: str = "") -> list[str]:
    """The gunicorn command line of `serve` and `up`.

    ``forwarded_allow_ips`` (``RUNPLANE_FORWARDED_ALLOW_IPS``) is always passed: without it gunicorn and
    uvicorn trust X-Forwarded-For from 127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``), so any local process, a
    task on the local worker included, could pick the address the audit log records and the failed-auth
    limit counts. Empty trusts no one.
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "runplane.asgi:app",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        str(workers),
        "--bind",
        f"{host}:{port}",
        "--no-control-socket",
        "--graceful-timeout",
        "10",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        "--forwarded-allow-ips",
        forwarded_allow_ips,
        "--config",
        "python:runplane.gunicorn_conf",
    ]


def private_data_dir(data_dir: Path) -> None:
    """Create the server's data directory (database, artifacts, logs, metrics) readable by its owner only
    (``0o700``): tasks run as another user (``--task-user``) must not read the database or other users'
    artifacts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)


def local_worker_dir(data_dir: Path) -> Path:
    """`up`'s local worker's work directory: ``<data_dir>-worker`` beside the data directory, not in it,
    since tasks run as an unprivileged user must reach their work directories but not the data dir."""
    return data_dir.with_name(f"{data_dir.name}-worker")


def metrics_environment(settings: Settings) -> dict[str, str]:
    """PROMETHEUS_MULTIPROC_DIR for the server's processes (a fresh directory under the data dir)."""
    from runplane.metrics import prepare_multiprocess_dir

    return prepare_multiprocess_dir(settings.resolved_data_dir)


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 9101,
    workers: Workers = 2,
    log_level: LogLevel = "INFO",
    log_format: Annotated[LogFormatName, log_format_option("json")] = LogFormatName.json,
    log_file: LogFile = None,
) -> None:
    """Migrate the database, then serve the API with gunicorn and uvicorn workers."""
    from runplane.settings import Settings
    from runplane.store.database import migrate

    os.environ.update(logging_environment(log_level, log_format, log_file))
    settings = Settings()
    private_data_dir(settings.resolved_data_dir)
    migrate(settings.sqlalchemy_url)
    os.environ.update(metrics_environment(settings))
    os.execv(sys.executable, gunicorn_command(host, port, workers, settings.forwarded_allow_ips))


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the newest migration."""
    from runplane.settings import Settings
    from runplane.store.database import migrate

    migrate(Settings().sqlalchemy_url)


async def _bootstrap_admin_key(settings: Settings) -> str | None:
    """The first start of an empty installation creates an admin key (unless one is configured)."""
    from runplane.keys import create_key
    from runplane.store.database import Database
    from runplane.store.keys import KeyStore

    if settings.admin_key is not None:
        return None
    db = Database(settings.sqlalchemy_url)
    try:
        store = KeyStore(db)
        if await store.count_active() > 0:
            return None
        _, secret = await create_key(store, name="admin", role="admin")
        return secret
    finally:
        await db.close()


LOCAL_WORKER_NAME = "local-worker"
# `up` gives the local worker this long to finish (or hand back) its tasks before stopping the server.
_LOCAL_WORKER_GRACE_SECONDS = 10.0
_READY_TIMEOUT_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


async def _local_worker_key(settings: Settings) -> str:
    """A fresh worker key for `up`'s own worker; an older active one of the same name is revoked."""
    from runplane.keys import create_key, revoke_key
    from runplane.store.database import Database
    from runplane.store.keys import KeyStore

    db = Database(settings.sqlalchemy_url)
    try:
        store = KeyStore(db)
        offset = 0
        while True:
            rows, total = await store.page(limit=1000, offset=offset)
            for row in rows:
                if row.name == LOCAL_WORKER_NAME and row.revoked_at is None:
                    await revoke_key(store, row.id)
            offset += len(rows)
            if not rows or offset >= total:
                break
        _, secret = await create_key(store, name=LOCAL_WORKER_NAME, role="worker")
        return secret
    finally:
        await db.close()


def _die_with_parent() -> None:
    """In a child of `up`: get SIGTERM when `up` dies, even by SIGKILL (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 - a bind address turned into one to connect to
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Stop(Exception):
    """SIGTERM or SIGINT reached `up`."""


class _NotReady(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def _keys_command() -> str:
    """How to call this `runplane` from the current directory (`.venv/bin/runplane` under `make run`)."""
    script = Path(sys.executable).parent / "runplane"
    if not script.exists():
        return "runplane"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def banner(url: str, settings: Settings, admin_secret: str | None, log_file: Path | None) -> str:
    """What `up` prints once the API is ready: where everything is, and the admin key on a first start."""
    runplane = _keys_command()
    lines = [
        "",
        f"runplane is ready at {url}",
        f"  dashboard   {url}/dashboard",
        f"  API docs    {url}/docs  (ReDoc {url}/redoc, contract {url}/openapi.json)",
        f"  data        {settings.resolved_data_dir}  (database, snapshots, artifacts, task logs)",
    ]
    if log_file is not None:
        lines.append(f"  JSON log    {log_file}  (every request)")
    if admin_secret is not None:
        lines += [
            "",
            "  No API key existed, so an admin key was created. It is shown this once; keep it:",
            "",
            f"      {admin_secret}",
            "",
            f"      curl -H 'X-API-Key: {admin_secret}' {url}/v1/queue",
        ]
    elif settings.admin_key is not None:
        lines.append("  admin key   the one in RUNPLANE_ADMIN_KEY")
    # The recovery command must reach this server's database from wherever it is typed.
    where = "in this directory"
    if settings.database_url or settings.resolved_data_dir != Path("var").resolve():
        where = "anywhere"
        runplane_local = f"--local --database-url '{redact_url(settings.sqlalchemy_url)}'"
    else:
        runplane_local = "--local"
    lines += [
        "",
        f"  Lost the admin key? Make another ({where}): {runplane} keys create --role admin "
        f"--name admin-2 {runplane_local}",
        "  Below: one line per task transition, and errors (--log-level DEBUG shows every request).",
        "  Ctrl-C stops the local worker, then the server.",
        "",
    ]
    return "\n".join(lines)


# `up` restarts its local worker when it dies: after 1 s, doubling to at most 30 s while it keeps dying
# within 60 s of its start; after 5 such fast deaths in a row it gives up (a wrong key, a broken install:
# restarting cannot help). A worker that ran longer than that starts the count afresh.
_RESTART_FIRST_DELAY_SECONDS = 1.0
_RESTART_MAX_DELAY_SECONDS = 30.0
_RESTART_FAST_CRASH_SECONDS = 60.0
_RESTART_MAX_FAST_CRASHES = 5


class _WorkerSupervisor:
    """Starts `up`'s local worker and restarts it, with a capped exponential backoff, when it dies.

    A worker that exits 0 stopped on purpose (an operator drained it) and is not restarted; any other exit
    (a crash, a kill) is. Each restart is one console line; giving up is one line saying how to start a
    worker by hand.
    """

    def __init__(self, command: list[str], env: dict[str, str], url: str, key: str) -> None:
        self._command = command
        self._env = env
        self._url = url
        self._key = key
        self._worker: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._fast_crashes = 0
        self._restart_at: float | None = None
        self._restarts = 0
        self.given_up = False
        """Whether it stopped restarting the worker (too many fast deaths, or a drained exit)."""

    def start(self) -> subprocess.Popen[bytes]:
        """Start the worker now; the process.

        The key travels on a pipe the worker reads once (``--key-file /dev/fd/N``), never in its
        environment or command line: ``/proc/<pid>/environ`` keeps a process's initial environment for
        its whole life, readable by every process of the same user.
        """
        key_r, key_w = os.pipe()
        try:
            os.write(key_w, self._key.encode())
            os.close(key_w)
            self._worker = subprocess.Popen(
                [*self._command, "--key-file", f"/dev/fd/{key_r}"],
                env=self._env,
                pass_fds=(key_r,),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(key_r)
        self._started = time.monotonic()
        self._restart_at = None
        return self._worker

    def check(self) -> subprocess.Popen[bytes] | None:
        """Notice a dead worker and restart it when its backoff is over; the current process, if any."""
        now = time.monotonic()
        if self._restart_at is not None:
            if now >= self._restart_at:
                self._restarts += 1
                return self.start()
            return None
        worker = self._worker
        if worker is None or worker.poll() is None:
            return worker
        code = worker.returncode
        self._worker = None
        by_hand = (
            f"start one by hand: {_keys_command()} keys create --role worker --name worker-2 --local, then "
            f"{_keys_command()} worker --api {self._url} --key-file <a 0600 file holding that key>"
        )
        if code == 0:
            typer.echo(f"the local worker stopped (drained); the API keeps serving; {by_hand}", err=True)
            self.given_up = True
            return None
        self._fast_crashes = (
            self._fast_crashes + 1 if now - self._started < _RESTART_FAST_CRASH_SECONDS else 1
        )
        if self._fast_crashes >= _RESTART_MAX_FAST_CRASHES:
            typer.echo(
                f"the local worker exited with {code}, {self._fast_crashes} times in a row within "
                f"{_RESTART_FAST_CRASH_SECONDS:g}s of starting; not restarting it; the API keeps serving; "
                f"{by_hand}",
                err=True,
            )
            self.given_up = True
            return None
        delay = min(_RESTART_FIRST_DELAY_SECONDS * 2 ** (self._fast_crashes - 1), _RESTART_MAX_DELAY_SECONDS)
        typer.echo(
            f"the local worker exited with {code}; restarting it in {delay:g}s (restart {self._restarts + 1})",
            err=True,
        )
        self._restart_at = now + delay
        return None


@app.command()
def up(
    host: Host = "127.0.0.1",
    port: Port = 9101,
    workers: Workers = 2,
    log_level: LogLevel = "INFO",
    log_format: Annotated[LogFormatName, log_format_option("console")] = LogFormatName.console,
    log_file: LogFile = None,
) -> None:
    """The embedded default on one machine: SQLite under ./var, local artifacts, the API and one worker.

    The local worker gets a fresh worker key (on a pipe, never its environment or command line) and starts
    once the API is ready. Ctrl-C or SIGTERM stops the worker first, then the server. The console shows a
    banner, then one line per task transition and errors; every request's line is at DEBUG, in
    `--log-format json` and in `--log-file`.
    """
    from runplane.settings import Settings
    from runplane.store.database import migrate

    log_env = logging_environment(log_level, log_format, log_file)
    os.environ.update(log_env)
    settings = Settings()
    private_data_dir(settings.resolved_data_dir)
    migrate(settings.sqlalchemy_url)
    secret = asyncio.run(_bootstrap_admin_key(settings))
    worker_key = asyncio.run(_local_worker_key(settings))
    url = f"http://{_client_host(host)}:{port}"
    # Ctrl-C and SIGTERM reach only `up` (the children lead their own sessions), so `up` decides the order.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    server = subprocess.Popen(
        gunicorn_command(host, port, workers, settings.forwarded_allow_ips),
        env={**os.environ, **metrics_environment(settings)},
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    worker: subprocess.Popen[bytes] | None = None
    code = 0
    try:
        if not _wait_ready(url, server):
            raise _NotReady()
        typer.echo(banner(url, settings, secret, settings.log_file), err=True)
        command = [sys.executable, "-m", "runplane.worker", "--name", LOCAL_WORKER_NAME]
        command += ["--work-dir", str(local_worker_dir(settings.resolved_data_dir))]
        command += ["--grace-seconds", str(_LOCAL_WORKER_GRACE_SECONDS)]
        # The server logs every task transition; the local worker adds its warnings and errors (all of
        # its lines at DEBUG).
        worker_level = "INFO" if log_env["RUNPLANE_LOG_LEVEL"] == "DEBUG" else "WARNING"
        command += ["--log-format", log_format.value, "--log-level", worker_level]
        # The server's settings (an admin key, the database URL) are none of the worker's business.
        # RUNPLANE_WORKER_TASK_USER is the worker's own setting (whom its tasks run as) and passes.
        worker_env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("RUNPLANE_") or name == "RUNPLANE_WORKER_TASK_USER"
        }
        worker_env.update(RUNPLANE_WORKER_API=url)
        supervisor = _WorkerSupervisor(command, worker_env, url, worker_key)
        worker = supervisor.start()
        while server.poll() is None:
            worker = supervisor.check()
            time.sleep(0.5)
        code = server.returncode or 0
    except _NotReady:
        typer.echo(f"the API did not become ready at {url}; stopping", err=True)
        if secret is not None:
            typer.echo(f"(the admin key created for this installation, shown this once: {secret})", err=True)
        code = 1
    except _Stop:
        typer.echo("stopping: the worker first, then the server", err=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if worker is not None:
            _stop(worker, _LOCAL_WORKER_GRACE_SECONDS + 40)
        _stop(server, 30)
    raise typer.Exit(code)


# Defined beside the agent so that `python -m runplane.worker` (what `up` starts) never imports the server.
app.command("worker")(worker_command)


if __name__ == "__main__":
    app()
