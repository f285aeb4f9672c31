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
from types import FrameType
from typing import Annotated

import httpx
import typer

from runplane import cli_admin, cli_tasks
from runplane.keys import create_key, revoke_key
from runplane.settings import Settings
from runplane.store.database import Database, migrate
from runplane.store.keys import KeyStore
from runplane.worker.command import worker_command

app = typer.Typer(
    help="runplane: queue, schedule and run ML work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli_tasks.register(app)
cli_admin.register(app)

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)]
Workers = Annotated[int, typer.Option(help="API server processes.", min=1, max=64)]


def gunicorn_command(host: str, port: int, workers: int) -> list[str]:
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
        "--config",
        "python:runplane.gunicorn_conf",
    ]


def metrics_environment(settings: Settings) -> dict[str, str]:
    """PROMETHEUS_MULTIPROC_DIR for the server's processes (a fresh directory under the data dir)."""
    from runplane.metrics import prepare_multiprocess_dir

    return prepare_multiprocess_dir(settings.resolved_data_dir)


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 9101, workers: Workers = 2) -> None:
    """Migrate the database, then serve the API with gunicorn and uvicorn workers."""
    settings = Settings()
    migrate(settings.sqlalchemy_url)
    os.environ.update(metrics_environment(settings))
    os.execv(sys.executable, gunicorn_command(host, port, workers))


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema to the newest migration."""
    migrate(Settings().sqlalchemy_url)


async def _bootstrap_admin_key(settings: Settings) -> str | None:
    """The first start of an empty installation creates an admin key (unless one is configured)."""
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


@app.command()
def up(host: Host = "127.0.0.1", port: Port = 9101, workers: Workers = 2) -> None:
    """The embedded default on one machine: SQLite under ./var, local artifacts, the API and one worker.

    The local worker gets a fresh worker key (through its environment, never its command line) and starts
    once the API is ready. Ctrl-C or SIGTERM stops the worker first, then the server.
    """
    settings = Settings()
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    secret = asyncio.run(_bootstrap_admin_key(settings))
    if secret is not None:
        typer.echo(
            "\nNo API key existed, so an admin key was created. It is shown this once; keep it:\n\n"
            f"    {secret}\n\n"
            f"    curl -H 'X-API-Key: {secret}' http://{host}:{port}/v1/queue\n",
            err=True,
        )
    worker_key = asyncio.run(_local_worker_key(settings))
    url = f"http://{_client_host(host)}:{port}"
    # Ctrl-C and SIGTERM reach only `up` (the children lead their own sessions), so `up` decides the order.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    server = subprocess.Popen(
        gunicorn_command(host, port, workers),
        env={**os.environ, **metrics_environment(settings)},
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    worker: subprocess.Popen[bytes] | None = None
    code = 0
    try:
        if not _wait_ready(url, server):
            raise _NotReady()
        typer.echo(f"runplane serving on http://{host}:{port}  (docs: /docs, /redoc)", err=True)
        command = [sys.executable, "-m", "runplane.worker", "--name", LOCAL_WORKER_NAME]
        command += ["--work-dir", str(settings.resolved_data_dir / "worker")]
        command += ["--grace-seconds", str(_LOCAL_WORKER_GRACE_SECONDS)]
        # The server's settings (an admin key, the database URL) are none of the worker's business.
        worker_env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
        worker_env.update(RUNPLANE_WORKER_API=url, RUNPLANE_WORKER_KEY=worker_key)
        worker = subprocess.Popen(
            command, env=worker_env, start_new_session=True, preexec_fn=_die_with_parent
        )
        typer.echo(f"local worker started (pid {worker.pid})", err=True)
        warned = False
        while server.poll() is None:
            if worker.poll() is not None and not warned:
                typer.echo(
                    f"the local worker exited with {worker.returncode}; the API keeps serving", err=True
                )
                warned = True
            time.sleep(0.5)
        code = server.returncode or 0
    except _NotReady:
        typer.echo(f"the API did not become ready at {url}; stopping", err=True)
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
