"""`runplane worker`: the command that runs a worker agent.

It lives beside the agent, not in ``runplane.cli``, so that ``python -m runplane.worker`` (what
``runplane up`` starts) imports the agent and the HTTP client only: a worker never loads the server, its
database layer or connexion, and starts in a fraction of the time.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from runplane.logs import LogFormatName, configure_logging
from runplane.worker.process import choose_task_user, protect_process, set_task_user


def worker_command(
    api: Annotated[
        str,
        typer.Option("--api", envvar="RUNPLANE_WORKER_API", help="The API's base URL.", show_default=False),
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="RUNPLANE_WORKER_KEY",
            help=(
                "A worker key. Prefer --key-file: a command line is visible to `ps`, and an environment "
                "variable stays readable in /proc/<pid>/environ to processes of the same user."
            ),
            show_default=False,
        ),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="A file (or /dev/fd/N) holding the worker key; read once at start. Preferred over --key.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="The worker's name (default: the host name).")] = None,
    slots: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Tasks at once (default: cores).")
    ] = None,
    cores: Annotated[
        int | None, typer.Option(min=1, max=4096, help="Cores offered (default: all usable).")
    ] = None,
    memory_gb: Annotated[
        float | None, typer.Option(min=0.0625, help="Memory offered in GiB (default: all usable).")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(min=0, max=64, help="GPUs offered (default: all found).")
    ] = None,
    work_dir: Annotated[Path, typer.Option(help="Where task work directories and caches go.")] = Path(
        "var-worker"
    ),
    poll_seconds: Annotated[
        float,
        typer.Option(
            min=0.05,
            max=60,
            help=(
                "How often a worker running tasks asks for more work, and the pause after a failed claim "
                "(an idle worker long-polls instead)."
            ),
        ),
    ] = 1.0,
    claim_wait_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            max=30,
            help=(
                "How long an idle worker's claim waits on the server for work (0: poll every "
                "--poll-seconds); also how long an idle worker may take to stop."
            ),
        ),
    ] = 5.0,
    claim_gather_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help=(
                "While other tasks still run, how long a claim carrying a task's end waits for more of "
                "them to end, to carry their ends and ask for their slots together (0: claim at each end)."
            ),
        ),
    ] = 0.025,
    grace_seconds: Annotated[
        float, typer.Option(min=0, help="On SIGTERM/SIGINT, how long running tasks get to finish.")
    ] = 10.0,
    start_report_delay_seconds: Annotated[
        float,
        typer.Option(
            min=0,
            max=60,
            help=(
                "How long a task's process may run before its start is reported: a task that ends sooner "
                "sends only its end report (with how long it ran). 0: report the start at once."
            ),
        ),
    ] = 0.5,
    keep_work_dirs: Annotated[
        bool, typer.Option(help="Keep each task's work directory after it ends (for debugging).")
    ] = False,
    service_host: Annotated[
        str,
        typer.Option(
            envvar="RUNPLANE_WORKER_SERVICE_HOST",
            help="The address services (Jupyter servers) listen on and are reported at: one users can reach.",
        ),
    ] = "127.0.0.1",
    address: Annotated[
        str | None,
        typer.Option(
            envvar="RUNPLANE_WORKER_ADDRESS",
            help=(
                "The host name or IP address other workers reach this one at: a multi-node task's "
                "MASTER_ADDR when its rank 0 runs here (default: the host name)."
            ),
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    log_format: Annotated[
        LogFormatName, typer.Option(help="json (one object a line) or console (short lines for a person).")
    ] = LogFormatName.json,
    task_user: Annotated[
        str | None,
        typer.Option(
            envvar="RUNPLANE_WORKER_TASK_USER",
            help=(
                "The user tasks run as (a name or uid). Default: nobody when the worker runs as root, "
                "else the worker's own user. Only root can switch."
            ),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a worker agent: register with the API, claim tasks and run them (HTTP only, no database)."""
    # Imported here, not at the top: the agent pulls in the contract's models, and every other `runplane`
    # command (which imports this module to register the command) starts faster without them.
    from runplane.worker.agent import AgentFailed, AgentOptions, WorkerAgent, default_worker_name

    protect_process()
    configure_logging(log_level, log_format.value)
    key = _read_key(key, key_file)
    try:
        set_task_user(choose_task_user(task_user, work_dir))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--task-user") from None
    # One line per HTTP request is the server's access log's job, not the worker's.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = AgentOptions(
        api_url=api,
        api_key=key,
        name=name or default_worker_name(),
        slots=slots,
        cores=cores,
        memory_gb=memory_gb,
        gpus=gpus,
        work_dir=work_dir,
        poll_seconds=poll_seconds,
        claim_wait_seconds=claim_wait_seconds,
        claim_gather_seconds=claim_gather_seconds,
        grace_seconds=grace_seconds,
        keep_work_dirs=keep_work_dirs,
        start_report_delay_seconds=start_report_delay_seconds,
        service_host=service_host,
        address=address,
    )
    try:
        agent = WorkerAgent(options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        asyncio.run(agent.run(handle_signals=True))
    except AgentFailed as exc:
        typer.echo(f"worker stopped: {exc}", err=True)
        raise typer.Exit(1) from None


def _read_key(key: str | None, key_file: Path | None) -> str:
    if key_file is not None:
        try:
            key = key_file.read_text().strip()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {key_file}: {exc.strerror or exc}", param_hint="--key-file"
            ) from None
    if not key:
        raise typer.BadParameter("a worker key is needed: --key-file, --key or RUNPLANE_WORKER_KEY")
    return key


def main() -> None:
    typer.run(worker_command)
