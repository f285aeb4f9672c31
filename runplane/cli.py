"""The `runplane` command line: serve the API, run the embedded default, manage keys."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from runplane.keys import create_key, revoke_key
from runplane.settings import Settings
from runplane.store.database import Database, migrate
from runplane.store.keys import KeyStore

app = typer.Typer(
    help="runplane: queue, schedule and run ML work.", no_args_is_help=True, add_completion=False
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

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
    ]


@app.command()
def serve(host: Host = "127.0.0.1", port: Port = 9101, workers: Workers = 2) -> None:
    """Migrate the database, then serve the API with gunicorn and uvicorn workers."""
    settings = Settings()
    migrate(settings.sqlalchemy_url)
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


@app.command()
def up(host: Host = "127.0.0.1", port: Port = 9101, workers: Workers = 2) -> None:
    """The embedded default on one machine: SQLite under ./var, local artifacts, the API server."""
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
    typer.echo(f"runplane serving on http://{host}:{port}  (docs: /docs, /redoc)", err=True)
    server = subprocess.Popen(gunicorn_command(host, port, workers))
    try:
        server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    raise typer.Exit(server.returncode or 0)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label, unique among active keys.")],
    role: Annotated[str, typer.Option(help="admin, user or worker.")] = "user",
    user_id: Annotated[
        str | None, typer.Option(help="The user the key acts for (default: the name).")
    ] = None,
) -> None:
    """Create a key and print it, alone, on stdout (it is not stored anywhere in clear)."""
    if role not in ("admin", "user", "worker"):
        raise typer.BadParameter("role must be admin, user or worker", param_hint="--role")

    async def run() -> str:
        settings = Settings()
        migrate(settings.sqlalchemy_url)
        db = Database(settings.sqlalchemy_url)
        try:
            _, secret = await create_key(KeyStore(db), name=name, role=role, user_id=user_id)
            return secret
        finally:
            await db.close()

    typer.echo(asyncio.run(run()))


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""

    async def run() -> None:
        db = Database(Settings().sqlalchemy_url)
        try:
            rows, _ = await KeyStore(db).page(limit=1000, offset=0)
        finally:
            await db.close()
        for row in rows:
            state = "revoked" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}…  {row.role:<6}  {row.name}  ({row.user_id}, {state})")

    asyncio.run(run())


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key at once."""

    async def run() -> None:
        db = Database(Settings().sqlalchemy_url)
        try:
            await revoke_key(KeyStore(db), key_id)
        finally:
            await db.close()

    asyncio.run(run())


if __name__ == "__main__":
    app()
