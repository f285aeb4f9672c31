"""A task's artifacts: the files it wrote into its output directory (uploaded by its worker), and run.json.

Each artifact is a file under its task attempt's directory (``artifacts/<task_id>/`` for the first attempt,
see `runplane.storage.Storage.artifacts_dir`) and a row (attempt, path, size, sha256, content type). The row
is what makes a path downloadable: a download names a path, the path must be safe (see
:mod:`runplane.storage`), it must be a registered artifact of the task, and the file it resolves to must
still be inside the task's directory and a regular file. Anything else is 400 or 404, never bytes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from runplane.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from runplane.storage import (
    Storage,
    UnsafePathError,
    UploadTooLarge,
    check_artifact_name,
    commit,
    decode_artifact_path,
    discard,
    receive,
    write_atomic,
    write_many_atomic,
)
from runplane.store.artifacts import ArtifactStore
from runplane.store.database import Transaction
from runplane.store.tables import ArtifactRow, utcnow
from runplane.worker.outputs import content_type_for


@dataclass(frozen=True)
class ArtifactFile:
    """A registered artifact and the file that holds it, checked and ready to serve."""

    row: ArtifactRow
    path: Path
    stat: os.stat_result


def _unsafe(exc: UnsafePathError, field: str, location: str) -> ValidationFailed:
    return ValidationFailed(
        f"Unsafe artifact path: it {exc.why}", details={"field": field, "in": location, "reason": exc.why}
    )


class ArtifactManager:
    def __init__(self, store: ArtifactStore, storage: Storage, *, max_upload_bytes: int) -> None:
        self.store = store
        self.storage = storage
        self.max_upload_bytes = max_upload_bytes

    async def list(self, task_id: str, attempt: int = 1) -> Sequence[ArtifactRow]:
        """The artifacts of the task's attempt ``attempt``, by path."""
        return await self.store.for_task(task_id, attempt)

    async def locate(self, task_id: str, raw_path: str, attempt: int = 1) -> ArtifactFile:
        """The artifact a download names (exactly as stored: the HTTP layer has decoded the URL once and
        nothing decodes it again). 400 for an unsafe path, 404 for anything not served."""
        try:
            path = check_artifact_name(raw_path)
        except UnsafePathError as exc:
            raise _unsafe(exc, "artifactPath", "path") from None
        row = await self.store.get(task_id, path, attempt)
        if row is None:
            raise NotFound("Artifact not found", details={"task_id": task_id, "path": path})
        try:
            file = self.storage.artifact_file(task_id, path, attempt)
        except UnsafePathError as exc:
            raise _unsafe(exc, "artifactPath", "path") from None
        try:
            info = await anyio.to_thread.run_sync(os.stat, file)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise NotFound("Artifact not found", details={"task_id": task_id, "path": path})
        return ArtifactFile(row=row, path=file, stat=info)

    async def read_bytes(self, task_id: str, path: str, *, max_bytes: int, attempt: int = 1) -> bytes | None:
        """The content of a registered artifact (None if it has none); ValueError when over ``max_bytes``."""
        try:
            found = await self.locate(task_id, path, attempt)
        except NotFound:
            return None
        if found.stat.st_size > max_bytes:
            raise ValueError(f"{path} is {found.stat.st_size} bytes, more than {max_bytes}")
        return await anyio.to_thread.run_sync(found.path.read_bytes)

    async def read_many(self, attempts: Mapping[str, int], path: str, *, max_bytes: int) -> dict[str, bytes]:
        """The content of artifact `path` of each task in `attempts` (task id → attempt) that registered
        one of at most ``max_bytes``: task id → bytes. One query for all of them and one thread to read
        the files; a task without that artifact, or with a larger or missing file, is left out. Raises
        `UnsafePathError` for an unsafe `path` (a caller's constant, never a client's)."""
        name = check_artifact_name(path)
        registered = await self.store.registered(attempts, name)
        if not registered:
            return {}
        files = {
            task_id: self.storage.artifact_file(task_id, name, attempts[task_id]) for task_id in registered
        }
        return await anyio.to_thread.run_sync(_read_files, files, max_bytes)

    async def upload(
        self,
        task_id: str,
        raw_path: str,
        expected_sha256: str,
        chunks: AsyncIterable[bytes],
        *,
        attempt: int = 1,
    ) -> ArtifactRow:
        """Store one uploaded file: safe path, sha256 checked, moved into place atomically, row upserted.

        ``raw_path`` is the wire form: each segment percent-encoded by the worker, decoded here exactly once
        (:func:`runplane.storage.decode_artifact_path`); the decoded name is the one checked, stored and
        served.
        """
        try:
            path = decode_artifact_path(raw_path)
            final = self.storage.artifact_file(task_id, path, attempt)
        except UnsafePathError as exc:
            raise _unsafe(exc, "path", "query") from None
        try:
            received = await receive(final.parent, chunks, max_bytes=self.max_upload_bytes)
        except (NotADirectoryError, FileExistsError):
            raise self._collision(path) from None
        except UploadTooLarge as exc:
            raise PayloadTooLarge(
                f"Request body exceeds {exc.limit} bytes", details={"limit_bytes": exc.limit}
            ) from None
        if received.sha256 != expected_sha256:
            await discard(received.temp)
            raise ValidationFailed(
                "The uploaded bytes do not match the given sha256",
                details={
                    "field": "sha256",
                    "in": "query",
                    "expected": expected_sha256,
                    "actual": received.sha256,
                },
            )
        try:
            await commit(received.temp, final)
        except (IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError):
            await discard(received.temp)
            raise self._collision(path) from None
        return await self.store.upsert(
            task_id=task_id,
            attempt=attempt,
            path=path,
            size=received.size,
            sha256=received.sha256,
            content_type=content_type_for(path),
            created_at=utcnow(),
        )

    async def put_bytes(self, task_id: str, path: str, data: bytes, *, attempt: int = 1) -> ArtifactRow:
        """Write an artifact the server produces itself (run.json), atomically, and register it: the file
        first, then its row, so a row never names a missing file.
        OSError when the file cannot be written (nothing registered then)."""
        final = self.storage.artifact_file(task_id, check_artifact_name(path), attempt)
        sha256 = await write_atomic(final, data)
        return await self.store.upsert(
            task_id=task_id,
            attempt=attempt,
            path=path,
            size=len(data),
            sha256=sha256,
            content_type=content_type_for(path),
            created_at=utcnow(),
        )

    async def put_many(self, files: Sequence[tuple[str, str, bytes, int]], *, within: Transaction) -> None:
        """`put_bytes` for several files the server produces (`(task_id, path, data, attempt)` each): all
        files first, in one worker thread, then their rows in the transaction `within`, in one statement.
        OSError when a file cannot be written (nothing registered then)."""
        if not files:
            return
        finals = [
            self.storage.artifact_file(task_id, check_artifact_name(path), attempt)
            for task_id, path, _, attempt in files
        ]
        hashes = await write_many_atomic(
            [(final, data) for final, (_, _, data, _) in zip(finals, files, strict=True)]
        )
        now = utcnow()
        await self.store.upsert_many(
            [
                {
                    "task_id": task_id,
                    "attempt": attempt,
                    "path": path,
                    "size": len(data),
                    "sha256": sha256,
                    "content_type": content_type_for(path),
                    "created_at": now,
                }
                for (task_id, path, data, attempt), sha256 in zip(files, hashes, strict=True)
            ],
            within=within,
        )

    @staticmethod
    def _collision(path: str) -> Conflict:
        return Conflict(
            "The artifact path collides with another artifact (a file where a folder is needed, or the reverse)",
            details={"path": path},
        )


def _read_files(files: Mapping[str, Path], max_bytes: int) -> dict[str, bytes]:
    """`ArtifactManager.read_many`'s reads, in its worker thread: each regular file of at most
    `max_bytes`, by key; others are left out."""
    read: dict[str, bytes] = {}
    for key, file in files.items():
        try:
            info = os.stat(file)
            if stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
                read[key] = file.read_bytes()
        except OSError:
            continue
    return read
