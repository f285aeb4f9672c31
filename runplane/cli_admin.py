"""`runplane models/queue/workers/login` and `runplane keys …`: the catalog, the scheduler and API keys.

`keys` commands go over the API with an admin key; `--local` opens this machine's database instead (the
settings' `RUNPLANE_DATABASE_URL`/`RUNPLANE_DATA_DIR`), for the first key or a lost admin key.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from runplane_client.api.keys import create_key as api_create_key
from runplane_client.api.keys import list_keys as api_list_keys
from runplane_client.api.keys import revoke_key as api_revoke_key
from runplane_client.api.models import list_models
from runplane_client.api.scheduler import get_queue, list_workers
from runplane_client.api.tasks import list_tasks
from runplane_client.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ModelList,
    QueueStats,
    Role,
    WorkerList,
    WorkerStatus,
)
from runplane_client.types import UNSET

from runplane.cli_api import (
    DEFAULT_API_URL,
    DEFAULT_PROFILE,
    ApiOption,
    CliError,
    JsonOption,
    KeyOption,
    ProfileOption,
    answer_json,
    config_path,
    connect,
    handled,
    print_json,
    stderr,
    stdout,
    write_profile,
)

T = TypeVar("T")
LocalOption = Annotated[
    bool, typer.Option("--local", help="Use this machine's database directly instead of the API.")
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="RUNPLANE_DATABASE_URL",
        help="With --local: the server's database (default: ./var/runplane.sqlite3 under RUNPLANE_DATA_DIR).",
    ),
]


def models(
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    json_: JsonOption = False,
) -> None:
    """The catalog's runnable models and their parameter grids (`submit --model ID --input k=v`)."""
    with connect(api, key, profile) as client:
        found: ModelList = client.call(list_models.sync_detailed)
    if json_:
        print_json(found)
        return
    table = Table()
    for column in ("id", "name", "parameters", "description"):
        table.add_column(column)
    for model in found.models:
        grid = ", ".join(f"{name}={values}" for name, values in sorted(model.params.to_dict().items()))
        table.add_row(model.id, model.name, grid, model.description)
    stdout.print(table)


def queue(
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    json_: JsonOption = False,
) -> None:
    """Tasks by state and active workers."""
    with connect(api, key, profile) as client:
        stats: QueueStats = client.call(get_queue.sync_detailed)
    if json_:
        print_json(stats)
        return
    table = Table(show_header=False)
    for name in (
        "queued",
        "preparing",
        "running",
        "collecting",
        "completed",
        "failed",
        "cancelled",
        "workers",
    ):
        table.add_row(name, str(getattr(stats, name)))
    stdout.print(table)


def workers(
    status: Annotated[WorkerStatus | None, typer.Option(help="Only workers in this state.")] = None,
    replaced: Annotated[
        bool,
        typer.Option(
            "--replaced", help="Also list offline registrations a restarted agent replaced (its history)."
        ),
    ] = False,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    json_: JsonOption = False,
) -> None:
    """The worker agents, their capacity and what they run; each agent once, as its latest registration."""
    with connect(api, key, profile) as client:
        found: WorkerList = client.call(
            list_workers.sync_detailed,
            status=status if status is not None else UNSET,
            include_replaced=replaced if replaced else UNSET,
            limit=1000,
        )
    if json_:
        print_json(found)
        return
    table = Table()
    for column in ("id", "name", "status", "slots", "cpu", "memory", "gpus", "tasks", "last heartbeat"):
        table.add_column(column)
    for worker in found.workers:
        table.add_row(
            worker.id,
            worker.name,
            str(worker.status),
            f"{worker.slots.available}/{worker.slots.total}",
            str(worker.capabilities.cpu_cores),
            f"{worker.capabilities.memory_gb:g} GiB",
            str(worker.gpu_count) + (f" {worker.gpu_type}" if worker.gpu_type else ""),
            str(len(worker.active_tasks)),
            worker.last_heartbeat.strftime("%Y-%m-%d %H:%M:%S"),
        )
    stdout.print(table)


def login(
    api: Annotated[
        str, typer.Option("--api", envvar="RUNPLANE_API_URL", help="The API's URL.")
    ] = DEFAULT_API_URL,
    profile: ProfileOption = DEFAULT_PROFILE,
) -> None:
    """Save the API's URL and a key as a profile of the config file (mode 0600), after checking the key.

    The key is read from RUNPLANE_API_KEY or a hidden prompt, never from the command line. A worker key
    is refused (one line saying so): it serves only a worker agent, never the commands a profile is for.
    """
    secret = os.environ.get("RUNPLANE_API_KEY")
    if not secret:
        if not sys.stdin.isatty():
            raise CliError("no key: set RUNPLANE_API_KEY (there is no terminal to ask on)")
        secret = typer.prompt("API key", hide_input=True)
    url = api.rstrip("/")
    with connect(url, secret, DEFAULT_PROFILE) as client:
        try:
            client.call(list_tasks.sync_detailed, limit=1)
        except CliError as exc:
            # Admin and user keys may list tasks; only a worker key is refused it. A profile with a worker
            # key would make every command here fail, so it is not saved.
            if exc.code != "FORBIDDEN":
                raise
            raise CliError(
                "this is a worker key: it only serves a worker agent (`runplane worker`), not the user "
                "commands; log in with a user or admin key",
                code=exc.code,
                trace_id=exc.trace_id,
            ) from None
    path = config_path()
    write_profile(path, profile, url, secret)
    stderr.print(f"saved profile {profile!r} for {url} in {path}", highlight=False, markup=False)


# -- keys -------------------------------------------------------------------------------------------------

keys_app = typer.Typer(
    help="Manage API keys (over the API with an admin key; --local: this machine's database).",
    no_args_is_help=True,
)


def _local(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a database action of `--local`; its API errors (conflict, not found) become one-line errors."""
    # The server's modules load only for --local: the API commands stay quick to start.
    from runplane.cli_local import NoLocalDatabase
    from runplane.errors import ApiError

    try:
        return asyncio.run(work())
    except ApiError as exc:
        raise CliError(str(exc), code=exc.code) from None
    except NoLocalDatabase as exc:
        raise CliError(str(exc)) from None


def _check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise typer.BadParameter("role must be admin, user or worker", param_hint="--role") from None


@keys_app.command("create")
@handled
def keys_create(
    name: Annotated[str, typer.Option(help="A label, unique among active keys.")],
    role: Annotated[str, typer.Option(help="admin, user or worker.")] = "user",
    user_id: Annotated[
        str | None, typer.Option(help="The user the key acts for (default: the name).")
    ] = None,
    local: LocalOption = False,
    database_url: DatabaseUrlOption = None,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
) -> None:
    """Create a key and print it, alone, on stdout (it is not stored anywhere in clear)."""
    checked = _check_role(role)
    if local:
        from runplane.cli_local import create_local_key

        secret = _local(lambda: create_local_key(name, checked.value, user_id, database_url))
    else:
        with connect(api, key, profile) as client:
            body = ApiKeyCreate(name=name, role=checked, user_id=user_id if user_id else UNSET)
            created: ApiKeyCreated = client.call(api_create_key.sync_detailed, body=body)
        secret = created.key
    sys.stdout.write(secret + "\n")


@keys_app.command("list")
@handled
def keys_list(
    local: LocalOption = False,
    database_url: DatabaseUrlOption = None,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    json_: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""
    if local:
        from runplane.cli_local import list_local_keys

        rows = _local(lambda: list_local_keys(database_url))
    else:
        rows = []
        with connect(api, key, profile) as client:
            offset = 0
            while True:
                page: ApiKeyList = client.call(api_list_keys.sync_detailed, limit=1000, offset=offset)
                rows += answer_json(page)["keys"]
                offset += len(page.keys)
                if not page.keys or offset >= page.total:
                    break
    if json_:
        print_json(rows)
        return
    for row in rows:
        state = "revoked" if row.get("revoked_at") else "active"
        sys.stdout.write(
            f"{row['id']}  {row['prefix']}…  {row['role']:<6}  {row['name']}  ({row['user_id']}, {state})\n"
        )


@keys_app.command("revoke")
@handled
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")],
    local: LocalOption = False,
    database_url: DatabaseUrlOption = None,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = DEFAULT_PROFILE,
) -> None:
    """Revoke a key at once."""
    if local:
        from runplane.cli_local import revoke_local_key

        _local(lambda: revoke_local_key(key_id, database_url))
    else:
        with connect(api, key, profile) as client:
            client.call(api_revoke_key.sync_detailed, key_id)
    stderr.print(f"revoked {key_id}", highlight=False)


def register(app: typer.Typer) -> None:
    """Adds the catalog, scheduler, login and keys commands to the `runplane` app."""
    app.command("models")(handled(models))
    app.command("queue")(handled(queue))
    app.command("workers")(handled(workers))
    app.command("login")(handled(login))
    app.add_typer(keys_app, name="keys")
