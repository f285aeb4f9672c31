"""Task logs: one append-only text file per task, secret values masked before anything is written.

Workers send the lines a task printed (already masked on their side); the server masks them again with the
task's own secret values, so a worker that forgot cannot leak them. Readers get the whole log, its last N
lines (found by reading backwards from the end, never the whole file), or follow it: new text as it is
appended, until the task has ended.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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


def _append(path: os.PathLike[str], data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # O_APPEND: each batch lands whole at the end, even with several server processes writing.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


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

    async def append(self, row: TaskRow, texts: Sequence[str]) -> int:
        """Append lines to the task's log, masked with its secret values; returns the bytes written."""
        masker = SecretMasker(str(value) for value in (row.secrets or {}).values())
        data = "".join(masker.mask(_as_line(text)) for text in texts).encode("utf-8", "replace")
        if data:
            await anyio.to_thread.run_sync(_append, self.storage.log_file(row.id), data)
        return len(data)

    async def size(self, task_id: str) -> int:
        return await anyio.to_thread.run_sync(_size, self.storage.log_file(task_id))

    async def start_offset(self, task_id: str, tail: int | None) -> int:
        if tail is None:
            return 0
        return await anyio.to_thread.run_sync(_tail_offset, self.storage.log_file(task_id), tail)

    async def chunks(self, task_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes from ``start`` to ``end``, in bounded chunks."""
        path = self.storage.log_file(task_id)
        while start < end:
            data = await anyio.to_thread.run_sync(_read, path, start, end)
            if not data:
                return
            start += len(data)
            yield data

    async def read(self, task_id: str, *, tail: int | None = None) -> AsyncIterator[bytes]:
        """The log as it is now (its last ``tail`` lines if given)."""
        start = await self.start_offset(task_id, tail)
        end = await self.size(task_id)
        async for chunk in self.chunks(task_id, start, end):
            yield chunk

    async def follow(
        self, task_id: str, *, tail: int | None, finished: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[bytes]:
        """The log (or its last ``tail`` lines), then new text as it arrives, until ``finished()`` says so.

        ``finished`` is asked before each look at the file, so whatever was appended before the task ended
        is still sent. Following stops after ``follow_limit_seconds`` in any case (the server's
        `stream_max_seconds`): the client asks again with `tail`, as it would after any dropped connection.
        """
        offset = await self.start_offset(task_id, tail)
        deadline = time.monotonic() + self.follow_limit_seconds
        while True:
            done = await finished()
            end = await self.size(task_id)
            async for chunk in self.chunks(task_id, offset, end):
                offset += len(chunk)
                yield chunk
            if done or time.monotonic() >= deadline:
                return
            await anyio.sleep(self.poll_interval)
