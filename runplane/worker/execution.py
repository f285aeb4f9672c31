"""One assigned task, from ``preparing`` to its end, on this worker.

The flow (the claim already made the task ``preparing`` on this worker, so that is not reported again):
lay out ``<work_dir>/<task_id>-<attempt>/`` (``code/``, ``output/``, ``tmp/``); download and safely
extract the snapshot into ``code/`` (any failure: ``snapshot_invalid``); fetch the datasets into the shared
cache and place them under ``code/`` (``dataset_invalid``); report ``running`` and run the command
(:mod:`runplane.worker.launch`) under its limits, streaming its output, masked, into the task log and its
progress lines into throttled reports; then, when ``output/`` holds files, report ``collecting`` and
upload them; and report ``completed``, or ``failed`` with its reason (``exit_code``, ``timeout``,
``out_of_memory``). A task with no outputs goes from ``running`` straight to its end (one report less; no
one would see a ``collecting`` with nothing to upload). ``running`` is reported once the process has run
``start_report_delay_seconds`` (default 0.5 s; 0: at once): a process that ends sooner has its start told
by its next status report (``collecting`` or the end), which carries how long it ran (``run_seconds``), and
the server records ``running`` and that report together (issue 11: a no-op task costs one report).
``timeout_seconds`` bounds the command only, not the preparation. The task's last log lines are shipped (one request) before its end is reported.
Under an agent, the end report goes to the agent's outbox (``deliver_final``), which sends it with the
worker's next claim, so a no-op task costs no request of its own; its outcome is awaited as a report's.

Cancellation has three causes, and only one is reported:

* ``requested``: the owner cancelled (a heartbeat's ``cancel_task_ids`` or a report's ``cancel_requested``):
  the process group is stopped (SIGTERM, then SIGKILL) and ``cancelled`` is reported.
* ``lost``: the task is no longer this worker's (a 404/409 on one of its calls, or the worker's lease
  ended): it is stopped and nothing more is said, since the server has already given it away.
* ``shutdown``: the worker is stopping and the grace period ran out: the task is stopped and left to the
  lease, whose end requeues it (``retry_count`` + 1) or fails it with ``worker_lost``, exactly as if the
  worker had died.

Artifacts are uploaded for failed tasks too (partial outputs help to understand a failure), not for
cancelled ones. If an upload fails, the task cannot be reported ``completed``: it fails with reason
``internal`` and the upload error. The work directory is removed once the end is reported, whatever the end
(its outputs are artifacts by then); ``keep_work_dirs`` keeps it for debugging.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import httpx

from generated.models import (
    FailureReason,
    LogBatch,
    ReportedStatus,
    TaskAssignment,
    TaskKind,
    TaskReport,
    TaskReportReply,
)
from runplane.entrypoints import entrypoint_script
from runplane.worker import client as api
from runplane.worker.datasets import DatasetError, DatasetSpec, fetch_dataset
from runplane.worker.launch import LaunchError, TaskDirs, build_argv, build_env
from runplane.worker.logship import BatchRefused, LogBatcher, LogShipper, ShippingStopped
from runplane.worker.masking import SecretMasker
from runplane.worker.outputs import gather_outputs, nothing_to_collect
from runplane.worker.process import ProcessOutcome, ResourceLimits, run_process
from runplane.worker.progress import ProgressTracker, parse_progress_line
from runplane.worker.resources import Allocation
from runplane.worker.service import free_port, service_url, wait_until_answers
from runplane.worker.snapshot import UnsafeArchiveError, extract_snapshot, limits_from_env

logger = logging.getLogger(__name__)

CancelReason = Literal["requested", "lost", "shutdown"]
T = TypeVar("T")

_MAX_MESSAGE_CHARS = 1024
_GiB = 2**30


class TaskLost(Exception):
    """The API says the task is no longer this worker's (404/409): stop it and say nothing more."""


class _Cancelled(Exception):
    """The cancel event fired while the task was being prepared."""


class _PrepareFailed(Exception):
    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ExecutionSettings:
    work_dir: Path
    dataset_cache_dir: Path
    kill_grace_seconds: float = 5.0
    progress_interval_seconds: float = 1.0
    log_flush_seconds: float = 1.0
    keep_work_dirs: bool = False
    # How long a task's process may run before `running` is reported (0: at once); see `_run_command`.
    start_report_delay_seconds: float = 0.0
    # The address a task of kind `service` listens on and is reported at.
    service_host: str = "127.0.0.1"


def _truncate(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE_CHARS else message[: _MAX_MESSAGE_CHARS - 1] + "…"


def _clamp_exit_code(code: int | None) -> int | None:
    return None if code is None else max(-255, min(255, code))


FinalDelivery = Callable[["TaskExecution", TaskReport], Awaitable[TaskReportReply]]
"""Sends a task's final report another way than its own request (the agent's outbox: with its next
claim): answers the server's reply, or raises what `WorkerClient.report` would have raised. The task's
work is over when it is called (its process ended, its outputs uploaded), so its resources may be
released then."""


class TaskExecution:
    """Runs one assignment; :meth:`request_cancel` may be called at any time, from any coroutine."""

    def __init__(
        self,
        assignment: TaskAssignment,
        *,
        worker_id: str,
        client: api.WorkerClient,
        allocation: Allocation,
        settings: ExecutionSettings,
        dataset_http: httpx.AsyncClient,
        deliver_final: FinalDelivery | None = None,
    ) -> None:
        self.assignment = assignment
        self.task_id = assignment.task_id.root
        self.worker_id = worker_id
        self.allocation = allocation
        self.cancel = asyncio.Event()
        self.cancel_reason: CancelReason | None = None
        self._client = client
        # Where the final report (completed, failed, cancelled) goes instead of its own request: the
        # agent's outbox, which sends it with its next claim (issue 11). None: its own request.
        self._deliver_final = deliver_final
        self._settings = settings
        self._dataset_http = dataset_http
        self._dirs = TaskDirs.for_task(settings.work_dir, self.task_id, assignment.attempt)
        self._masker = SecretMasker(assignment.secrets.root.values())
        self._tracker = ProgressTracker(min_interval_seconds=settings.progress_interval_seconds)
        self._progress_now: tuple[float, str | None] | None = None
        self._progress_wake = asyncio.Event()
        # Held while a progress report is in flight: the reporter is stopped only between reports, never
        # in the middle of a request (which would reach the server cut short).
        self._progress_lock = asyncio.Lock()
        self._undelivered_lines = 0
        self._output_warnings: list[str] = []
        self._shipper: LogShipper | None = None
        # When the process started (the loop's clock) while its start is not reported yet: the next status
        # report carries how long it has run (`run_seconds`), which tells the server it started.
        self._unreported_start: float | None = None
        # Set once `running` is reported: progress reports wait for it (a task must not show progress
        # while it still shows `preparing`; the end report carries the last progress anyway).
        self._start_reported = asyncio.Event()

    def request_cancel(self, reason: CancelReason) -> None:
        # The first cause wins: a task the owner cancelled stays "requested" even if the lease then ends.
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.cancel.set()

    # -- the flow -------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except TaskLost as exc:
            logger.info("task %s is no longer this worker's (%s); dropped", self.task_id, exc)
        except Exception as exc:
            logger.exception("task %s failed inside the worker", self.task_id)
            with contextlib.suppress(Exception):
                await self._report(
                    status=ReportedStatus.failed,
                    failure_reason=FailureReason.internal,
                    message=f"worker error: {type(exc).__name__}: {exc}",
                )
        finally:
            # A task that left no file behind is four rmdir calls; a thread only for a tree to walk.
            if not self._settings.keep_work_dirs and not self._dirs.remove_if_empty():
                await asyncio.to_thread(shutil.rmtree, self._dirs.root, ignore_errors=True)

    async def _run(self) -> None:
        # No `preparing` report: the claim that handed this task over already made it `preparing` on
        # this worker (with its message and event). The first report is `running`, or the end.
        try:
            await self._prepare()
        except _Cancelled:
            await self._end_cancelled()
            return
        except _PrepareFailed as failure:
            logger.info("task %s: %s", self.task_id, failure.message)
            await self._report(
                status=ReportedStatus.failed, failure_reason=failure.reason, message=failure.message
            )
            return
        if self.cancel.is_set():
            await self._end_cancelled()
            return
        try:
            argv = build_argv(self.assignment, self._dirs.code)
        except LaunchError as exc:
            await self._report(
                status=ReportedStatus.failed, failure_reason=FailureReason.internal, message=str(exc)
            )
            return
        script = (
            None
            if self.assignment.model_id
            else entrypoint_script(self.assignment.entrypoint, [arg.root for arg in self.assignment.args])
        )
        if script is not None and not (self._dirs.code / script).exists():
            await self._report(
                status=ReportedStatus.failed,
                failure_reason=FailureReason.entrypoint_not_found,
                message=f"the entrypoint script {script!r} is not in the task's code",
            )
            return
        try:
            env = build_env(self.assignment, self._dirs, self.allocation.gpu_indices)
        except LaunchError as exc:  # an `output_env` directory outside the output directory
            await self._report(
                status=ReportedStatus.failed, failure_reason=FailureReason.internal, message=str(exc)
            )
            return
        url = None
        if self.assignment.kind == TaskKind.service:
            host = self._settings.service_host
            port = await asyncio.to_thread(free_port, host)
            argv += [f"--ip={host}", f"--port={port}"]
            url = service_url(host, port)
        outcome = await self._run_command(argv, env, url)
        if outcome.reason == "cancelled":
            await self._end_cancelled()
            return
        upload_error = await self._collect()
        await self._end(outcome, upload_error)

    async def _run_command(self, argv: list[str], env: dict[str, str], url: str | None) -> ProcessOutcome:
        """Runs the command and reports `running`: at once (a service, a part of a multi-node task, or no
        delay set), or once the process has run `start_report_delay_seconds`. A process that ends sooner
        has its start reported by its next status report (its end, or `collecting`), which carries how
        long it ran: one report instead of two, and the server still records `running` (issue 11).

        A cancel reaches the process during the delay as at any time (heartbeats, `request_cancel`). If
        the `running` report fails, the process is stopped before the error goes on (a task the server
        gave away must not keep running here).
        """
        delay = self._settings.start_report_delay_seconds
        if delay <= 0 or url is not None or self.assignment.rank is not None:
            await self._report(status=ReportedStatus.running, message="running")
            self._start_reported.set()
            return await self._execute(argv, env, url)
        loop = asyncio.get_running_loop()
        self._unreported_start = loop.time()
        ended = asyncio.Event()
        run = asyncio.ensure_future(self._execute(argv, env, url, ended=ended))
        waiter = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait([run, waiter], timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if ended.is_set() or run.done():
            return await run  # its start goes with its next status report
        try:
            await self._report(status=ReportedStatus.running, message="running")
        except BaseException:
            self.request_cancel("lost")
            await asyncio.gather(run, return_exceptions=True)
            raise
        self._start_reported.set()
        return await run

    async def _end_cancelled(self) -> None:
        if self.cancel_reason == "requested":
            await self._report(status=ReportedStatus.cancelled, message="cancelled")
        else:
            logger.info("task %s stopped (%s); not reported", self.task_id, self.cancel_reason)

    async def _end(self, outcome: ProcessOutcome, upload_error: str | None) -> None:
        if outcome.reason is None and upload_error is None:
            percent, _ = self._tracker.complete()
            # No message: the server says "Completed" (the last progress text is not how the task ended).
            notes = [f"{self._undelivered_lines} log line(s) could not be delivered"] * bool(
                self._undelivered_lines
            )
            notes += self._output_warnings
            note = "; ".join(self._masker.mask(n) for n in notes) or None
            await self._report(status=ReportedStatus.completed, progress=percent, message=note)
            return
        percent, _ = self._tracker.current
        if outcome.reason is None:
            reason, message = FailureReason.internal, f"could not upload the task's outputs: {upload_error}"
        else:
            reason, message = FailureReason(outcome.reason), self._failure_message(outcome)
        await self._report(
            status=ReportedStatus.failed,
            progress=percent,
            failure_reason=reason,
            exit_code=_clamp_exit_code(outcome.exit_code),
            message=message,
        )

    def _failure_message(self, outcome: ProcessOutcome) -> str:
        code = outcome.exit_code
        if outcome.reason == "timeout":
            return f"timed out after {self.assignment.timeout_seconds}s"
        if outcome.reason == "out_of_memory":
            peak = outcome.peak_rss_bytes / _GiB
            return f"used more than its {self.allocation.memory_gb:g} GiB of memory (peak {peak:.2f} GiB)"
        if code is not None and code < 0:
            return f"killed by signal {-code}"
        return f"exited with code {code}"

    # -- preparing ------------------------------------------------------------------------------------

    async def _unless_cancelled(self, work: Awaitable[T]) -> T:
        """``work``'s result, or :class:`_Cancelled` as soon as the cancel event fires."""
        job = asyncio.ensure_future(work)
        waiter = asyncio.ensure_future(self.cancel.wait())
        try:
            await asyncio.wait([job, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not job.done():
                job.cancel()
            await asyncio.gather(job, waiter, return_exceptions=True)
        if job.cancelled():
            raise _Cancelled()
        return job.result()

    async def _prepare(self) -> None:
        # Four mkdir calls: on the event loop, as their removal is (a thread hop cost more than they do).
        self._dirs.create()
        snapshot_id = self.assignment.snapshot_id
        if snapshot_id:
            await self._unless_cancelled(self._fetch_snapshot(snapshot_id))
        for spec in self.assignment.dataset_specs:
            dataset = DatasetSpec(
                name=spec.name, source=spec.source, sha256=spec.sha256, mount_path=spec.mount_path
            )
            try:
                await self._unless_cancelled(
                    fetch_dataset(
                        dataset,
                        cache_dir=self._settings.dataset_cache_dir,
                        workdir=self._dirs.code,
                        http=self._dataset_http,
                    )
                )
            except DatasetError as exc:
                raise _PrepareFailed(FailureReason.dataset_invalid, str(exc)) from exc

    async def _fetch_snapshot(self, snapshot_id: str) -> None:
        archive = self._dirs.snapshot_archive
        try:
            await self._client.download_snapshot(snapshot_id, archive)
        except (api.NotFound, api.Forbidden) as exc:
            raise _PrepareFailed(
                FailureReason.snapshot_invalid, f"snapshot {snapshot_id} cannot be downloaded: {exc.message}"
            ) from exc
        try:
            await asyncio.to_thread(
                functools.partial(extract_snapshot, archive, self._dirs.code, **limits_from_env())
            )
        except UnsafeArchiveError as exc:
            raise _PrepareFailed(FailureReason.snapshot_invalid, str(exc)) from exc
        finally:
            await asyncio.to_thread(archive.unlink, missing_ok=True)

    # -- running --------------------------------------------------------------------------------------

    async def _execute(
        self,
        argv: list[str],
        env: dict[str, str],
        url: str | None = None,
        *,
        ended: asyncio.Event | None = None,
    ) -> ProcessOutcome:
        """Runs the process to its end, shipping its output and progress; `ended` is set as soon as the
        process has ended (before its last lines are shipped)."""
        shipper = LogShipper(
            self._send_logs,
            LogBatcher(max_delay_seconds=self._settings.log_flush_seconds, attempt=self.assignment.attempt),
            label=f"task {self.task_id}",
        )
        self._shipper = shipper

        async def on_output(stream: str, line: str) -> None:
            masked = self._masker.mask(line)
            if stream == "stdout":
                parsed = parse_progress_line(masked)
                if parsed is not None:
                    self._on_progress(*parsed)
            await shipper.add(stream, masked)

        memory_gb = self.allocation.memory_gb
        limits = ResourceLimits(
            cpu_ids=list(self.allocation.cpu_ids),
            memory_bytes=max(1, int(memory_gb * _GiB)),
            timeout_seconds=self.assignment.timeout_seconds,
        )
        shipper.start()
        reporter = asyncio.ensure_future(self._report_progress())
        announcer = asyncio.ensure_future(self._announce(url)) if url is not None else None
        try:
            return await run_process(
                argv,
                cwd=self._dirs.code,
                env=env,
                limits=limits,
                on_output=on_output,
                cancel=self.cancel,
                kill_grace_seconds=self._settings.kill_grace_seconds,
            )
        finally:
            if ended is not None:
                ended.set()
            if announcer is not None:
                announcer.cancel()
                await asyncio.gather(announcer, return_exceptions=True)
            async with self._progress_lock:
                reporter.cancel()
                await asyncio.gather(reporter, return_exceptions=True)
            # Every line goes out (or is marked as lost) before the end is reported.
            await shipper.close()
            self._undelivered_lines = shipper.dropped_lines

    async def _announce(self, url: str) -> None:
        """Reports a service's URL once it answers (stopped by the end of the process)."""
        await wait_until_answers(url)
        async with self._progress_lock:
            try:
                await self._report(message=f"serving at {url}", service_url=url)
            except TaskLost:
                self.request_cancel("lost")
            except (api.ApiError, api.ApiUnavailable) as exc:
                logger.warning("task %s: service address not reported: %s", self.task_id, exc)

    def _on_progress(self, percent: float, message: str | None) -> None:
        if self._tracker.update(percent, message):
            self._progress_now = self._tracker.current
        self._progress_wake.set()

    async def _report_progress(self) -> None:
        """Sends progress as the tracker allows, one report at a time (the end report sends the last),
        once the task's start is reported."""
        await self._start_reported.wait()
        while True:
            await self._progress_wake.wait()
            self._progress_wake.clear()
            if self._progress_now is not None:
                value, self._progress_now = self._progress_now, None
                async with self._progress_lock:
                    await self._send_progress(value)
            delay = self._tracker.seconds_until_due()
            if delay is not None:
                await asyncio.sleep(delay)
                pending = self._tracker.flush()
                if pending is not None:
                    async with self._progress_lock:
                        await self._send_progress(pending)

    async def _send_progress(self, value: tuple[float, str | None]) -> None:
        percent, message = value
        try:
            await self._report(progress=percent, message=message)
        except TaskLost:
            self.request_cancel("lost")
        except (api.ApiError, api.ApiUnavailable) as exc:
            logger.warning("task %s: progress not reported: %s", self.task_id, exc)

    async def _send_logs(self, batch: LogBatch) -> None:
        try:
            await self._client.append_logs(self.worker_id, self.task_id, batch)
        except (api.Conflict, api.NotFound) as exc:
            self.request_cancel("lost")
            raise ShippingStopped(str(exc)) from exc
        except (api.BadRequest, api.Unauthorized, api.Forbidden) as exc:
            raise BatchRefused(str(exc)) from exc

    # -- collecting -----------------------------------------------------------------------------------

    async def _collect(self) -> str | None:
        """Upload every output file; the first upload error, or ``None`` when all went up.

        ``collecting`` is reported only when there is something to upload (users see the uploads); a
        task with no outputs goes from ``running`` straight to its end report. Names that had to be
        escaped or skipped are told in the task's log and its final message either way.
        """
        if nothing_to_collect(self._dirs.output):
            return None  # no thread, no walk for the usual task that writes no outputs
        collected = await asyncio.to_thread(gather_outputs, self._dirs.output)
        outputs = collected.files
        for warning in collected.warnings:
            await self._output_warning(warning)
        if not outputs:
            return None
        await self._report(status=ReportedStatus.collecting, message=f"uploading {len(outputs)} artifact(s)")
        first_error: str | None = None
        for output in outputs:
            try:
                await self._client.upload_artifact(
                    self.worker_id,
                    self.task_id,
                    path=output.path,
                    sha256=output.sha256,
                    file=output.absolute,
                    size=output.size,
                )
            except (api.Conflict, api.NotFound) as exc:
                raise TaskLost(str(exc)) from exc
            except api.BadRequest as exc:
                # A name (or file) the server refuses is that file's problem, not the task's: the command
                # succeeded, so the task does too, and the log and message say what was left out.
                await self._output_warning(f"output {output.path!r} not uploaded: {exc}")
            except (api.ApiError, api.ApiUnavailable, OSError) as exc:
                logger.warning("task %s: artifact %s not uploaded: %s", self.task_id, output.path, exc)
                first_error = first_error or f"{output.path}: {exc}"
        return first_error

    async def _output_warning(self, warning: str) -> None:
        """One renamed or skipped output: the worker's log, the task's log, and (at the end) its message."""
        logger.warning("task %s: %s", self.task_id, warning)
        self._output_warnings.append(warning)
        if self._shipper is not None:
            await self._shipper.note(f"[runplane] {self._masker.mask(warning)}")

    # -- talking to the API ---------------------------------------------------------------------------

    async def _report(
        self,
        *,
        status: ReportedStatus | None = None,
        progress: float | None = None,
        message: str | None = None,
        failure_reason: FailureReason | None = None,
        exit_code: int | None = None,
        service_url: str | None = None,
    ) -> TaskReportReply:
        run_seconds = None
        if status is not None and self._unreported_start is not None:
            # This report says the process started: how long it has run, by this host's monotonic clock.
            run_seconds = round(max(0.0, asyncio.get_running_loop().time() - self._unreported_start), 6)
        report = TaskReport(
            attempt=self.assignment.attempt,
            run_seconds=run_seconds,
            status=status,
            progress=progress,
            message=_truncate(message) if message is not None else None,
            failure_reason=failure_reason,
            exit_code=exit_code,
            service_url=service_url,
        )
        try:
            if status in _FINAL and self._deliver_final is not None:
                reply = await self._deliver_final(self, report)
            else:
                reply = await self._client.report(self.worker_id, self.task_id, report)
        except (api.Conflict, api.NotFound) as exc:
            raise TaskLost(str(exc)) from exc
        if run_seconds is not None:
            self._unreported_start = None
        if reply.cancel_requested and status not in _FINAL:
            self.request_cancel("requested")
        return reply


_FINAL = frozenset({ReportedStatus.completed, ReportedStatus.failed, ReportedStatus.cancelled})
