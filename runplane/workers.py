"""The worker rules: registration, leases, claims, reports, drains, recovery and the views of workers.

A worker is registered by a worker key and only that key's user may act as it (another key gets 404, so
worker ids leak nothing). A worker holds a lease, renewed by its heartbeats and by every other request it
makes (claims, reports, log batches, uploads), so a worker busy talking to the server never loses it. A
lease that has run out is not yet a lost worker: only the reaper declares it lost (``offline``), and until
then a late heartbeat or request still renews it, so the server's own latency does not cost leases. Once
lost, the worker's heartbeats and claims answer 409 (register again) and the reaper takes its tasks back —
requeued with ``retry_count + 1`` when the task's retry policy says so (`runplane.retries.decide`: by
default while ``retry_count < max_retries``), else failed with ``worker_lost``. A worker's ``failed``
report asks the same policy: a failure it retries queues the task again as its next attempt instead.
A requeued task starts a new attempt (``retry_count + 1``): its progress starts again from 0 (progress never
decreases *within* an attempt) and its ``started_at`` is cleared until the new attempt runs.

A report is accepted for as long as its attempt is the task's current one and the task is still this
worker's, even when the worker's lease has run out or it was declared lost before the reaper took the task
back: a finished attempt's report is not thrown away only to run the work again (issue 7, item 4).

Reports move a task along ``preparing → running → collecting → completed`` (``running → completed`` when
the task has no outputs to upload); from any active state it may end ``failed``, or ``cancelled`` when its
owner asked for that. Repeating a report is harmless: a report of the state the task is already in only
records its progress and message. The claim makes a task ``preparing``, so the agent's first report is
``running`` (an older agent's explicit ``preparing`` is such a repeat).

The common report (a plain ``running``, ``collecting``, ``completed`` or progress report on the current
attempt) is one conditional write that checks the worker, the attempt and the state it moves from,
without reading first (`WorkerManager._report_unread`); every other report, and one whose write matched
nothing, is read and answered by the rules above. A report that ends a task writes run.json in the
transaction of that end (`on_ending`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from generated.models import FailureReason
from runplane import gang, lifecycle, reservations, retries
from runplane.errors import ApiError, Conflict, NotFound, ValidationFailed
from runplane.gang import Claimed
from runplane.gangs import GangManager
from runplane.lifecycle import ACTIVE, TERMINAL, TaskStatus
from runplane.scheduler import (
    WAITING_PREFIX,
    Capacity,
    ClaimSpec,
    Demand,
    capacity_of,
    fits,
    unreserved,
    waiting_reason,
)
from runplane.store.gangs import GangStore, demand_of
from runplane.store.tables import TaskRow, WorkerRow, utcnow
from runplane.store.workers import BatchEnd, EndingHook, WorkerStore

if TYPE_CHECKING:
    from generated.models import ClaimRequest, TaskReport, WorkerRegistration
    from runplane.live.arrivals import Arrivals
    from runplane.security import Principal
    from runplane.settings import Settings

logger = logging.getLogger("runplane.workers")

# A report's status change is retried this often when a concurrent change moved the task first.
_REPORT_ATTEMPTS = 5
# A report naming no other field is recorded without reading the task first (`_report_unread`).
_PLAIN_REPORT = frozenset({"attempt", "status", "progress", "message", "exit_code"})
# The status such a report moves the task to → the one state it moves it from then. Any other (a repeat,
# an older agent's `collecting → completed`) finds the UPDATE's condition false and takes the read path.
_UNREAD_FROM: dict[str, TaskStatus] = {
    TaskStatus.running: TaskStatus.preparing,
    TaskStatus.collecting: TaskStatus.running,
    TaskStatus.completed: TaskStatus.running,
}

FinishedHook = Callable[[TaskRow], Awaitable[None]]
EndedHook = Callable[[Sequence[TaskRow]], Awaitable[None]]


@dataclass(frozen=True)
class WorkerView:
    """A worker with its active tasks (what the Worker model shows).

    ``active_task_ids`` are the ids the viewer may see (an admin: all; a user: its own tasks only);
    ``busy_slots`` counts all of them, whoever owns them. ``replaced_by``: the id of the later
    registration of the same agent (same user, name and hostname) that replaced this one, if any.
    """

    row: WorkerRow
    active_task_ids: list[str]
    busy_slots: int
    replaced_by: str | None = None


@dataclass(frozen=True)
class HeartbeatAnswer:
    status: str
    lease_expires_at: datetime
    cancel_task_ids: list[str]


@dataclass(frozen=True)
class CarriedReport:
    """How one report carried by a claim went: the task as the report left it, or the error the report
    operation would have answered (`error`, one of ours: 400, 404 or 409)."""

    task_id: str
    row: TaskRow | None = None
    error: ApiError | None = None


@dataclass
class ReapReport:
    """What one reaper pass changed (for logs and tests)."""

    lost_workers: list[str] = field(default_factory=list)
    drained_workers: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    waiting_messages: int = 0


class WorkerManager:
    def __init__(
        self,
        store: WorkerStore,
        settings: Settings,
        *,
        on_finished: FinishedHook | None = None,
        on_ending: EndingHook | None = None,
        after_ending: EndedHook | None = None,
        arrivals: Arrivals | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        # Called after a task reached completed / failed / cancelled through the reaper or a multi-node
        # task's parts (the results manager writes run.json there), given by runplane.app.build_services.
        self.on_finished = on_finished
        # A worker's report that ends a task calls `on_ending` inside the transaction of that end (run.json,
        # its file and row: ResultsManager.record_runs), then `after_ending` once it committed, with every
        # task that transaction ended (sweep tasks' summaries: ResultsManager.after_runs). Without
        # `on_ending`, such an end calls `on_finished` after its commit instead.
        self.on_ending = on_ending
        self.after_ending = after_ending
        # Multi-node tasks' parts: their reports, recovery and stops (runplane.gangs).
        self.gangs = GangManager(GangStore(store.db), on_finished=self._finished)
        # Wakes waiting long-poll claims when a task is queued (the event hub's, given by runplane.app);
        # without it they re-check every `claim_recheck_seconds`.
        self.arrivals = arrivals

    # --- the agent's operations ---------------------------------------------------------------------

    async def register(self, principal: Principal, registration: WorkerRegistration) -> WorkerRow:
        now = utcnow()
        capabilities = registration.capabilities
        row = WorkerRow(
            id=uuid.uuid4().hex,
            user_id=principal.user_id,
            name=registration.name,
            hostname=registration.hostname,
            address=registration.address,
            version=registration.version,
            status="active",
            cpu_cores=capabilities.cpu_cores,
            memory_gb=capabilities.memory_gb,
            gpus=[gpu.model_dump(mode="json", exclude_none=True) for gpu in capabilities.gpus],
            slots=registration.slots,
            connected_at=now,
            last_heartbeat=now,
            lease_expires_at=self._lease_end(now),
            drain_requested_at=None,
            offline_at=None,
        )
        await self.store.insert(row)
        return row

    async def owned(self, principal: Principal, worker_id: str) -> WorkerRow:
        """The worker, when `principal` registered it; 404 otherwise."""
        return _own(principal, worker_id, await self.store.get(worker_id))

    async def heartbeat(self, principal: Principal, worker_id: str, held: Sequence[str]) -> HeartbeatAnswer:
        """Renews the lease; says the worker's state and which tasks it must stop.

        `held` are the tasks the worker holds (from its claim to its last report). A task claimed for it
        more than a lease ago that it does not hold (the claim's answer was lost) goes back to the queue.
        A drained worker (offline after a drain) is answered 200 with status `offline`: it should stop. A
        lost worker (offline because its lease ended) is answered 409: it must register again.
        """
        await self.owned(principal, worker_id)
        now = utcnow()
        renewed = await self.store.renew(worker_id, now=now, lease_expires_at=self._lease_end(now))
        if renewed is None:
            current = await self.owned(principal, worker_id)
            if current.status == "offline" and current.drain_requested_at is not None:
                # Drained: it finished its work and went offline; it should stop, not register again.
                stop = await self.store.tasks_to_stop(worker_id, held)
                return HeartbeatAnswer("offline", current.lease_expires_at, stop)
            raise self._gone(current)
        claimed_before = now - timedelta(seconds=self.settings.lease_seconds)
        for task in await self.store.forgotten(worker_id, held, claimed_before=claimed_before):
            await self._recover(task, renewed.name, now=now, why="no longer holds it")
        stop = await self.store.tasks_to_stop(worker_id, held)
        stop = sorted({*stop, *await self.gangs.heartbeat(worker_id, held)})
        return HeartbeatAnswer(renewed.status, renewed.lease_expires_at, stop)

    async def claim(
        self,
        principal: Principal,
        worker_id: str,
        request: ClaimRequest,
        *,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> list[Claimed]:
        """The best fitting queued tasks (at most `max_tasks`), now `preparing` on this worker; [] if none fit.

        With `wait_seconds`, a claim that finds nothing waits (a long poll) until a task is queued in any
        process (`arrivals`: a hint, sent by this process's event hub) or `claim_recheck_seconds` pass (the
        truth: the claim is tried again), and returns [] when the wait ends (at most
        `claim_max_wait_seconds`). Each try renews the lease
        when due (`touch`), so a long poll never lets it run out. An offline worker (drained or lost) gets
        409; a draining one gets [] at once. `gone` says whether the client has hung up: a waiting claim
        whose agent died (its connection closed) takes nothing, instead of holding a task on a dead worker
        until its lease runs out.
        """
        worker = await self.owned(principal, worker_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(request.wait_seconds or 0.0, self.settings.claim_max_wait_seconds)
        while True:
            worker = await self.touch(worker)
            if worker.status == "offline":
                raise self._gone(worker)
            if worker.status != "active" or request.free_slots < 1:
                return []
            if gone is not None and await gone():
                return []
            arrivals = self.arrivals
            seen = arrivals.generation if arrivals is not None else 0
            rows = await self._claim_once(worker, request)
            remaining = deadline - loop.time()
            if rows or remaining <= 0 or (arrivals is not None and arrivals.closed):
                return rows
            pause = min(remaining, self.settings.claim_recheck_seconds)
            if arrivals is None:
                await asyncio.sleep(pause)
            else:
                await arrivals.wait(seen, pause)
            # The worker may have been drained or lost while this claim waited.
            worker = await self.owned(principal, worker_id)

    async def claim_with_reports(
        self,
        principal: Principal,
        worker_id: str,
        request: ClaimRequest,
        *,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> tuple[list[CarriedReport], list[Claimed]]:
        """Records the reports a claim carries (`request.reports`), then claims (`claim`).

        Each report is recorded exactly as `report` records it (its own checks, events, audit entries,
        retries, run.json and hooks), and one that `report` refuses (400, 404, 409) is answered with that
        error and does not stop the others or the claim. In this order: the reports that are not a plain
        `completed` (`_batchable`: failures, cancels, notes) one by one in the list's order, each in its
        own transaction as `report` writes it, so a retried failure's task may come back in this very
        claim; then the plain ends and the claim together in one transaction (`_end_and_claim`); then,
        by `report`, any plain end that was not the usual end of its task (another attempt, a cancel
        asked...). A claim carrying reports does not wait (its `wait_seconds` is taken as 0): the worker
        is waiting for their outcomes. A task named again after its first item is answered 400 for that
        item and nothing of it is recorded (the list is valid as the contract writes it; each item stands
        for itself). Raises 404 for a worker that is not `principal`'s and 409 for an offline one (drained
        or lost), before anything is recorded; errors other than ours (the database away) end the request,
        the reports before it being recorded (repeating a report is harmless).
        """
        carried = request.reports or []
        if not carried:
            return [], await self.claim(principal, worker_id, request, gone=gone)
        worker = await self.owned(principal, worker_id)
        if worker.status == "offline":
            raise self._gone(worker)
        firsts: dict[str, int] = {}
        for index, item in enumerate(carried):
            firsts.setdefault(item.task_id.root, index)
        outcomes: dict[int, CarriedReport] = {}
        plain: dict[str, TaskReport] = {}
        for index, item in enumerate(carried):
            task_id = item.task_id.root
            if firsts[task_id] != index:
                repeated = ValidationFailed(
                    "A claim carries at most one report per task: this one repeats an earlier item",
                    details={"field": "reports", "task_id": task_id, "first": firsts[task_id]},
                )
                outcomes[index] = CarriedReport(task_id, error=repeated)
            elif _batchable(item.report):
                plain[task_id] = item.report
            else:
                outcomes[index] = await self._carried(principal, worker_id, task_id, item.report)
        worker = await self.touch(worker)
        ended: dict[str, TaskRow] = {}
        claimed: list[Claimed] = []
        # Lost meanwhile (the reaper): the plain ends go as single reports would, then the 409.
        if worker.status != "offline":
            takes = worker.status == "active" and request.free_slots >= 1
            takes = takes and not (gone is not None and await gone())
            ended, claimed = await self._end_and_claim(worker, plain, request if takes else None)
        for index, item in enumerate(carried):
            task_id = item.task_id.root
            if index in outcomes:
                continue
            if task_id in ended:
                outcomes[index] = CarriedReport(task_id, row=ended[task_id])
            else:
                outcomes[index] = await self._carried(principal, worker_id, task_id, item.report)
        if worker.status == "offline":
            raise self._gone(worker)
        return [outcomes[index] for index in range(len(carried))], claimed

    async def _carried(
        self, principal: Principal, worker_id: str, task_id: str, report: TaskReport
    ) -> CarriedReport:
        """One carried report recorded by `report`: the task after it, or the error it raised."""
        try:
            row = await self.report(principal, worker_id, task_id, report)
        except ApiError as exc:
            return CarriedReport(task_id, error=exc)
        return CarriedReport(task_id, row=row)

    async def _end_and_claim(
        self, worker: WorkerRow, reports: dict[str, TaskReport], request: ClaimRequest | None
    ) -> tuple[dict[str, TaskRow], list[Claimed]]:
        """The plain `completed` reports a claim carries (`_batchable`) and, with `request`, the claim
        (`_claim_once`, no waiting), in one transaction (`WorkerStore.end_and_claim`): the task ids
        recorded → each task as it is now, and what the worker got.

        A report is recorded here only where it is the usual end of its task — the task preparing on this
        worker and the report saying its process started (`run_seconds`: a folded start), or running and
        the report not saying so — on the reported attempt, with no cancel asked. It writes what `report`
        would (`_move`'s values, the same events and audit entries, the run record); any other is left to
        `report`, which answers it exactly as before (a retry, a 409, a 404...).
        """
        now = utcnow()

        def decide(task: TaskRow) -> BatchEnd | None:
            report = reports[task.id]
            if report.attempt is not None and task.retry_count != report.attempt - 1:
                return None
            if task.cancel_requested:
                return None
            folded = task.status == TaskStatus.preparing and report.run_seconds is not None
            if not folded and not (task.status == TaskStatus.running and report.run_seconds is None):
                return None
            message = "Completed" + (f": {report.message}" if report.message else "")
            values: dict[str, Any] = {
                "status": lifecycle.S.completed,
                "updated_at": now,
                "progress": 100.0,
                "ended_at": now,
                "message": message[:1024],
            }
            if report.exit_code is not None:
                values["exit_code"] = report.exit_code
            started: dict[str, Any] | None = None
            if folded:
                assert report.run_seconds is not None
                at = lifecycle.started_at(report.run_seconds, since=lifecycle.earliest_start(task), now=now)
                started = _started_values(task, at, now)
            return BatchEnd(lifecycle.erase_secrets(task, values), started)

        claimed: list[Claimed] = []
        if request is None:
            ended = await self.store.end_batch(worker.id, list(reports), decide, ending=self.on_ending)
        else:
            ended, claimed = await self.store.end_and_claim(
                self._claim_spec(worker, request),
                list(reports),
                decide,
                ending=self.on_ending,
                max_tasks=request.max_tasks or 1,
                master_port=request.master_port,
            )
        await self._ended(*ended.values())
        return ended, claimed

    def _claim_spec(self, worker: WorkerRow, request: ClaimRequest) -> ClaimSpec:
        """What a claim by `worker` may take: what its request says is free, now, with the aging rules."""
        return ClaimSpec(
            worker_id=worker.id,
            worker_name=worker.name,
            free=Capacity(
                cpu=request.free_cpu,
                memory_gb=request.free_memory_gb,
                gpu_names=capacity_of(worker).gpu_names,
                gpus=request.free_gpus,
                slots=request.free_slots,
            ),
            now=utcnow(),
            aging_rate=self.settings.aging_rate,
            aging_max_boost=self.settings.aging_max_boost,
        )

    async def _claim_once(self, worker: WorkerRow, request: ClaimRequest) -> list[Claimed]:
        spec = self._claim_spec(worker, request)
        return await self.store.claim(spec, max_tasks=request.max_tasks or 1, master_port=request.master_port)

    async def report(self, principal: Principal, worker_id: str, task_id: str, report: TaskReport) -> TaskRow:
        """Records a worker's report on its task; renews the worker's lease.

        Accepted while the task is assigned to this worker and (when the report names it) on the same
        attempt, whatever the worker's lease says: only a task taken back or given to another worker (409)
        makes a report too late. Raises 404 (unknown task or worker), 409 (not this worker's, another
        attempt, an impossible transition) and 400 (a failure reason without status `failed`).
        """
        unread = await self._report_unread(principal, worker_id, task_id, report)
        if unread is not None:
            return unread
        # The worker and the task in one read (one session instead of two: a report is a hot path).
        found, first = await self.store.worker_and_task(worker_id, task_id)
        worker = _own(principal, worker_id, found)
        target = report.status.value if report.status is not None else None
        reason = report.failure_reason.value if report.failure_reason is not None else None
        _check_report(target, reason)
        _check_run_seconds(target, report.run_seconds)
        await self.touch(worker)
        for tried in range(_REPORT_ATTEMPTS):
            task = first if tried == 0 else await self.store.task(task_id)
            if task is None:
                raise NotFound("Task not found", details={"task_id": task_id})
            if task.node_count > 1:
                _check_part_report(task, report)
                return await self.gangs.report(
                    lambda: self._load(task_id), worker_id, worker.name, report, target, reason
                )
            check_assigned(task, worker_id, report.attempt)
            if report.service_url is not None and task.kind != "service":
                raise ValidationFailed(
                    "Only a task of kind 'service' has a service_url", details={"field": "service_url"}
                )
            if target is None or target == task.status:
                if task.status in TERMINAL:
                    return task  # a repeated final report: nothing more to record
                values: dict[str, Any] = {}
                if report.message is not None:
                    values["message"] = report.message
                if report.exit_code is not None:
                    values["exit_code"] = report.exit_code
                if report.service_url is not None:
                    values["service_url"] = report.service_url
                if report.progress is None and not values:
                    return task
                values["updated_at"] = utcnow()
                row = await self.store.update_task(
                    task_id, worker_id=worker_id, from_status=ACTIVE, values=values, progress=report.progress
                )
            else:
                row = await self._move(task, worker_id, target, reason, report)
            if row is not None:
                return row
        raise Conflict("The task changed concurrently; report again", details={"task_id": task_id})

    async def _report_unread(
        self, principal: Principal, worker_id: str, task_id: str, report: TaskReport
    ) -> TaskRow | None:
        """The common report recorded in one conditional write, without reading the task or the worker
        first: a plain report (`_PLAIN_REPORT`: no failure, no service URL) moving a task by the usual edge
        (`_UNREAD_FROM`), or recording progress, on the reporting worker's current attempt of a single-node
        task. The task as it is now; None when the write's condition did not hold (nothing written): the
        read path (`report`) then answers exactly as it always does (404, 409, a repeat, a retry).

        The values are `_move`'s (and `report`'s for progress) for these cases; a task that holds secret
        values is read first when the report ends it (its texts are redacted by them, `erase_secrets`).
        """
        if report.model_fields_set - _PLAIN_REPORT:
            return None
        target = report.status.value if report.status is not None else None
        now = utcnow()
        values: dict[str, Any] = {"updated_at": now}
        if report.exit_code is not None:
            values["exit_code"] = report.exit_code
        start: datetime | None = None
        from_status: str | Sequence[str]
        if target is None:
            if report.message is not None:
                values["message"] = report.message
            if report.progress is None and len(values) == 1:
                return None  # nothing to record: the read path answers with the task as it is
            from_status, previous = ACTIVE, None
        else:
            if target not in _UNREAD_FROM:
                return None
            from_status = previous = _UNREAD_FROM[target]
            values["status"] = target
            if target == lifecycle.S.running:
                start = now  # unless the task has a start already (a task keeps its first)
            values["message"] = report.message or lifecycle.DEFAULT_MESSAGES[lifecycle.TaskStatus(target)]
            if target == lifecycle.S.completed:
                message = "Completed" + (f": {report.message}" if report.message else "")
                values.update(progress=100.0, ended_at=now, message=message[:1024])
        found = await self.store.report_unread(
            task_id,
            worker_id=worker_id,
            user_id=principal.user_id,
            attempt=report.attempt,
            from_status=from_status,
            values=values,
            progress=report.progress,
            start=start,
            previous=previous,
            ending=self.on_ending,
        )
        if found is None:
            return None
        row = found.task
        lease = found.lease_expires_at
        if lease is not None and lease - now <= timedelta(seconds=self.settings.lease_seconds * 2 / 3):
            # `touch`'s renewal, after the report instead of before it (a worker lost meanwhile is not).
            await self.store.renew(worker_id, now=now, lease_expires_at=self._lease_end(now))
        if row.status in TERMINAL:
            await self._ended(row)
        return row

    async def _load(self, task_id: str) -> TaskRow:
        task = await self.store.task(task_id)
        if task is None:
            raise NotFound("Task not found", details={"task_id": task_id})
        return task

    async def _move(
        self, task: TaskRow, worker_id: str, target: str, reason: str | None, report: TaskReport
    ) -> TaskRow | None:
        current = task.status
        # A report that says the process ran (`run_seconds`) and ends the task folds its `running` in.
        folded = report.run_seconds is not None and lifecycle.check_started(task.id, current, target)
        if not folded:
            lifecycle.check_transition(task.id, current, target, allowed=lifecycle.REPORTED)
        if target == lifecycle.S.cancelled and not task.cancel_requested:
            raise Conflict(
                "Nobody asked to cancel this task", details={"task_id": task.id, "status": current}
            )
        now = utcnow()
        started = now
        if report.run_seconds is not None:
            started = lifecycle.started_at(report.run_seconds, since=lifecycle.earliest_start(task), now=now)
        started_values: dict[str, Any] | None = None
        if folded:
            started_values = _started_values(task, started, now)
            # The end is decided on the task as the `running` report would have left it (an ended attempt's
            # history keeps its start). The row is this report's own copy, read for it.
            task.started_at = started_values["started_at"]
        values: dict[str, Any] = {"status": target, "updated_at": now}
        if report.exit_code is not None:
            values["exit_code"] = report.exit_code
        if report.service_url is not None:
            values["service_url"] = report.service_url
        if target == lifecycle.S.running:
            values["started_at"] = task.started_at or started
        default_message = lifecycle.DEFAULT_MESSAGES.get(lifecycle.TaskStatus(target))
        if default_message is not None:
            values["message"] = report.message or default_message
        if target == lifecycle.S.completed:
            # The message says how the task ended, not what it last printed as progress.
            message = "Completed" + (f": {report.message}" if report.message else "")
            values.update(progress=100.0, ended_at=now, message=message[:1024])
        elif target == lifecycle.S.failed:
            if reason is None:
                reason = (
                    FailureReason.exit_code
                    if report.exit_code not in (None, 0)
                    else lifecycle.INTERNAL_REASON
                )
            text = report.message or lifecycle.failure_message(reason, report.exit_code, task.timeout_seconds)
            exit_code = report.exit_code if report.exit_code is not None else task.exit_code
            outcome = lifecycle.after_failure(task, reason, exit_code=exit_code, text=text, now=now)
            if outcome.retry is not None:
                # The policy retries this failure: the attempt ends, and the task is queued as the next one.
                values = outcome.values
            else:
                values.update(outcome.values)
        elif target == lifecycle.S.cancelled:
            values.update(lifecycle.cancelled_values(task, now=now))
        values = lifecycle.erase_secrets(task, values)
        if started_values is not None:
            # Both changes in one transaction: the events and audit entries of `running`, then of the end.
            row = await self.store.start_and_move(
                task.id,
                worker_id=worker_id,
                started=started_values,
                values=values,
                progress=report.progress,
                require_cancel=target == lifecycle.S.cancelled,
                ending=self.on_ending,
            )
        else:
            row = await self.store.update_task(
                task.id,
                worker_id=worker_id,
                from_status=current,
                values=values,
                progress=report.progress,
                require_cancel=target == lifecycle.S.cancelled,
                previous=current,
                ending=self.on_ending,
            )
        if row is not None and row.status in TERMINAL:
            await self._ended(row)
        return row

    # --- operators ----------------------------------------------------------------------------------

    async def drain(self, worker_id: str) -> None:
        """active → draining (no new work); offline as soon as it runs nothing. Idempotent."""
        now = utcnow()
        if await self.store.drain(worker_id, now=now) is None:
            if await self.store.get(worker_id) is None:
                raise NotFound("Worker not found", details={"worker_id": worker_id})
            return
        await self.store.finish_drains(now=now, worker_id=worker_id)

    async def view(self, viewer: Principal, worker_id: str) -> WorkerView:
        """The worker as `viewer` may see it: a user sees only its own tasks among the active ones."""
        row = await self.store.get(worker_id)
        if row is None:
            raise NotFound("Worker not found", details={"worker_id": worker_id})
        return (await self._views(viewer, [row]))[0]

    async def page(
        self,
        viewer: Principal,
        *,
        status: str | None,
        limit: int,
        offset: int,
        include_replaced: bool = False,
    ) -> tuple[list[WorkerView], int]:
        """A page of workers as `viewer` may see them, and the total.

        An agent that restarts registers again and gets a new worker id (its tasks, events and audit
        entries keep naming the old one, which stays readable by id). The old row, once offline, is
        *replaced*: left out of the list and the counts unless `include_replaced`, so each running agent is
        listed once, as Slurm lists a node once however often its slurmd restarted.
        """
        rows, total = await self.store.page(
            status=status, limit=limit, offset=offset, include_replaced=include_replaced
        )
        return await self._views(viewer, rows), total

    async def _views(self, viewer: Principal, rows: Sequence[WorkerRow]) -> list[WorkerView]:
        active = await self.store.active_tasks([row.id for row in rows])
        replaced = await self.store.replacements(rows)
        views = []
        for row in rows:
            tasks = active[row.id]
            # Another user's task ids are not this user's to see (they would be 404 to it anyway).
            shown = [task_id for task_id, owner in tasks if viewer.is_admin or owner == viewer.user_id]
            views.append(WorkerView(row, shown, len(tasks), replaced.get(row.id)))
        return views

    async def status_counts(self) -> dict[str, int]:
        counts = await self.store.counts_by_status()
        return {name: counts.get(name, 0) for name in ("active", "draining", "offline")}

    # --- recovery -----------------------------------------------------------------------------------

    async def reap(self) -> ReapReport:
        """One pass of the reaper; safe to run from any number of processes at once.

        1. Workers whose lease ended go offline (lost).
        2. Draining workers that run nothing go offline.
        3. Active tasks whose worker is offline or unknown are taken back: requeued (retry_count + 1)
           or failed with `worker_lost` by the task's retry policy, or cancelled when cancellation was
           asked for.
           This also catches a task claimed in the instant its worker was lost.
        4. Queued tasks that no active worker could ever run say why in their message.
        """
        report = ReapReport()
        now = utcnow()
        report.lost_workers = [row.id for row in await self.store.mark_lost(now=now)]
        report.drained_workers = [row.id for row in await self.store.finish_drains(now=now)]
        for orphan in await self.store.orphans():
            row = await self._recover(orphan.task, orphan.worker_name, now=now, why="was lost")
            if row is not None:
                {
                    lifecycle.S.queued: report.requeued,
                    lifecycle.S.failed: report.failed,
                    lifecycle.S.cancelled: report.cancelled,
                }[lifecycle.TaskStatus(row.status)].append(row.id)
        ended, requeued = await self.gangs.reap()
        report.requeued.extend(row.id for row in requeued)
        for row in ended:
            (report.cancelled if row.status == lifecycle.S.cancelled else report.failed).append(row.id)
        held = await reservations.reap(self.store.db, now)  # expiry; why tasks in reservations wait
        report.waiting_messages = await self._explain_waiting(held)
        if report.lost_workers or report.requeued or report.failed or report.cancelled:
            logger.info(
                "reaper: lost workers %s; requeued %s; failed %s; cancelled %s",
                report.lost_workers,
                report.requeued,
                report.failed,
                report.cancelled,
            )
        return report

    async def reap_if_due(self, *, longest: float) -> float | None:
        """The reaper's tick: one cheap probe (`WorkerStore.reaper_probe`), and a full `reap()` only when
        it finds work. Returns None after a pass (the next tick comes after the usual interval), else the
        seconds until something can come due by time alone (the earliest lease or reservation end), at
        most `longest`: the reaper may sleep that long unless woken by a change.
        """
        now = utcnow()
        probe = await self.store.reaper_probe(now)
        if probe.due:
            await self.reap()
            return None
        if probe.next_at is None:
            return longest
        # Just past the end: a lease is lost once `lease_expires_at < now`.
        return min(longest, max(0.0, (probe.next_at - now).total_seconds()) + 0.01)

    async def _recover(self, task: TaskRow, worker_name: str, *, now: datetime, why: str) -> TaskRow | None:
        """Takes a lost worker's task back: cancelled when asked, else retried or failed by its policy."""
        values: dict[str, Any]
        if task.cancel_requested:
            values = lifecycle.cancelled_values(task, now=now)
        else:
            lost = FailureReason.worker_lost
            if task.retry_count >= task.max_retries:
                final = (
                    f"Worker {worker_name} {why} after {task.retry_count + 1} attempt(s); no retries left "
                    f"(max_retries {task.max_retries})"
                )
            else:
                final = f"Worker {worker_name} {why}; the task's retry_on does not include {lost}"

            def requeued(retry: retries.Retry) -> str:
                if retry.not_before is not None:
                    return retry.message(f"worker {worker_name} {why}")
                return f"Requeued after worker {worker_name} {why}"

            values = lifecycle.after_failure(
                task,
                lost,
                exit_code=task.exit_code,
                text=f"Worker {worker_name} {why}",
                now=now,
                requeue_message=requeued,
                final_text=final,
                final_message=final,
            ).values
        row = await self.store.recover(task, values=lifecycle.erase_secrets(task, values), now=now)
        if row is not None and row.status in TERMINAL:
            await self._finished(row)
        return row

    async def _explain_waiting(self, held: dict[str, Capacity]) -> int:
        demands = await self.store.queued_demands()
        if not demands:
            return 0
        rows = await self.store.by_status("active")
        capacities = [capacity_of(row) for row in rows]
        free_of_holds = [unreserved(capacity_of(row), held.get(row.id)) for row in rows]
        now = utcnow()
        changed = 0
        gang_demand = any(demand.node_count > 1 for demand in demands)
        fleet = await self.gangs.store.fleet(utcnow()) if gang_demand else []
        yields_to = await self._head_gang_holds(now) if gang_demand else None
        for demand, messages in demands.items():
            if demand.node_count > 1:
                reason: str | None = gang.waiting_reason(demand, fleet)
            else:
                reason = waiting_reason(demand, capacities, free_of_holds)
                if reason is None and yields_to is not None:
                    reason = yields_to(demand)
            stale = (
                any(m != reason for m in messages)
                if reason is not None
                else any(m is not None and m.startswith(WAITING_PREFIX) for m in messages)
            )
            if stale:  # only then write: most passes change nothing and take no write lock
                changed += await self.store.set_waiting(demand, reason, now=now)
        return changed

    async def _head_gang_holds(self, now: datetime) -> Callable[[Demand], str | None] | None:
        """When the head of the queue is a multi-node task that holds workers for its start (the claim's
        rule, `gang.hold_for`): for a single-node demand, why it waits on it (None when a worker not held
        has it free now). None when the head holds nothing. The gang is named by its size and priority
        only: it may be another user's, whose ids a user never sees."""
        head = await self.gangs.store.head(
            self.store.dialect,
            now,
            rate=self.settings.aging_rate,
            max_boost=self.settings.aging_max_boost,
        )
        if head is None or head.node_count == 1 or head.reservation_id is not None:
            return None
        fleet = await self.gangs.store.fleet(now)
        held = set(gang.hold_for(demand_of(head), fleet))
        if not held:
            return None
        free_elsewhere = [node.free for node in fleet if node.worker_id not in held]
        text = (
            f"{WAITING_PREFIX} yields to a {head.node_count}-node task (priority {head.priority}) at the head "
            f"of the queue; the {len(held)} worker(s) it will start on take no other work until it starts"
        )

        def reason(demand: Demand) -> str | None:
            return None if any(fits(demand, free) for free in free_elsewhere) else text

        return reason

    async def _ended(self, *rows: TaskRow) -> None:
        """After the commit of tasks' ends on a worker's report(s): `after_ending`, once for all of them,
        when `on_ending` ran in their transaction, else `on_finished` for each."""
        if not rows:
            return
        if self.on_ending is None:
            for row in rows:
                await self._finished(row)
            return
        if self.after_ending is None:
            return
        try:
            await self.after_ending(rows)
        except Exception:
            logger.exception("after-end hook failed for tasks %s", ", ".join(row.id for row in rows))

    async def _finished(self, row: TaskRow) -> None:
        if self.on_finished is None:
            return
        try:
            await self.on_finished(row)
        except Exception:
            # The task's end is committed; a failure to write its run record must not undo the report.
            logger.exception("after-finish hook failed for task %s", row.id)

    async def touch(self, worker: WorkerRow) -> WorkerRow:
        """Renews a live worker's lease on any of its requests; the worker as it is now.

        To keep busy workers from writing their row on every log batch, a lease is renewed only once a
        third of it has passed since the last renewal (heartbeats renew it always). An offline worker is
        returned unchanged: the caller decides what it may still do.
        """
        if worker.status == "offline":
            return worker
        now = utcnow()
        if worker.lease_expires_at - now > timedelta(seconds=self.settings.lease_seconds * 2 / 3):
            return worker
        renewed = await self.store.renew(worker.id, now=now, lease_expires_at=self._lease_end(now))
        return renewed if renewed is not None else (await self.store.get(worker.id) or worker)

    @staticmethod
    def _gone(worker: WorkerRow) -> Conflict:
        """The 409 for a worker that is offline: drained (stop) or lost (register again)."""
        details = {
            "worker_id": worker.id,
            "status": worker.status,
            "lease_expires_at": worker.lease_expires_at.isoformat(),
        }
        if worker.drain_requested_at is not None:
            return Conflict("The worker was drained and is offline; it takes no more work", details=details)
        return Conflict("The worker was declared lost (its lease ran out); register again", details=details)

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.lease_seconds)


def _own(principal: Principal, worker_id: str, row: WorkerRow | None) -> WorkerRow:
    """`row` when `principal` registered it; 404 otherwise (another user's worker id leaks nothing)."""
    if row is None or row.user_id != principal.user_id:
        raise NotFound("Worker not found", details={"worker_id": worker_id})
    return row


def check_assigned(task: TaskRow, worker_id: str, attempt: int | None) -> None:
    """409 unless `task` is assigned to `worker_id` and (when given) on attempt `attempt`.

    A task's current attempt is ``retry_count + 1`` (what the claim's assignment said).
    """
    if task.worker_id != worker_id:
        raise Conflict(
            "This task is not assigned to this worker", details={"task_id": task.id, "worker_id": worker_id}
        )
    current = task.retry_count + 1
    if attempt is not None and attempt != current:
        raise Conflict(
            f"Attempt {attempt} is over: the task is on attempt {current}",
            details={"task_id": task.id, "attempt": attempt, "current_attempt": current},
        )


def _started_values(task: TaskRow, started: datetime, now: datetime) -> dict[str, Any]:
    """The column values a `running` report without a message would write on `task` (preparing), for a
    report that folds it into the end."""
    return {
        "status": lifecycle.S.running,
        "updated_at": now,
        "started_at": task.started_at or started,
        "message": lifecycle.DEFAULT_MESSAGES[lifecycle.S.running],
    }


def _batchable(report: TaskReport) -> bool:
    """Whether a carried report may be recorded with others in one transaction (`_end_and_claim`): a plain
    `completed` (no failure, no service URL), with or without a folded start."""
    return (
        report.status is not None
        and report.status.value == lifecycle.S.completed
        and not report.model_fields_set - _PLAIN_REPORT - {"run_seconds"}
    )


def _check_run_seconds(target: str | None, run_seconds: float | None) -> None:
    """400 for `run_seconds` on a report that moves the task nowhere past `preparing`."""
    if run_seconds is not None and target in (None, TaskStatus.preparing):
        raise ValidationFailed(
            "'run_seconds' goes with the report that starts the task: status 'running' or its end",
            details={"field": "run_seconds"},
        )


def _check_part_report(task: TaskRow, report: TaskReport) -> None:
    """409 for `run_seconds` on a multi-node task's part: each part reports its `running` on its own (the
    gang is as far as its slowest part)."""
    if report.run_seconds is not None:
        raise Conflict(
            "A multi-node task's part reports 'running' on its own: run_seconds is for single-node tasks",
            details={"task_id": task.id, "status": task.status},
        )


def _check_report(target: str | None, reason: str | None) -> None:
    if reason is None:
        return
    if target != TaskStatus.failed:
        raise ValidationFailed(
            "'failure_reason' goes with status 'failed'", details={"field": "failure_reason"}
        )
    if reason == lifecycle.CANCELLED_REASON:
        raise ValidationFailed(
            "A cancelled task is reported with status 'cancelled'", details={"field": "failure_reason"}
        )
