"""The worker agent: registers with the API, keeps its lease, claims work and runs it.

It talks to the API over HTTP only (:mod:`runplane.worker.client`), through the contract's worker
operations. Three kinds of coroutine run side by side, all supervised:

* the heartbeat loop renews the lease every ``heartbeat_seconds`` (as the lease answer says), passes on
  cancellations (``cancel_task_ids``) and notices draining. A 404/409 means the lease has ended: the server
  has already requeued this worker's tasks, so they are stopped here (without a report) and the agent
  registers again. If no heartbeat has got through for a whole lease, the agent stops its tasks itself
  (they have been given away by then), rather than run them twice;
* the claim loop asks for work whenever a slot is free, with what is free (slots, cores, memory, GPUs), for
  as many tasks as it has slots free (``max_tasks``), at once after an assignment. While it runs nothing it
  long-polls (``wait_seconds``: the server answers as soon as a task for it is queued, so an idle worker
  neither polls nor waits); while some of its tasks run, or after a failed claim, it asks again every
  ``poll_seconds`` (what is free changes as they end, and a waiting claim would offer stale figures);
* one :class:`~runplane.worker.execution.TaskExecution` per assigned task;
* the outbox loop, which sends by themselves the final reports no claim took (below).

Final reports ride on claims (issue 11): a task's end report (completed, failed, cancelled) goes to the
agent's outbox, its slot's resources are freed at once (its work is over) and the claim loop is woken; the
next claim carries every such report (``reports``, and then does not wait), and the server answers each as
the report operation would, which the task's execution awaits (a 404/409 is a lost task, as before). One
request per cycle instead of a claim plus one report per ended task. A report no claim took within
``_OUTBOX_LINGER_SECONDS`` — or at once while draining or stopping, for another registration, or after the
server showed it does not take reports with claims (an older server: it refused the field, or answered
without ``reports``) — is sent with the report operation, by the outbox loop. A claim that failed in
transport gives its reports back to the outbox; one answered 404/409 (the lease ended) too, and they go
out by themselves (the report operation still takes a report of an attempt not taken back). The task
stays held (heartbeats, drains) until its report's outcome is known.

Supervision: these coroutines handle the failures they expect (the API away for a while, a task that is no
longer ours). Anything else escaping one of them — or a 401/403, which means the key is wrong — stops the
whole agent, tasks included, and :meth:`WorkerAgent.run` raises :class:`AgentFailed`: a worker that keeps
claiming with a dead heartbeat loop would take work it cannot finish.

Ending: when the server drains the worker, it claims nothing new, finishes what it runs and returns. On
:meth:`WorkerAgent.request_stop` (SIGTERM/SIGINT from the CLI) it claims nothing new and gives its running
tasks ``grace_seconds`` to finish; those still running then are stopped and left to their lease, which
requeues them (or fails them ``worker_lost``) as for a worker that died. A second stop request skips the
rest of the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from generated.models import (
    ClaimReport,
    ClaimReportResult,
    FailureReason,
    GpuDevice,
    Heartbeat,
    ReportedStatus,
    ResourceId,
    TaskAssignment,
    TaskReport,
    TaskReportReply,
    WorkerCapabilities,
    WorkerRegistration,
    WorkerStatus,
)
from runplane import __version__
from runplane.worker import client as api
from runplane.worker.capabilities import MachineCapabilities, detect_capabilities
from runplane.worker.execution import CancelReason, ExecutionSettings, TaskExecution
from runplane.worker.launch import free_port
from runplane.worker.process import close_fork_server
from runplane.worker.resources import InsufficientResources, LocalResources, usable_cpu_ids

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
# A heartbeat is retried only briefly: the next one is the real retry, and the lease keeps ticking.
_HEARTBEAT_RETRY = api.RetryPolicy(
    attempts=3, base_delay_seconds=0.1, max_delay_seconds=1.0, deadline_seconds=5.0
)
_CLAIM_RETRY = api.RetryPolicy(
    attempts=3, base_delay_seconds=0.2, max_delay_seconds=2.0, deadline_seconds=10.0
)
# The contract's bounds on a claim's max_tasks and wait_seconds.
_MAX_CLAIM_TASKS = 64
_MAX_CLAIM_WAIT = 30.0
_REGISTER_BACKOFF_MAX_SECONDS = 10.0
_MIN_HEARTBEAT_SECONDS = 0.05
# After the grace period, how long stopped tasks get to end (SIGTERM → SIGKILL, then the log tail).
_TEARDOWN_SECONDS = 30.0
# The contract's bound on the reports one claim carries.
_MAX_CLAIM_REPORTS = 64
# How long a final report waits in the outbox for a claim to take it before it is sent by itself: a few
# claim round trips of a loaded server (35-58 ms each measured), short against a task's run.
_OUTBOX_LINGER_SECONDS = 0.5


@dataclass(eq=False)
class _Outgoing:
    """A final report waiting for a claim (or its own request) to take it; `outcome` gets the answer."""

    run: TaskExecution
    report: TaskReport
    outcome: asyncio.Future[TaskReportReply]
    queued: float  # time.monotonic()

    def sent_now(self) -> TaskReport:
        """The report as it leaves now: a `run_seconds` (how long the process had run when the report was
        made) grows by the time it waited here, since the server takes the start as its arrival less
        `run_seconds` (`runplane.lifecycle.started_at`); without it the start would look later by the wait."""
        if self.report.run_seconds is None:
            return self.report
        waited = max(0.0, time.monotonic() - self.queued)
        return self.report.model_copy(update={"run_seconds": round(self.report.run_seconds + waited, 6)})

    def settle(self, reply: TaskReportReply | None = None, error: BaseException | None = None) -> None:
        if self.outcome.done():
            return
        if error is not None:
            self.outcome.set_exception(error)
        else:
            self.outcome.set_result(reply)  # type: ignore[arg-type]


class AgentFailed(Exception):
    """The agent stopped because something it cannot handle happened (see ``__cause__``)."""


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; whether it is set.

    Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancellation that arrives as its timeout
    fires, which left a cancelled loop running for ever.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=seconds)
    finally:
        waiter.cancel()
    return event.is_set()


def default_worker_name() -> str:
    return _NAME_RE.sub("-", socket.gethostname()).strip("-.")[:64] or "worker"


@dataclass(frozen=True)
class AgentOptions:
    """How a worker runs. ``None`` for cores, memory or GPUs means what the machine has."""

    api_url: str
    api_key: str
    name: str = field(default_factory=default_worker_name)
    slots: int | None = None
    cores: int | None = None
    memory_gb: float | None = None
    gpus: int | None = None
    work_dir: Path = Path("var/worker")
    poll_seconds: float = 1.0
    grace_seconds: float = 10.0
    kill_grace_seconds: float = 5.0
    progress_interval_seconds: float = 1.0
    log_flush_seconds: float = 1.0
    keep_work_dirs: bool = False
    start_report_delay_seconds: float = 0.5
    """How long a task's process may run before `running` is reported: one that ends sooner sends only
    its end, which carries how long it ran (the server records its `running` too). 0: report `running`
    as the process starts. Services and parts of multi-node tasks always report it at once. 0.5 s: a
    no-op's process (started through the shim) took up to 0.2 s on a loaded 2-core machine."""
    http_timeout_seconds: float = 30.0
    claim_wait_seconds: float = 5.0
    """How long an idle worker's claim may wait on the server for work (a long poll); 0: plain polling.
    A stop request waits for a claim in flight (the task it brings is run, not stranded), so this bounds
    how long an idle worker takes to stop."""
    claim_reports: bool = True
    """Send tasks' end reports with the next claim (one request per cycle); False: each by itself, as
    an agent did before issue 11 §2."""
    claim_gather_seconds: float = 0.025
    """While other tasks still run, how long the claim that would carry a task's end report may wait
    (from that report) for more of them to end, so that one claim carries their reports and asks for
    their slots together instead of one claim per end; at once when every task has ended. 0: claim at
    each end."""
    # Where services (Jupyter servers) listen and are reported: an address users can reach this host at.
    service_host: str = "127.0.0.1"
    # Where other workers reach this one (a multi-node task's MASTER_ADDR when its rank 0 runs here);
    # None: the host name.
    address: str | None = None


@dataclass(frozen=True)
class WorkerSpec:
    """What this worker offers, after the options have been applied to the machine's capabilities."""

    cores: int
    memory_gb: float
    gpus: tuple[GpuDevice, ...]
    slots: int

    @classmethod
    def resolve(cls, options: AgentOptions, machine: MachineCapabilities) -> WorkerSpec:
        if options.gpus is not None and options.gpus > len(machine.gpus):
            raise ValueError(f"--gpus {options.gpus}: this machine has {len(machine.gpus)} GPU(s)")
        if options.cores is not None and options.cores < 1:
            raise ValueError("--cores must be at least 1")
        if options.slots is not None and options.slots < 1:
            raise ValueError("--slots must be at least 1")
        if options.memory_gb is not None and options.memory_gb <= 0:
            raise ValueError("--memory-gb must be positive")
        gpus = machine.gpus if options.gpus is None else machine.gpus[: options.gpus]
        cores = options.cores or machine.cpu_cores
        return cls(
            cores=cores,
            memory_gb=options.memory_gb if options.memory_gb is not None else machine.memory_gb,
            gpus=tuple(
                GpuDevice(index=gpu.index, name=gpu.name, memory_mb=gpu.memory_mb, uuid=gpu.uuid)
                for gpu in gpus
            ),
            # By default one task per core: the server fits tasks by cores anyway.
            slots=options.slots or cores,
        )

    def registration(self, name: str, address: str | None = None) -> WorkerRegistration:
        return WorkerRegistration(
            name=name,
            hostname=socket.gethostname()[:255] or "localhost",
            address=address,
            version=__version__,
            slots=self.slots,
            capabilities=WorkerCapabilities(
                cpu_cores=self.cores, memory_gb=self.memory_gb, gpus=list(self.gpus)
            ),
        )


class WorkerAgent:
    def __init__(
        self,
        options: AgentOptions,
        *,
        machine: MachineCapabilities | None = None,
        client: api.WorkerClient | None = None,
    ) -> None:
        self.options = options
        self.spec = WorkerSpec.resolve(options, machine or detect_capabilities())
        self._client = client or api.WorkerClient(
            options.api_url, options.api_key, timeout_seconds=options.http_timeout_seconds
        )
        self._resources = LocalResources(
            cores=self.spec.cores,
            cpu_ids=usable_cpu_ids(self.spec.cores),
            memory_gb=self.spec.memory_gb,
            gpu_indices=[gpu.index for gpu in self.spec.gpus],
            slots=self.spec.slots,
        )
        work_dir = options.work_dir.expanduser().resolve()
        self._execution = ExecutionSettings(
            work_dir=work_dir,
            dataset_cache_dir=work_dir / ".cache" / "datasets",
            kill_grace_seconds=options.kill_grace_seconds,
            progress_interval_seconds=options.progress_interval_seconds,
            log_flush_seconds=options.log_flush_seconds,
            keep_work_dirs=options.keep_work_dirs,
            start_report_delay_seconds=options.start_report_delay_seconds,
            service_host=options.service_host,
        )
        self.worker_id: str | None = None
        self._heartbeat_seconds = 5.0
        self._lease_seconds = 30.0
        self._last_renewal = 0.0
        self._draining = False
        self._stopping = False
        self._runs: dict[str, TaskExecution] = {}
        # Runs whose allocation is still held (released once, at their final report or their end).
        self._holding: set[TaskExecution] = set()
        # Final reports waiting for a claim to carry them, by task id, oldest first.
        self._outbox: dict[str, _Outgoing] = {}
        self._outbox_added = asyncio.Event()
        # Whether the server takes reports with claims; False once it showed it does not (older servers).
        self._exchange = options.claim_reports
        self._tasks: set[asyncio.Task[None]] = set()
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._exit = asyncio.Event()
        self._force = asyncio.Event()
        self._wake = asyncio.Event()
        self._register_lock = asyncio.Lock()
        self._failure: BaseException | None = None
        # Dataset URLs come from task submitters: this client carries no credentials.
        self._dataset_http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        # A name the contract refuses fails here, before anything starts.
        self.spec.registration(options.name, options.address)

    # -- public ---------------------------------------------------------------------------------------

    @property
    def running_task_ids(self) -> list[str]:
        return list(self._runs)

    def request_stop(self) -> None:
        """Stop claiming and end; a second call ends the grace period for running tasks at once."""
        if self._stopping:
            self._force.set()
            return
        logger.info("stopping: no new work; %d task(s) running", len(self._runs))
        self._stopping = True
        self._wake.set()
        self._outbox_added.set()  # no claim will take the outbox's reports now
        self._exit.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Work until drained or stopped; raises :class:`AgentFailed` when the agent had to give up."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop)
        heartbeat: asyncio.Task[None] | None = None
        claim: asyncio.Task[None] | None = None
        outbox: asyncio.Task[None] | None = None
        try:
            try:
                await self._register()
            except Exception as exc:  # a wrong key (401/403), a name the server refuses: nothing to retry
                logger.error("cannot register: %s", exc)
                self._failure = exc
            if self._failure is None and not self._exit.is_set():
                heartbeat = self._spawn(self._heartbeat_loop(), "heartbeat loop")
                claim = self._spawn(self._claim_loop(), "claim loop")
                outbox = self._spawn(self._outbox_loop(), "outbox loop")
                await self._exit.wait()
            if self._failure is None and self._stopping:
                if claim is not None:
                    # A claim in flight may bring a task: let it land, so it is run rather than stranded.
                    await asyncio.wait([claim], timeout=self.options.http_timeout_seconds)
                await self._finish_runs()
        finally:
            await self._teardown([t for t in (heartbeat, claim, outbox) if t is not None])
            await self._dataset_http.aclose()
            await self._client.aclose()
            # Its tasks have ended (or been killed) above; the shims' fork server goes with the agent.
            await close_fork_server()
            if handle_signals:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
        if self._failure is not None:
            raise AgentFailed(str(self._failure)) from self._failure
        logger.info("worker %s stopped", self.worker_id)

    # -- supervision ----------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                return
            exc = finished.exception()
            if exc is not None and self._failure is None:
                if isinstance(exc, (api.Unauthorized, api.Forbidden)):
                    # An expected end, not a bug: the key was revoked or is not a worker key. One line
                    # that says so; a traceback would only bury it.
                    why = "revoked or invalid" if isinstance(exc, api.Unauthorized) else "not a worker key"
                    logger.error("the API refused this worker's key (%s: %s); stopping the worker", why, exc)
                else:
                    logger.error("%s crashed; stopping the worker", name, exc_info=exc)
                self._failure = exc
                self._exit.set()

        task.add_done_callback(done)
        return task

    async def _finish_runs(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.grace_seconds
        if self._runners:
            logger.info(
                "waiting up to %gs for %d running task(s)", self.options.grace_seconds, len(self._runners)
            )
        # Until the runners are done, the grace period is over, a second stop request or a crash.
        while self._runners and self._failure is None and not self._force.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            force = asyncio.ensure_future(self._force.wait())
            try:
                await asyncio.wait(
                    [*self._runners.values(), force], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                force.cancel()
        if self._failure is not None:
            return
        for run in list(self._runs.values()):
            run.request_cancel("shutdown")
        if self._runners:
            await asyncio.wait(list(self._runners.values()), timeout=_TEARDOWN_SECONDS)

    async def _teardown(self, loops: list[asyncio.Task[None]]) -> None:
        for loop_task in loops:
            loop_task.cancel()
        # Runners still alive here (a crash, or a teardown that timed out) are cancelled: run_process then
        # kills their process groups before it lets the cancellation through.
        for runner in list(self._runners.values()):
            runner.cancel()
        pending = [*loops, *self._runners.values()]
        if pending:
            await asyncio.wait(pending, timeout=_TEARDOWN_SECONDS)

    # -- registration and the lease -------------------------------------------------------------------

    async def _register(self) -> None:
        registration = self.spec.registration(self.options.name, self.options.address)
        delay = 0.5
        while not self._exit.is_set():
            try:
                lease = await self._client.register(registration)
            except (api.ApiUnavailable, api.ServerError, api.RateLimited) as exc:
                logger.warning(
                    "cannot register with %s yet (%s); retrying in %.1fs", self.options.api_url, exc, delay
                )
                await wait_event(self._exit, delay)
                delay = min(delay * 2, _REGISTER_BACKOFF_MAX_SECONDS)
                continue
            self.worker_id = lease.worker_id.root
            # At least three tries per lease, whatever the server's two settings say about each other.
            interval = min(lease.heartbeat_seconds, lease.lease_seconds / 3) if lease.lease_seconds else 1.0
            self._heartbeat_seconds = max(_MIN_HEARTBEAT_SECONDS, interval)
            self._lease_seconds = lease.lease_seconds
            self._last_renewal = time.monotonic()
            self._draining = False
            logger.info(
                "registered as worker %s (%s): %d slot(s), %d core(s), %g GiB, %d GPU(s); heartbeat every %gs",
                self.worker_id,
                self.options.name,
                self.spec.slots,
                self.spec.cores,
                self.spec.memory_gb,
                len(self.spec.gpus),
                self._heartbeat_seconds,
            )
            self._wake.set()
            return

    async def _lease_lost(self, worker_id: str, why: str) -> None:
        async with self._register_lock:
            if self.worker_id != worker_id:
                return  # the other loop has registered again already
            logger.warning(
                "lease of worker %s ended (%s); stopping its tasks and registering again", worker_id, why
            )
            self._stop_runs("lost")
            await self._register()

    def _stop_runs(self, reason: CancelReason) -> None:
        for run in list(self._runs.values()):
            run.request_cancel(reason)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        worker_id = self.worker_id
        assert worker_id is not None
        body = Heartbeat(running_task_ids=[ResourceId(task_id) for task_id in self._runs])
        try:
            reply = await self._client.heartbeat(worker_id, body, retry=_HEARTBEAT_RETRY)
        except (api.Conflict, api.NotFound) as exc:
            await self._lease_lost(worker_id, f"heartbeat answered {exc.status}")
            return
        except (api.ApiUnavailable, api.ServerError, api.RateLimited) as exc:
            silent = time.monotonic() - self._last_renewal
            logger.warning("heartbeat failed (%s); last renewal %.1fs ago", exc, silent)
            if silent > self._lease_seconds and self._runs:
                # The server has requeued these tasks by now; running them on would run them twice.
                logger.error("lease presumed lost; stopping %d task(s)", len(self._runs))
                self._stop_runs("lost")
            return
        self._last_renewal = time.monotonic()
        for task_id in reply.cancel_task_ids:
            run = self._runs.get(task_id.root)
            if run is not None:
                logger.info("task %s: cancel requested", task_id.root)
                run.request_cancel("requested")
        status = reply.status
        # A lease that ended is a 409; "offline" in an answer is the end of a drain (the worker ran
        # nothing, or finished): stop rather than register again.
        if status in (WorkerStatus.draining, WorkerStatus.offline):
            if not self._draining:
                logger.info("draining: finishing %d task(s), taking nothing new", len(self._runs))
            self._draining = True
            self._outbox_added.set()  # no claim will take the outbox's reports now
            self._check_drained()
        elif self._draining:
            logger.info("no longer draining")
            self._draining = False
            self._wake.set()

    def _check_drained(self) -> None:
        if self._draining and not self._runs and not self._exit.is_set():
            logger.info("drained: no task left; stopping")
            self._exit.set()

    # -- claiming -------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            # Cleared before the checks, so a wake-up that comes after them is not lost.
            self._wake.clear()
            if self._draining or self._resources.free_slots == 0:
                await self._idle(self.options.poll_seconds)
                continue
            await self._gather()
            worker_id = self.worker_id
            assert worker_id is not None
            request = self._resources.claim_request()
            request.max_tasks = max(1, min(request.free_slots, _MAX_CLAIM_TASKS))
            # Should this claim start a multi-node task with this worker as rank 0: its MASTER_PORT.
            request.master_port = free_port()
            carried = self._take_outbox(worker_id) if self._exchange else []
            if carried:
                # The server answers at once when a claim carries reports: their tasks wait on them.
                request.reports = [
                    ClaimReport(task_id=ResourceId(item.run.task_id), report=item.sent_now())
                    for item in carried
                ]
            elif not self._runs:
                # Idle: nothing can free resources meanwhile, so the server may hold the claim until work
                # comes; shorter than a third of the lease, though the claim renews it anyway.
                request.wait_seconds = max(
                    0.0, min(self.options.claim_wait_seconds, _MAX_CLAIM_WAIT, self._lease_seconds / 3)
                )
            asked = time.monotonic()
            try:
                result = await self._client.claim(worker_id, request, retry=_CLAIM_RETRY)
            except (api.Conflict, api.NotFound) as exc:
                # Nothing was recorded; the report operation still takes a report of an attempt that
                # was not taken back, so they go out by themselves (the worker id is no longer current).
                self._give_back(carried)
                await self._lease_lost(worker_id, f"claim answered {exc.status}")
                continue
            except api.BadRequest as exc:
                if not carried:
                    raise
                logger.warning(
                    "the server refused reports carried by a claim (%s); sending each by itself from now on",
                    exc,
                )
                self._exchange = False
                self._give_back(carried)
                continue
            except (api.ApiUnavailable, api.ServerError, api.RateLimited) as exc:
                logger.warning("claim failed (%s)", exc)
                self._give_back(carried)
                await self._idle(self.options.poll_seconds)
                continue
            except BaseException:
                self._give_back(carried)
                raise
            if carried:
                self._settle(carried, result.reports)
            assignments = result.assignments
            if assignments is None:  # a server older than multi-task claims
                assignments = [result.assignment] if result.assignment is not None else []
            if not assignments:
                # A long poll that ended early (the worker is draining, the server stopping) is no
                # reason to ask again at once.
                if not request.wait_seconds or time.monotonic() - asked < request.wait_seconds:
                    await self._idle(self.options.poll_seconds)
                continue
            for assignment in assignments:
                if assignment is not None:
                    self._start(assignment, worker_id)

    async def _gather(self) -> None:
        """Before a claim that would carry end reports while other tasks still hold resources: waits
        until they have all ended or `claim_gather_seconds` have passed since the oldest report was
        queued, whichever comes first. Tasks claimed together tend to end together (a sweep's trials, a
        burst of short tasks): one claim then carries their ends and asks for their slots at once, where
        claiming at the first end splits every batch in two (one slot, then the rest) and doubles the
        claims (issue 11: ~2 tasks per claim on 4 slots). A slot waits at most that long, once per end."""
        gather = self.options.claim_gather_seconds
        while gather > 0 and self._takes_reports() and self._outbox and self._holding:
            oldest = min(item.queued for item in self._outbox.values())
            remaining = oldest + gather - time.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            await wait_event(self._wake, remaining)

    # -- final reports: the outbox ---------------------------------------------------------------------

    async def _deliver_final(self, run: TaskExecution, report: TaskReport) -> TaskReportReply:
        """A run's final report, through the outbox (`FinalDelivery`): its resources are freed now (its
        work is done) and the claim loop woken, so the next claim carries it."""
        task_id = run.task_id
        self._release(run)
        if task_id in self._outbox:  # another attempt's report still waits: this one goes by itself
            return await self._client.report(run.worker_id, task_id, report)
        outcome: asyncio.Future[TaskReportReply] = asyncio.get_running_loop().create_future()
        self._outbox[task_id] = _Outgoing(run, report, outcome, time.monotonic())
        self._outbox_added.set()
        self._wake.set()
        return await outcome

    def _take_outbox(self, worker_id: str) -> list[_Outgoing]:
        """The reports a claim as `worker_id` carries (at most the contract's limit), out of the outbox."""
        taken = [item for item in self._outbox.values() if item.run.worker_id == worker_id]
        taken = taken[:_MAX_CLAIM_REPORTS]
        for item in taken:
            del self._outbox[item.run.task_id]
        return taken

    def _give_back(self, carried: list[_Outgoing]) -> None:
        """Reports a claim took but could not deliver: back to the outbox (ahead of newer ones)."""
        if not carried:
            return
        waiting = {item.run.task_id: item for item in carried if not item.outcome.done()}
        for task_id, item in self._outbox.items():
            waiting.setdefault(task_id, item)
        self._outbox = waiting
        self._outbox_added.set()

    def _settle(self, carried: list[_Outgoing], results: list[ClaimReportResult] | None) -> None:
        """Hands each carried report its answer: the task's reply, or what the report operation would
        have raised. An answer without results (an older server ignored them) sends them by themselves."""
        if results is None:
            logger.warning("the server answered a claim without its reports' results; sending each by itself")
            self._exchange = False
            self._give_back(carried)
            return
        unanswered: list[_Outgoing] = []
        for index, item in enumerate(carried):
            result = results[index] if index < len(results) else None
            if result is None or result.task_id.root != item.run.task_id:
                unanswered.append(item)
            elif result.status < 300 and result.task is not None:
                item.settle(result.task)
            else:
                item.settle(error=api.error_from_body(result.status, result.error))
        self._give_back(unanswered)

    def _takes_reports(self) -> bool:
        """Whether the claim loop will soon carry the outbox's reports (else they go by themselves)."""
        return self._exchange and not (self._stopping or self._draining) and self.worker_id is not None

    async def _outbox_loop(self) -> None:
        """Sends by themselves the final reports that no claim took within the linger, or at once when
        no claim will (draining, stopping, another registration, a server that does not take them)."""
        while True:
            self._outbox_added.clear()
            now = time.monotonic()
            claims = self._takes_reports()
            due = [
                item
                for item in self._outbox.values()
                if not claims
                or item.run.worker_id != self.worker_id
                or now - item.queued >= _OUTBOX_LINGER_SECONDS
            ]
            for item in due:
                del self._outbox[item.run.task_id]
                self._spawn(self._send_alone(item), f"report of task {item.run.task_id}")
            if self._outbox:
                oldest = min(item.queued for item in self._outbox.values())
                await wait_event(self._outbox_added, max(0.01, oldest + _OUTBOX_LINGER_SECONDS - now))
            else:
                # A stop or drain that comes while nothing waits changes nothing here: re-checked with
                # the next report.
                await wait_event(self._outbox_added, _OUTBOX_LINGER_SECONDS)

    async def _send_alone(self, item: _Outgoing) -> None:
        """One final report with the report operation; its outcome, whatever it is, goes to its task."""
        try:
            reply = await self._client.report(item.run.worker_id, item.run.task_id, item.sent_now())
        except asyncio.CancelledError:
            item.outcome.cancel()
            raise
        except Exception as exc:
            item.settle(error=exc)
        else:
            item.settle(reply)

    def _release(self, run: TaskExecution) -> None:
        """Frees a run's resources, once (at its final report, or when it ends without one)."""
        if run in self._holding:
            self._holding.discard(run)
            self._resources.release(run.allocation)
            self._wake.set()

    async def _idle(self, seconds: float) -> None:
        """Wait until woken (a slot freed, a stop, a new lease) or ``seconds`` pass."""
        await wait_event(self._wake, seconds)

    def _start(self, assignment: TaskAssignment, worker_id: str) -> None:
        task_id = assignment.task_id.root
        try:
            allocation = self._resources.allocate(
                cpu=assignment.cpu, memory_gb=assignment.memory_gb, gpu=assignment.gpu
            )
        except InsufficientResources as exc:
            logger.error("task %s cannot run here: %s", task_id, exc)
            self._spawn(
                self._refuse(worker_id, task_id, assignment.attempt, str(exc)), f"refusal of task {task_id}"
            )
            return
        run = TaskExecution(
            assignment,
            worker_id=worker_id,
            client=self._client,
            allocation=allocation,
            settings=self._execution,
            dataset_http=self._dataset_http,
            deliver_final=self._deliver_final,
        )
        logger.info(
            "task %s (attempt %d) assigned: cpus %s, %g GiB, GPUs %s",
            task_id,
            assignment.attempt,
            list(allocation.cpu_ids),
            allocation.memory_gb,
            list(allocation.gpu_indices),
        )
        self._runs[task_id] = run
        self._holding.add(run)
        runner = self._spawn(run.run(), f"task {task_id}")
        self._runners[task_id] = runner

        def finished(_: asyncio.Task[None]) -> None:
            # The claim that took this run's end report may have brought the task back as its next
            # attempt (a retried failure): that attempt's run is not this one's to drop.
            if self._runs.get(task_id) is run:
                del self._runs[task_id]
            if self._runners.get(task_id) is runner:
                del self._runners[task_id]
            self._release(run)
            self._wake.set()
            self._check_drained()

        runner.add_done_callback(finished)

    async def _refuse(self, worker_id: str, task_id: str, attempt: int, why: str) -> None:
        # The claim already made the task `preparing` here: one `failed` report ends it.
        report = TaskReport(
            attempt=attempt,
            status=ReportedStatus.failed,
            failure_reason=FailureReason.internal,
            message=why[:1024],
        )
        try:
            await self._client.report(worker_id, task_id, report)
        except (api.ApiError, api.ApiUnavailable) as exc:
            logger.warning("task %s: refusal not reported: %s", task_id, exc)
