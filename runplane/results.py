"""What a task produced: its results (``results.json``) and its run identity (``/run`` and ``run.json``).

Configuration is what was asked (the task as submitted, ``GET /v1/tasks/{id}``); the run identity is what
ran: ids, experiment and trial, attempt, seed, label, user, worker, times, and the command line with
secret-looking values redacted. :meth:`ResultsManager.run_identity` is the only place that builds it:
``GET /v1/tasks/{id}/run`` serves it and :meth:`ResultsManager.record_runs` (in the transaction of a
worker's report that ends the task) or :meth:`ResultsManager.task_finished` (after other ends) writes
exactly its JSON dump as ``run.json`` among the task's artifacts, so the two cannot drift.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from generated import models
from runplane import lifecycle, retries
from runplane.artifacts import ArtifactManager
from runplane.errors import Conflict, NotFound
from runplane.lifecycle import TERMINAL, TaskStatus
from runplane.logstore import LogStore
from runplane.plugins import definitions as plugin_definitions
from runplane.redaction import SecretValues
from runplane.store.database import Database, Transaction
from runplane.store.sweeps import SweepStore
from runplane.store.tables import TaskRow
from runplane.store.tasks import TaskStore
from runplane.sweeps import record_summaries, variation_label

logger = logging.getLogger("runplane.results")

RESULTS_FILE = "results.json"
RUN_FILE = "run.json"
MAX_RESULTS_BYTES = 64 * 1024 * 1024
MAX_COMMAND_WORDS = 512


def command_line(row: TaskRow) -> list[str]:
    """The argv that ran, the task's secret values and secret-looking values redacted (a model run is
    ``python -m runplane.catalog``)."""
    if row.model_id is not None:
        return ["python", "-m", "runplane.catalog", row.model_id]
    shown_entrypoint, shown_args, _ = lifecycle.shown_command(row)  # redacted once the values are erased
    entrypoint = shown_entrypoint or ""
    try:
        argv = shlex.split(entrypoint)
    except ValueError:  # unbalanced quotes: the words as written
        argv = entrypoint.split()
    hidden = SecretValues(str(value) for value in (row.secrets or {}).values())
    command = hidden.args([*argv, *(str(arg) for arg in shown_args)])
    if len(command) > MAX_COMMAND_WORDS:  # the contract's bound; only a pathological entrypoint gets here
        dropped = len(command) - MAX_COMMAND_WORDS + 1
        command = [*command[: MAX_COMMAND_WORDS - 1], f"<{dropped} more words>"]
    return command


def identity_document(identity: models.RunIdentity) -> dict[str, Any]:
    """The JSON document of a run identity: what ``/run`` answers and what run.json holds."""
    # Fields without a value are omitted, as in every API answer (handlers.presenters.dump).
    document: dict[str, Any] = identity.model_dump(mode="json", exclude_none=True)
    return document


def run_json(identity: models.RunIdentity) -> bytes:
    """The bytes of run.json: :func:`identity_document`, indented."""
    return (json.dumps(identity_document(identity), indent=2) + "\n").encode()


def _results_payload(task_id: str, data: bytes) -> models.TaskResults:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _invalid(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(document, dict):
        raise _invalid("not a JSON object")
    missing = [key for key in ("summary", "rows") if key not in document]
    if missing:
        raise _invalid(f"missing {' and '.join(repr(key) for key in missing)}")
    try:
        return models.TaskResults.model_validate(
            {"task_id": task_id, "summary": document["summary"], "rows": document["rows"]}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _invalid(f"{where}: {first['msg']}") from None


def _invalid(reason: str) -> Conflict:
    return Conflict(
        f"This task's results.json is not valid: {reason}",
        details={"artifact": RESULTS_FILE, "reason": reason},
    )


class ResultsManager:
    def __init__(self, db: Database, artifacts: ArtifactManager, logs: LogStore) -> None:
        self.db = db
        self.tasks = TaskStore(db)
        self.artifacts = artifacts
        self.logs = logs

    def log(
        self, row: TaskRow, *, tail: int | None, follow: bool, attempt: int | None = None, rank: int = 0
    ) -> AsyncIterator[bytes]:
        """The log of the task's attempt ``attempt`` (default: the current one), its last ``tail`` lines;
        with ``follow``, then new text until that attempt ends (the task ends or is queued again).
        404 for an attempt the task has not had. ``rank``: a multi-node task's part (404 past its last
        rank)."""
        number = self.attempt_of(row, attempt)
        if rank >= row.node_count:
            raise NotFound(
                f"The task has no rank {rank}; it runs on {row.node_count} node(s)",
                details={"task_id": row.id, "rank": rank, "node_count": row.node_count},
            )
        if not follow:
            return self.logs.read(row.id, tail=tail, attempt=number, rank=rank)

        async def finished() -> bool:
            found = await self.tasks.status_and_retries(row.id)
            return found is None or found[0] in TERMINAL or found[1] + 1 != number

        return self.logs.follow(row.id, tail=tail, finished=finished, attempt=number, rank=rank)

    @staticmethod
    def attempt_of(row: TaskRow, attempt: int | None) -> int:
        """``attempt`` when the task has had it (the current attempt when None); 404 otherwise."""
        current = row.retry_count + 1
        if attempt is None:
            return current
        if not 1 <= attempt <= current:
            raise NotFound(
                f"The task has no attempt {attempt}; it is on attempt {current}",
                details={"task_id": row.id, "attempt": attempt, "current_attempt": current},
            )
        return attempt

    async def trial(self, row: TaskRow, *, within: Transaction | None = None) -> int | None:
        """1-based position of the task among its experiment's tasks by submission (ties by id)."""
        if row.experiment_id is None:
            return None
        return await self.tasks.submitted_before(row.experiment_id, row, within=within) + 1

    async def run_identity(
        self, row: TaskRow, attempt: int | None = None, *, within: Transaction | None = None
    ) -> models.RunIdentity:
        """The one builder of a task's run identity (served at /run, written as run.json): of its current
        attempt, or of the earlier attempt ``attempt`` (from the task's attempt history). 404 for an
        attempt the task has not had. `within`: read in that open transaction (a task's ending one)."""
        number = self.attempt_of(row, attempt)
        # The user-given texts as the task's own view shows them: its secret values redacted.
        hidden = SecretValues(
            [
                *(str(value) for value in (row.secrets or {}).values()),
                *plugin_definitions.secret_values(row.plugin_configs or {}),
            ]
        )
        shown = lifecycle.shown_fields(row, hidden)
        variation = shown["variation"]
        fields: dict[str, Any] = {
            "task_id": row.id,
            "job_name": shown["job_name"],
            "user_id": row.user_id,
            "experiment_id": row.experiment_id,
            # A sweep's task is identified by its repeat and variation (aiperf's sweep_id / trial /
            # variation_*); another task's trial is its place among its experiment's tasks.
            "sweep_id": row.sweep_id,
            "trial": row.trial if row.sweep_id is not None else await self.trial(row, within=within),
            "variation_index": row.variation_index,
            "variation_label": variation_label(variation) if variation is not None else None,
            "variation_values": variation,
            "attempt": row.retry_count + 1,
            "random_seed": row.random_seed,
            "run_label": shown["run_label"],
            "model_id": row.model_id,
            "status": row.status,
            "worker_id": row.worker_id,
            "command": command_line(row),
            "submitted_at": row.created_at,
            "started_at": row.started_at,
            "ended_at": row.ended_at,
        }
        entry = retries.attempt_entry(row, number)
        if entry is not None and number != row.retry_count + 1:
            fields.update(
                {name: entry.get(name) for name in ("status", "worker_id", "started_at", "ended_at")}
            )
            fields["attempt"] = number
        return models.RunIdentity.model_validate(fields)

    async def task_finished(self, row: TaskRow) -> None:
        """Write run.json into the task's artifacts; call once the task has reached a terminal state (by
        a path that did not write it in its own transaction, `record_runs`: the reaper, a multi-node task).

        The row is read again from the database first, so run.json holds exactly what ``/run`` will serve.
        A failure to write (disk full) is logged, not raised: the task's end is already recorded.
        """
        current = await self.tasks.get(row.id)
        identity = await self.run_identity(current or row)
        try:
            await self.artifacts.put_bytes(
                row.id, RUN_FILE, run_json(identity), attempt=(current or row).retry_count + 1
            )
        except OSError:
            logger.exception("could not write run.json for task %s", row.id)
        if current is not None:
            await self.after_runs([current])

    async def record_runs(self, rows: Sequence[TaskRow], within: Transaction) -> None:
        """Write run.json for tasks that the open transaction `within` ends (a worker's reports), each from
        its row as that transaction's UPDATE returned it, i.e. exactly what ``/run`` serves once it commits
        (no read again).

        The files are written first (in one worker thread) and their artifact rows then go into `within`
        (one statement): the rows are committed with the tasks' ends or not at all, and never name a file
        that is not there. A transaction that does not commit leaves at most unregistered files, never
        served, which the tasks' ends rewrite. A failure to build a task's file is logged and that task
        left without run.json; a failure to write (disk full) is logged, not raised, and no row is written:
        the ends commit without run.json, as `task_finished` leaves it. A database error in writing the
        rows fails the transaction.
        """
        files: list[tuple[str, str, bytes, int]] = []
        for row in rows:
            try:
                data = run_json(await self.run_identity(row, within=within))
            except Exception:
                logger.exception("could not build run.json for task %s", row.id)
                continue
            files.append((row.id, RUN_FILE, data, row.retry_count + 1))
        try:
            await self.artifacts.put_many(files, within=within)
        except OSError:
            logger.exception("could not write run.json for tasks %s", ", ".join(row.id for row in rows))

    async def after_runs(self, rows: Sequence[TaskRow]) -> None:
        """What follows the commit of tasks' ends (those whose run.json `record_runs` wrote in it, or one
        `task_finished` wrote): each completed sweep task keeps its results summary, all of them in one
        go (`runplane.sweeps.record_summaries`)."""
        await record_summaries(
            SweepStore(self.db), self.artifacts, rows, path=RESULTS_FILE, max_bytes=MAX_RESULTS_BYTES
        )

    async def results(self, row: TaskRow) -> models.TaskResults:
        """The task's results.json; 409 before the task has completed, 404 when it wrote none."""
        if row.status != TaskStatus.completed:
            raise Conflict(
                "Results are available once the task has completed",
                details={"task_id": row.id, "status": row.status},
            )
        try:
            data = await self.artifacts.read_bytes(
                row.id, RESULTS_FILE, max_bytes=MAX_RESULTS_BYTES, attempt=row.retry_count + 1
            )
        except ValueError:
            raise _invalid(f"larger than {MAX_RESULTS_BYTES} bytes") from None
        if data is None:
            raise NotFound("This task wrote no results.json", details={"task_id": row.id})
        return await anyio.to_thread.run_sync(_results_payload, row.id, data)
