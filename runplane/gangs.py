"""How a multi-node task moves as its parts report, are stopped, or lose their workers (`runplane.gang`).

Each part is reported by its own worker on the task's usual report operation; the server knows the part
by the (task, attempt, worker) it was placed on (one part per worker). A part moves along
preparing → running → collecting → completed, and the task is as far as its slowest part. The first
part that fails (its process failed, timed out, ran out of memory, or its worker was lost) ends the
attempt for all: the task fails with that part's reason and a message naming the rank, or goes back to
the queue whole as its next attempt when its retry policy retries that reason (`runplane.retries`). Every
other part that had not ended shows ``cancelled`` ("stopped: rank R failed") and its worker is told to
stop it on its next heartbeat; the part's resources are freed once the worker no longer holds it. A
cancel asks every part's worker to stop; the task is cancelled once every part has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from generated.models import FailureReason
from runplane import lifecycle
from runplane.errors import Conflict
from runplane.gang import PART_ENDED, failure_text, gang_status
from runplane.lifecycle import ACTIVE, TERMINAL, TaskStatus
from runplane.store.gangs import GangStore, PartView
from runplane.store.tables import TaskPartRow, TaskRow, utcnow

if TYPE_CHECKING:
    from generated.models import TaskReport

logger = logging.getLogger("runplane.gangs")

S = TaskStatus
_ATTEMPTS = 8


def _message(status: str) -> str:
    """The task's default message for `status`; every status has one (never a KeyError)."""
    return lifecycle.DEFAULT_MESSAGES.get(TaskStatus(status), str(status).capitalize())


class GangManager:
    """The gang's transitions, by the lifecycle's rules (`runplane.lifecycle`): a part moves as a task's
    report may move a task (`lifecycle.REPORTED`), and a failed part ends the gang by `after_failure`."""

    def __init__(self, store: GangStore, *, on_finished: Callable[[TaskRow], Awaitable[None]]) -> None:
        self.store = store
        self.on_finished = on_finished

    async def parts(self, task: TaskRow, attempt: int | None = None) -> list[PartView]:
        return await self.store.parts(task, attempt)

    async def report(
        self,
        load: Callable[[], Awaitable[TaskRow]],
        worker_id: str,
        worker_name: str,
        report: TaskReport,
        target: str | None,
        reason: str | None,
    ) -> TaskRow:
        """Records one part's report (the part this worker runs); the task as it is after it.

        409 when this worker runs no part of the task's current attempt, for another attempt, or for an
        impossible transition. A part's report after the gang ended (it was stopped) is accepted: the
        part is released and the task is returned unchanged.
        """
        task_id = ""
        for _ in range(_ATTEMPTS):
            task = await load()
            task_id = task.id
            attempt = task.retry_count + 1
            if report.attempt is not None and report.attempt != attempt:
                raise Conflict(
                    f"Attempt {report.attempt} is over: the task is on attempt {attempt}",
                    details={"task_id": task.id, "attempt": report.attempt, "current_attempt": attempt},
                )
            part = await self.store.part_of(task.id, attempt, worker_id)
            if part is None:
                raise Conflict(
                    "This task is not assigned to this worker",
                    details={"task_id": task.id, "worker_id": worker_id},
                )
            now = utcnow()
            if task.status not in ACTIVE or part.status in PART_ENDED:
                if target in PART_ENDED and not part.released:
                    await self.store.release([part], now=now)
                return task
            row = await self._step(task, part, worker_name, report, target, reason, now)
            if row is not None:
                if row.status in TERMINAL:
                    await self.on_finished(row)
                return row
        raise Conflict("The task changed concurrently; report again", details={"task_id": task_id})

    async def _step(
        self,
        task: TaskRow,
        part: TaskPartRow,
        worker_name: str,
        report: TaskReport,
        target: str | None,
        reason: str | None,
        now: datetime,
    ) -> TaskRow | None:
        attempt = part.attempt
        rank = part.rank
        values: dict[str, Any] = {"updated_at": now}
        mine: dict[str, Any] = {"updated_at": now}
        if report.exit_code is not None:
            mine["exit_code"] = report.exit_code
        if report.message is not None:
            mine["message"] = report.message[:1024]
        progress = None
        if rank == 0:
            # Rank 0 speaks for the task's progress, message and service address.
            progress = report.progress
            if report.message is not None:
                values["message"] = report.message[:1024]
            if report.service_url is not None:
                values["service_url"] = report.service_url
        stop_others = None
        if target is not None and target != part.status:
            lifecycle.check_transition(task.id, part.status, target, allowed=lifecycle.REPORTED)
            if target == S.cancelled and not task.cancel_requested:
                raise Conflict("Nobody asked to cancel this task", details={"task_id": task.id})
            mine.update(status=target, released=target in PART_ENDED)
            if target == S.completed:
                # A completed part's process exited 0 (the worker's final report names no code), and the
                # part's last progress note ("uploading ...") is over.
                mine.setdefault("exit_code", part.exit_code if part.exit_code is not None else 0)
                mine.setdefault("message", _message(S.completed))
            statuses = await self.store.statuses(task.id, attempt)
            statuses[rank] = target
            if target == S.failed:
                if reason is None:
                    failed_code = report.exit_code not in (None, 0)
                    reason = FailureReason.exit_code if failed_code else lifecycle.INTERNAL_REASON
                mine["failure_reason"] = reason
                text = report.message or lifecycle.failure_message(
                    reason, report.exit_code, task.timeout_seconds
                )
                values.update(self._failed(task, rank, worker_name, reason, report.exit_code, text, now))
                stop_others = {
                    "status": S.cancelled,
                    "failure_reason": lifecycle.CANCELLED_REASON,
                    "message": f"stopped: rank {rank} failed",
                    "updated_at": now,
                }
            elif target == S.cancelled:
                mine["failure_reason"] = lifecycle.CANCELLED_REASON
                if all(status in PART_ENDED for status in statuses.values()):
                    values.update(lifecycle.cancelled_values(task, now=now))
            else:
                if S.failed in statuses.values():
                    # Another part failed after this task was read (its change ends the gang in the same
                    # transaction): read the task again rather than move it from a stale view.
                    return None
                moved = gang_status(list(statuses.values()))
                if moved != task.status:
                    lifecycle.check_transition(task.id, task.status, moved, allowed=lifecycle.REPORTED)
                    values["status"] = moved
                    if moved == S.running:
                        values["started_at"] = task.started_at or now
                    if moved == S.completed:
                        values.update(progress=100.0, ended_at=now, message=_message(moved))
                    else:
                        values.setdefault("message", _message(moved))
        # An ending change erases the task's secret values, its texts redacted with them first.
        return await self.store.move(
            task,
            attempt=attempt,
            part_changes={rank: mine},
            task_values=lifecycle.erase_secrets(task, values),
            stop_others=stop_others,
            progress=progress,
        )

    def _failed(
        self,
        task: TaskRow,
        rank: int,
        worker_name: str,
        reason: str,
        exit_code: int | None,
        text: str,
        now: datetime,
    ) -> dict[str, Any]:
        """The task's values when part `rank` failed: requeued whole by its retry policy, else failed."""
        gang_text = failure_text(rank, worker_name, text)[:1024]
        outcome = lifecycle.after_failure(task, reason, exit_code=exit_code, text=gang_text, now=now)
        values = dict(outcome.values)
        if outcome.retry is not None:
            values.update(master_addr=None, master_port=None)
        else:
            values["exit_code"] = exit_code
        return values

    async def reap(self) -> tuple[list[TaskRow], list[TaskRow]]:
        """Gangs with a part on a lost worker: failed (or requeued whole) with `worker_lost` naming the
        rank, or cancelled when cancellation was asked. Returns (ended, requeued)."""
        ended: list[TaskRow] = []
        requeued: list[TaskRow] = []
        for task, part, worker_name in await self.store.orphaned():
            now = utcnow()
            values: dict[str, Any] = {"updated_at": now}
            if task.cancel_requested:
                values.update(lifecycle.cancelled_values(task, now=now))
            else:
                lost_reason = FailureReason.worker_lost
                values.update(self._failed(task, part.rank, worker_name, lost_reason, None, "was lost", now))
            lost = {
                "status": S.failed,
                "failure_reason": FailureReason.worker_lost,
                "message": f"worker {worker_name} was lost",
                "released": True,
                "updated_at": now,
            }
            stop = {
                "status": S.cancelled,
                "failure_reason": lifecycle.CANCELLED_REASON,
                "message": f"stopped: rank {part.rank} was lost",
                "updated_at": now,
            }
            row = await self.store.move(
                task,
                attempt=part.attempt,
                part_changes={part.rank: lost},
                task_values=lifecycle.erase_secrets(task, values),
                stop_others=stop,
            )
            if row is None:
                continue
            if row.status in TERMINAL:
                ended.append(row)
                await self.on_finished(row)
            else:
                requeued.append(row)
        return ended, requeued

    async def heartbeat(self, worker_id: str, held: Sequence[str]) -> list[str]:
        """Of the worker's parts: the task ids it must stop; releases those it no longer holds."""
        stop: set[str] = set()
        release: list[TaskPartRow] = []
        for part, task in await self.store.held_parts(worker_id):
            over = (
                task.status not in ACTIVE or part.attempt != task.retry_count + 1 or part.status in PART_ENDED
            )
            if over:
                if task.id in held:
                    stop.add(task.id)
                else:
                    release.append(part)
            elif task.cancel_requested and task.id in held:
                stop.add(task.id)
        await self.store.release(release, now=utcnow())
        return sorted(stop)
