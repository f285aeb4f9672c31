"""`runplane submit/status/list/watch/logs/cancel/results/artifacts/download`: tasks over the API (the SDK).

Exit status: 0 on success; 1 for an error (one line on stderr with the API's code and trace id); `watch`
(and `submit --watch`) exit 0 only when the task completed, 1 when it failed or was cancelled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from runplane_client.api.results import (
    download_task_artifact,
    get_task_logs,
    get_task_results,
    list_task_artifacts,
)
from runplane_client.api.scheduler import stream_job
from runplane_client.api.tasks import cancel_task, create_task, get_task, get_task_status, list_tasks
from runplane_client.models import (
    Artifact,
    ArtifactList,
    Environment,
    ModelInputs,
    Task,
    TaskCreate,
    TaskCreateSecrets,
    TaskFailure,
    TaskList,
    TaskResults,
    TaskStatus,
    TaskStatusReport,
)
from runplane_client.types import UNSET, File

from runplane.cli_api import (
    Api,
    ApiOption,
    CliError,
    JsonOption,
    KeyOption,
    ProfileOption,
    connect,
    error_from_body,
    handled,
    parse_pairs,
    print_json,
    raise_for_error,
    stderr,
    stdout,
    transport_errors,
)
from runplane.cli_snapshot import pack, upload_if_new

TERMINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
RUN_ARGV = "runplane.run_argv"
TaskId = Annotated[str, typer.Argument(help="The task's id.", show_default=False)]
# A download asks for at most this many bytes at a time, so that a broken transfer loses little and
# memory stays bounded (the SDK reads each answer whole).
DOWNLOAD_CHUNK_BYTES = 8 * 1024 * 1024
_JOB_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
# The contract's rule for `env` and `secrets` names (POSIX.1-2017, 8.1).
_POSIX_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CommandAfterDashes(typer.core.TyperCommand):
    """A command that keeps everything after `--` for itself (the program to run and its arguments),
    so that `runplane submit . -- python train.py --lr 0.1` never mistakes the program's options for ours
    nor its first word for PATH."""

    # typer vendors click (typer._click): the context type is that one's, taken from the parent signature.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[RUN_ARGV] = args[at + 1 :]
            args = args[:at]
        else:
            ctx.meta[RUN_ARGV] = []
        return super().parse_args(ctx, args)


def exit_code_of(status: TaskStatus) -> int:
    return 0 if status == TaskStatus.COMPLETED else 1


def _failure_text(report: TaskStatusReport | Task) -> str:
    failure = report.failure
    return f": {failure.reason} ({failure.message})" if isinstance(failure, TaskFailure) else ""


def _secret_value(name: str) -> str:
    """A secret's value: from the environment variable of that name, else a hidden prompt (never argv)."""
    value = os.environ.get(name)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise CliError(f"secret {name}: set the environment variable {name} (no terminal to ask on)")
    entered: str = typer.prompt(f"value of secret {name}", hide_input=True)
    return entered


def _job_name(path: Path, argv: list[str], model: str | None) -> str:
    base = model or (Path(argv[0]).stem if argv and argv[0] not in ("python", "python3") else "")
    if not base and len(argv) > 1:
        base = Path(argv[1]).stem
    base = base or path.resolve().name or "task"
    return (_JOB_NAME_UNSAFE.sub("-", base).strip("-") or "task")[:64]


def submit(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The directory to send as the task's code.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="The task's name (default: from the program).")] = None,
    cpu: Annotated[int | None, typer.Option(help="CPU cores.", min=1)] = None,
    memory_gb: Annotated[float | None, typer.Option(help="Memory in GiB.", min=0.0625)] = None,
    gpu: Annotated[int | None, typer.Option(help="GPUs.", min=0)] = None,
    timeout: Annotated[int | None, typer.Option(help="Wall-clock limit in seconds.", min=1)] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="K=V, an environment variable.")] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option("--secret", help="K: a secret env var, its value read from $K or a hidden prompt."),
    ] = None,
    priority: Annotated[int | None, typer.Option(help="1 (low) to 10 (high).", min=1, max=10)] = None,
    experiment: Annotated[str | None, typer.Option(help="The experiment's id.")] = None,
    label: Annotated[str | None, typer.Option(help="A run label.")] = None,
    seed: Annotated[int | None, typer.Option(help="The random seed the task gets.", min=0)] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(help="Retries after a failure (by default only a lost worker; see retry_on).", min=0),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Run this catalog model instead of code.")] = None,
    input_: Annotated[list[str] | None, typer.Option("--input", help="k=v, a model input.")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the task until it ends.")] = False,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: JsonOption = False,
) -> None:
    """Send PATH (default `.`) as a snapshot and run `-- CMD ARGS…` on a worker, or run `--model ID`.

    The snapshot is uploaded only when the server does not have it yet (same sha256). Prints the task's
    id (or, with --json, the task); --watch then follows it and exits with its outcome.
    """
    argv: list[str] = list(ctx.meta.get(RUN_ARGV, []))
    if model is None and not argv:
        raise typer.BadParameter("give the command to run after `--`, or --model ID", param_hint="CMD")
    if model is not None and argv:
        raise typer.BadParameter(
            "give either --model or a command after `--`, not both", param_hint="--model"
        )
    if input_ and model is None:
        raise typer.BadParameter("--input is for catalog models (--model)", param_hint="--input")
    # Everything that can be checked here is checked before the snapshot is packed and uploaded: a typo
    # should cost nothing but the one-line error.
    env_pairs = parse_pairs(env or [], "--env")
    for option, names in (("--env", list(env_pairs)), ("--secret", list(secret or []))):
        for env_name in names:
            if _POSIX_NAME.fullmatch(env_name) is None:
                raise typer.BadParameter(
                    f"{env_name!r} is not a valid environment variable name "
                    "(letters, digits and _, not a digit first)",
                    param_hint=option,
                )
    if model is None and not path.is_dir():
        raise typer.BadParameter(f"{path} is not a directory", param_hint="PATH")
    inputs = parse_pairs(input_ or [], "--input", typed=True)
    secrets = {name: _secret_value(name) for name in secret or []}
    body = TaskCreate(job_name=name or _job_name(path, argv, model))
    for field, value in (
        ("cpu", cpu),
        ("memory_gb", memory_gb),
        ("gpu", gpu),
        ("timeout_seconds", timeout),
        ("priority", priority),
        ("experiment_id", experiment),
        ("run_label", label),
        ("random_seed", seed),
        ("max_retries", max_retries),
    ):
        if value is not None:
            setattr(body, field, value)
    if env_pairs:
        body.env = Environment.from_dict(env_pairs)
    if secrets:
        body.secrets = TaskCreateSecrets.from_dict(secrets)
    with connect(api, key, profile) as client:
        if model is not None:
            body.model_id = model
            body.inputs = ModelInputs.from_dict(inputs)
        else:
            packed = pack(path)
            try:
                snapshot, uploaded = upload_if_new(client, packed)
            finally:
                packed.archive.close()
            what = "uploaded" if uploaded else "already on the server:"
            stderr.print(
                f"snapshot {snapshot.id} {what} {packed.files} files, {packed.size} bytes", highlight=False
            )
            body.snapshot_id = snapshot.id
            body.entrypoint = shlex.quote(argv[0])
            body.args = argv[1:]
        task: Task = client.call(create_task.sync_detailed, body=body)
        if json_:
            print_json(task)
        else:
            sys.stdout.write(task.id + "\n")
            sys.stdout.flush()
        if watch:
            raise typer.Exit(follow_task(client, task.id, quiet=json_))


def status(
    task_id: TaskId,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: JsonOption = False,
) -> None:
    """A task's state, progress and failure."""
    with connect(api, key, profile) as client:
        task: Task = client.call(get_task.sync_detailed, task_id)
    if json_:
        print_json(task)
        return
    table = Table.grid(padding=(0, 2))
    rows = [
        ("id", task.id),
        ("name", task.job_name),
        ("status", str(task.status) + _failure_text(task)),
        ("progress", f"{task.progress:g}%" + (f"  {task.message}" if task.message else "")),
        (
            "command",
            " ".join([task.entrypoint or "", *task.args]) if task.entrypoint else f"model {task.model_id}",
        ),
        ("resources", f"cpu {task.cpu}, memory {task.memory_gb:g} GiB, gpu {task.gpu}"),
        ("priority", str(task.priority)),
        ("worker", task.worker_id or "-"),
        ("experiment", task.experiment_id or "-"),
        ("created", task.created_at.isoformat()),
        ("ended", task.ended_at.isoformat() if task.ended_at else "-"),
    ]
    for label, value in rows:
        table.add_row(f"[bold]{label}[/bold]", value)
    stdout.print(table)


def list_command(
    status_: Annotated[TaskStatus | None, typer.Option("--status", help="Only tasks in this state.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's tasks.")] = None,
    model: Annotated[str | None, typer.Option(help="Only runs of this catalog model.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user's tasks (admins).")] = None,
    limit: Annotated[int, typer.Option(help="How many (newest first).", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many first.", min=0)] = 0,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: JsonOption = False,
) -> None:
    """Tasks, newest first, as a table."""
    with connect(api, key, profile) as client:
        page: TaskList = client.call(
            list_tasks.sync_detailed,
            status=status_ if status_ is not None else UNSET,
            experiment_id=experiment or UNSET,
            model_id=model or UNSET,
            user_id=user or UNSET,
            limit=limit,
            offset=offset,
        )
    if json_:
        print_json(page)
        return
    table = Table(
        title=f"tasks {offset + 1}-{offset + len(page.tasks)} of {page.total}" if page.tasks else None
    )
    for column in ("id", "name", "status", "progress", "prio", "worker", "created"):
        table.add_column(column, no_wrap=column in ("id", "created"))
    for task in page.tasks:
        table.add_row(
            task.id,
            task.job_name,
            str(task.status),
            f"{task.progress:g}%",
            str(task.priority),
            task.worker_id or "-",
            task.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    if not page.tasks:
        stderr.print("no tasks")
        return
    stdout.print(table)


# -- watch ----------------------------------------------------------------------------------------------


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str | None, str, str]]:
    """(id, event, data) of each event of a text/event-stream, per the WHATWG framing: `field: value`
    lines, a blank line ends an event, `:` lines are comments (keep-alives), `data` lines join with \\n."""
    event_id: str | None = None
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event_id, event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            event_id = value


@contextlib.contextmanager
def _job_stream(
    client: Api, http: httpx.Client, task_id: str, last_id: str | None
) -> Iterator[httpx.Response]:
    """The task's SSE stream, resumed after `last_id`; an error answer raises it as the API's error."""
    kwargs = stream_job._get_kwargs(task_id, last_event_id=last_id if last_id is not None else UNSET)
    kwargs["timeout"] = httpx.Timeout(60.0, connect=10.0, read=None)
    with transport_errors(client.url), http.stream(**kwargs) as response:
        if response.status_code >= 400:
            response.read()
            raise error_from_body(response.status_code, response.content, response.headers)
        yield response


def stream_task_events(client: Api, task_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, StreamEvent) of each event of the task's SSE stream, from the task's start (the server
    replays what happened before) until `task_complete`. A stream that ends early (the server bounds
    long-lived answers) is asked again after the last event seen (Last-Event-ID): nothing is yielded twice.
    Once the task has ended, one more stream replays whatever is left and the events end."""
    last_id: str | None = None
    http = client.client.get_httpx_client()
    ended = False
    while True:
        with _job_stream(client, http, task_id, last_id) as response:
            for event_id, event, data in sse_events(response.iter_lines()):
                last_id = event_id or last_id
                yield event, json.loads(data)
                if event == "task_complete":
                    return
        if ended:
            return
        report: TaskStatusReport = client.call(get_task_status.sync_detailed, task_id)
        ended = report.status in TERMINAL


def follow_task(client: Api, task_id: str, *, quiet: bool = False, json_lines: bool = False) -> int:
    """Shows the task's progress bar (from its SSE stream, resumed with Last-Event-ID whenever the stream
    ends early) until the task ends; returns the exit status for its outcome. With `json_lines`, prints
    each event of the stream instead, one StreamEvent as JSON per line (no bar), and the outcome on
    stderr."""
    if json_lines:
        for _, stream_event in stream_task_events(client, task_id):
            sys.stdout.write(json.dumps(stream_event, sort_keys=True) + "\n")
            sys.stdout.flush()
        ended: TaskStatusReport = client.call(get_task_status.sync_detailed, task_id)
        stderr.print(f"task {task_id} {ended.status}{_failure_text(ended)}", highlight=False, markup=False)
        return exit_code_of(ended.status)
    last_id: str | None = None
    http = client.client.get_httpx_client()
    console = stderr if quiet else stdout
    with Progress(
        TextColumn("[bold]{task.fields[status]:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=console,
        transient=False,
    ) as bar:
        row = bar.add_task(task_id, total=100, status="…", message="")
        while True:
            report: TaskStatusReport = client.call(get_task_status.sync_detailed, task_id)
            bar.update(
                row, completed=report.progress, status=str(report.status), message=report.message or ""
            )
            if report.status in TERMINAL:
                break
            with _job_stream(client, http, task_id, last_id) as response:
                for event_id, event, data in sse_events(response.iter_lines()):
                    last_id = event_id or last_id
                    payload = json.loads(data).get("data", {})
                    if event == "task_progress":
                        bar.update(
                            row, completed=payload.get("progress", 0), message=payload.get("message") or ""
                        )
                    elif event == "task_update":
                        state = payload.get("status", "")
                        bar.update(row, status=state)
                        bar.console.print(f"{task_id} {state}", highlight=False)
                    elif event == "task_complete":
                        break
        if report.status == TaskStatus.COMPLETED:
            bar.update(row, completed=100)
    final: TaskStatusReport = client.call(get_task_status.sync_detailed, task_id)
    text = f"task {task_id} {final.status}{_failure_text(final)}"
    (stderr if final.status != TaskStatus.COMPLETED else console).print(text, highlight=False, markup=False)
    return exit_code_of(final.status)


def watch(
    task_id: TaskId,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: Annotated[
        bool,
        typer.Option(
            "--json", help="Print each event (a StreamEvent: type, id, ts, data) as one JSON line, no bar."
        ),
    ] = False,
) -> None:
    """A live progress bar with the task's message until it ends; exit 0 if it completed, 1 otherwise."""
    with connect(api, key, profile) as client:
        code = follow_task(client, task_id, json_lines=json_)
    raise typer.Exit(code)


# -- logs, cancel, results, artifacts, download --------------------------------------------------------


class LogWriter:
    """Prints log bytes as they come: as they are, or with `json_lines` as one JSON object per line,
    `{"task_id": ID, "text": LINE}` (the line without its newline; the log store keeps each line's text,
    secret values already masked). A line split across chunks is printed once it is whole (or at the end).
    """

    def __init__(self, task_id: str, *, json_lines: bool) -> None:
        self.task_id = task_id
        self.json_lines = json_lines
        self.pending = b""

    def write(self, chunk: bytes) -> None:
        if not self.json_lines:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            self._line(line)
        sys.stdout.flush()

    def close(self) -> None:
        if self.json_lines and self.pending:
            self._line(self.pending)
            self.pending = b""
        sys.stdout.flush()

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").removesuffix("\r")
        sys.stdout.write(json.dumps({"task_id": self.task_id, "text": text}) + "\n")


def logs(
    task_id: TaskId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until it ends.")
    ] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.", min=1, max=100000)] = None,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: Annotated[
        bool,
        typer.Option("--json", help='One JSON object per log line: {"task_id": ..., "text": ...}.'),
    ] = False,
) -> None:
    """The task's stdout and stderr (secret values masked)."""
    out = LogWriter(task_id, json_lines=json_)
    with connect(api, key, profile) as client:
        if not follow:
            text: str = client.call(get_task_logs.sync_detailed, task_id, tail=tail if tail else UNSET)
            out.write(text.encode())
            out.close()
            return
        # A followed answer ends when the task does, or early (the server bounds long-lived answers): then
        # the whole log is asked again and the bytes already printed are skipped. `offset` is how much of
        # the whole log is printed; None after a tailed answer until the next answer gives a whole log.
        offset: int | None = None if tail else 0
        http = client.client.get_httpx_client()
        while True:
            kwargs = get_task_logs._get_kwargs(
                task_id, follow=True, tail=tail if (offset is None and tail) else UNSET
            )
            kwargs["timeout"] = httpx.Timeout(60.0, connect=10.0, read=None)
            seen = 0
            with transport_errors(client.url), http.stream(**kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_body(response.status_code, response.content, response.headers)
                for chunk in response.iter_bytes():
                    fresh = chunk if offset is None else chunk[max(offset - seen, 0) :]
                    seen += len(chunk)
                    if fresh:
                        out.write(fresh)
            report: TaskStatusReport = client.call(get_task_status.sync_detailed, task_id)
            if report.status in TERMINAL:
                out.close()
                return
            if offset is None:
                # Lines written between the tailed answer's end and this read may be skipped.
                whole: str = client.call(get_task_logs.sync_detailed, task_id)
                offset = len(whole.encode())
            else:
                offset = max(offset, seen)


def cancel(
    task_id: TaskId, api: ApiOption = None, key: KeyOption = None, profile: ProfileOption = "default"
) -> None:
    """Cancel a task: a queued one at once, a running one is stopped by its worker."""
    with connect(api, key, profile) as client, transport_errors(client.url):
        response = cancel_task.sync_detailed(task_id, client=client.client)
    raise_for_error(response)
    how = "cancelled" if response.status_code == 204 else "cancellation requested (its worker stops it)"
    stdout.print(f"{task_id} {how}", highlight=False)


def results(
    task_id: TaskId,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: JsonOption = False,
) -> None:
    """The results.json the task wrote: its summary and rows."""
    with connect(api, key, profile) as client:
        found: TaskResults = client.call(get_task_results.sync_detailed, task_id)
    if json_:
        print_json(found)
        return
    summary = Table(title="summary", show_header=False)
    for name, value in sorted(found.summary.to_dict().items()):
        summary.add_row(name, json.dumps(value))
    stdout.print(summary)
    rows = [row.to_dict() for row in found.rows]
    if rows:
        columns = list(dict.fromkeys(name for row in rows for name in row))
        table = Table(title=f"rows ({len(rows)})")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(json.dumps(row[c]) if c in row else "" for c in columns))
        stdout.print(table)


def artifacts(
    task_id: TaskId,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
    json_: JsonOption = False,
) -> None:
    """The files the task wrote, with size and sha256."""
    with connect(api, key, profile) as client:
        listed: ArtifactList = client.call(list_task_artifacts.sync_detailed, task_id)
    if json_:
        print_json(listed)
        return
    table = Table()
    for column in ("path", "size", "type", "sha256"):
        table.add_column(column, no_wrap=True)
    for artifact in listed.artifacts:
        table.add_row(artifact.path, str(artifact.size), artifact.content_type, artifact.sha256)
    stdout.print(table)


def _artifact(client: Api, task_id: str, path: str) -> Artifact:
    listed: ArtifactList = client.call(list_task_artifacts.sync_detailed, task_id)
    for artifact in listed.artifacts:
        if artifact.path == path:
            return artifact
    # Not listed: ask for it, so the error line is the API's own, with its code and trace id.
    with transport_errors(client.url):
        response = download_task_artifact.sync_detailed(
            task_id, path, client=client.client, range_="bytes=0-0"
        )
    raise_for_error(response)
    trace = response.headers.get("X-Trace-Id")
    raise CliError(f"task {task_id} has no artifact {path!r}", code="NOT_FOUND", trace_id=trace)


def download(
    task_id: TaskId,
    path: Annotated[str, typer.Argument(help="The artifact's path (see `runplane artifacts`).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write it.")] = None,
    api: ApiOption = None,
    key: KeyOption = None,
    profile: ProfileOption = "default",
) -> None:
    """Download an artifact, resuming a broken download (OUTPUT.part) with Range; its sha256 is checked."""
    target = output or Path(Path(path).name)
    partial = target.with_name(target.name + ".part")
    with connect(api, key, profile) as client:
        artifact = _artifact(client, task_id, path)
        done = partial.stat().st_size if partial.exists() else 0
        if done > artifact.size:
            partial.unlink()
            done = 0
        with partial.open("ab") as handle:
            while done < artifact.size:
                last = min(done + DOWNLOAD_CHUNK_BYTES, artifact.size) - 1
                with transport_errors(client.url):
                    response = download_task_artifact.sync_detailed(
                        task_id, path, client=client.client, range_=f"bytes={done}-{last}"
                    )
                raise_for_error(response)
                parsed = response.parsed
                assert isinstance(parsed, File)
                data = parsed.payload.read()
                if response.status_code == 200:  # the whole file after all: start again
                    handle.seek(0)
                    handle.truncate()
                    done = 0
                handle.write(data)
                handle.flush()
                done += len(data)
                if not data:
                    raise CliError(
                        f"the server sent no bytes at offset {done}",
                        trace_id=response.headers.get("X-Trace-Id"),
                    )
    digest = hashlib.sha256()
    with partial.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    if digest.hexdigest() != artifact.sha256:
        partial.unlink()
        raise CliError(f"{path}: sha256 {digest.hexdigest()} is not the artifact's {artifact.sha256}")
    partial.replace(target)
    stderr.print(f"{target} ({artifact.size} bytes, sha256 {artifact.sha256} checked)", highlight=False)


def register(app: typer.Typer) -> None:
    """Adds the task commands to the `runplane` app."""
    app.command(cls=CommandAfterDashes)(handled(submit))
    app.command("status")(handled(status))
    app.command("list")(handled(list_command))
    app.command("watch")(handled(watch))
    app.command("logs")(handled(logs))
    app.command("cancel")(handled(cancel))
    app.command("results")(handled(results))
    app.command("artifacts")(handled(artifacts))
    app.command("download")(handled(download))
