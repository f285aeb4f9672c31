"""Task logs: one append-only text file per task attempt, secret values masked before anything is written.

Workers send the lines a task printed (already masked on their side); the server masks them again with the
task's own secret values, so a worker that forgot cannot leak them. Readers get the whole log, its last N
lines (found by reading backwards from the end, never the whole file), or follow it: new text as it is
appended, until the task has ended.

Each attempt of a task (and each rank of a multi-node task) has its own file
(`runplane.storage.Storage.log_file`): a retried task's earlier
attempts stay readable as they were. Appending is idempotent. Each batch names its attempt and the index
of its first line within that attempt's output; beside the log a small ``.idx`` file records how many
lines and how many bytes of the log are stored. A batch sent again (the worker never saw the answer) skips the lines
already stored; a batch that starts past the stored count (the worker gave up on some lines) gets a marker
line first, so a gap is visible in the log and never silent. Appends hold an exclusive ``flock`` on the log
file, so batches from several server processes are stored whole and counted exactly; the index is replaced
atomically (write, then rename) after the append, and bytes past the recorded size (an append that a crash
cut off before the index was written) are cut away before the next append, so a retried batch is neither
lost nor stored twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
import anyio.to_thread

from runplane.storage import Storage
from runplane.store.tables import TaskRow
from runplane.worker.masking import SecretMasker

CHUNK_BYTES = 64 * 1024
_NEWLINE = b"\n"


def _as_line(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2] + "\n"
    return text if text.endswith("\n") else text + "\n"


def gap_marker(first_missing: int, count: int) -> str:
    """The line stored in place of ``count`` lines (from index ``first_missing``) that never arrived."""
    return (
        f"[runplane] {count} line(s) of output (lines {first_missing + 1}-{first_missing + count} of this "
        "attempt) were not delivered by the worker\n"
    )


@dataclass(frozen=True)
class AppendResult:
    """What one batch changed: lines written (the gap marker not counted), lines skipped as already
    stored, lines missing before the batch (a gap), and bytes written."""

    written: int
    skipped: int
    missing: int
    bytes: int


@dataclass(frozen=True)
class _Index:
    attempt: int
    lines: int
    bytes: int


def _index_path(path: Path) -> Path:
    return path.with_name(path.name + ".idx")


def _read_index(path: Path) -> _Index | None:
    try:
        data = json.loads(_index_path(path).read_text())
        return _Index(int(data["attempt"]), int(data["lines"]), int(data["bytes"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _write_index(path: Path, index: _Index) -> None:
    target = _index_path(path)
    temporary = target.with_name(target.name + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"attempt": index.attempt, "lines": index.lines, "bytes": index.bytes}))
    os.replace(temporary, target)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _append_batch(
    path: Path, *, attempt: int, first_line: int, lines: Sequence[bytes], gap: Callable[[int, int], bytes]
) -> AppendResult:
    """Append the lines of ``lines`` not stored yet, under an exclusive lock on the log file."""
    os.makedirs(path.parent, exist_ok=True)
    # O_APPEND: each batch lands whole at the end, even with several server processes writing.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        index = _read_index(path)
        if index is not None and size > index.bytes:
            # An append that a crash cut off before its index was written: it is sent again.
            os.ftruncate(fd, index.bytes)
            size = index.bytes
        stored = index.lines if index is not None and index.attempt == attempt else 0
        if index is not None and index.attempt > attempt:
            # A late batch of an earlier attempt (the caller checks the attempt too): never mix it in.
            return AppendResult(written=0, skipped=len(lines), missing=0, bytes=0)
        skip = min(len(lines), max(0, stored - first_line))
        missing = max(0, first_line - stored)
        data = (gap(stored, missing) if missing else b"") + b"".join(lines[skip:])
        if data:
            _write_all(fd, data)
        end = max(stored, first_line + len(lines))
        _write_index(path, _Index(attempt, end, size + len(data)))
        return AppendResult(written=len(lines) - skip, skipped=skip, missing=missing, bytes=len(data))
    finally:
        os.close(fd)  # releases the lock


def _size(path: os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _tail_offset(path: os.PathLike[str], lines: int) -> int:
    """The byte offset where the last ``lines`` lines of the file begin, reading backwards block by block."""
    try:
        with open(path, "rb") as fh:
            return _scan_back(fh, lines)
    except FileNotFoundError:
        return 0


def _scan_back(fh: BinaryIO, lines: int, block: int = CHUNK_BYTES) -> int:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return 0
    end = size
    fh.seek(size - 1)
    if fh.read(1) == _NEWLINE:
        end -= 1  # the final newline ends the last line; it does not start another
    seen = 0
    position = end
    while position > 0:
        step = min(block, position)
        position -= step
        fh.seek(position)
        data = fh.read(step)
        index = len(data)
        while (index := data.rfind(_NEWLINE, 0, index)) >= 0:
            seen += 1
            if seen == lines:
                return position + index + 1
    return 0


def _read(path: os.PathLike[str], start: int, end: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read(max(0, min(end - start, CHUNK_BYTES)))
    except FileNotFoundError:
        return b""


class LogStore:
    def __init__(
        self, storage: Storage, *, poll_interval: float = 0.2, follow_limit_seconds: float = 24 * 3600
    ) -> None:
        self.storage = storage
        self.poll_interval = poll_interval
        self.follow_limit_seconds = follow_limit_seconds

    async def append(
        self, row: TaskRow, texts: Sequence[str], *, attempt: int, first_line: int, rank: int = 0
    ) -> AppendResult:
        """Append a batch of lines to the task's log, masked with its secret values.

        ``attempt`` is the attempt the lines belong to and ``first_line`` the index (from 0) of the first
        of them in that attempt's output: lines already stored are skipped (so a batch sent twice is
        stored once), and lines missing before the batch are replaced by a marker line.
        """
        masker = SecretMasker(str(value) for value in (row.secrets or {}).values())
        encoded = [masker.mask(_as_line(text)).encode("utf-8", "replace") for text in texts]

        def gap(start: int, count: int) -> bytes:
            return gap_marker(start, count).encode()

        return await anyio.to_thread.run_sync(
            lambda: _append_batch(
                Path(self.storage.log_file(row.id, attempt, rank)),
                attempt=attempt,
                first_line=first_line,
                lines=encoded,
                gap=gap,
            )
        )

    async def size(self, task_id: str, attempt: int = 1, rank: int = 0) -> int:
        return await anyio.to_thread.run_sync(_size, self.storage.log_file(task_id, attempt, rank))

    async def start_offset(self, task_id: str, tail: int | None, attempt: int = 1, rank: int = 0) -> int:
        if tail is None:
            return 0
        path = self.storage.log_file(task_id, attempt, rank)
        return await anyio.to_thread.run_sync(_tail_offset, path, tail)

    async def chunks(
        self, task_id: str, start: int, end: int, attempt: int = 1, rank: int = 0
    ) -> AsyncIterator[bytes]:
        """The bytes of the attempt's (rank's) log from ``start`` to ``end``, in bounded chunks."""
        path = self.storage.log_file(task_id, attempt, rank)
        while start < end:
            data = await anyio.to_thread.run_sync(_read, path, start, end)
            if not data:
                return
            start += len(data)
            yield data

    async def read(
        self, task_id: str, *, tail: int | None = None, attempt: int = 1, rank: int = 0
    ) -> AsyncIterator[bytes]:
        """The attempt's (rank's) log as it is now (its last ``tail`` lines if given)."""
        start = await self.start_offset(task_id, tail, attempt, rank)
        end = await self.size(task_id, attempt, rank)
        async for chunk in self.chunks(task_id, start, end, attempt, rank):
            yield chunk

    async def follow(
        self,
        task_id: str,
        *,
        tail: int | None,
        finished: Callable[[], Awaitable[bool]],
        attempt: int = 1,
        rank: int = 0,
    ) -> AsyncIterator[bytes]:
        """The log (or its last ``tail`` lines), then new text as it arrives, until ``finished()`` says so.

        ``finished`` is asked before each look at the file, so whatever was appended before the task ended
        is still sent. Following stops after ``follow_limit_seconds`` in any case (the server's
        `stream_max_seconds`): the client asks again with `tail`, as it would after any dropped connection.
        """
        offset = await self.start_offset(task_id, tail, attempt, rank)
        deadline = time.monotonic() + self.follow_limit_seconds
        while True:
            done = await finished()
            end = await self.size(task_id, attempt, rank)
            async for chunk in self.chunks(task_id, offset, end, attempt, rank):
                offset += len(chunk)
                yield chunk
            if done or time.monotonic() >= deadline:
                return
            await anyio.sleep(self.poll_interval)
