"""Code snapshots: gzip-compressed tar archives users upload and workers extract into a task's workdir.

An upload is streamed to a temporary file, checked member by member with the same rules the worker applies
when it extracts (:func:`runplane.worker.snapshot.validate_snapshot_archive`), and only then moved into
place and recorded. An archive with one unsafe member stores nothing.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
import tarfile
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from runplane.errors import BadRequest, NotFound, PayloadTooLarge, ValidationFailed
from runplane.security import Principal
from runplane.storage import Storage, UploadTooLarge, commit, discard, receive
from runplane.store.snapshots import SnapshotStore
from runplane.store.tables import SnapshotRow, utcnow
from runplane.worker.snapshot import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_UNPACKED_BYTES,
    ArchiveTooLarge,
    InvalidArchiveError,
    UnsafeArchiveError,
    validate_snapshot_archive,
)

_MAX_NAME_IN_MESSAGE = 200


@dataclass(frozen=True)
class SnapshotFile:
    row: SnapshotRow
    path: Path
    stat: os.stat_result


def _file_list_path(archive: Path) -> Path:
    """Where the list of a snapshot's file names is kept: beside its archive."""
    return archive.with_name(archive.name.removesuffix(".tar.gz") + ".files.json")


def _file_names(archive: Path) -> list[str]:
    # Runs after validation: the archive opens and every member is safe.
    with tarfile.open(archive, mode="r:gz") as tar:
        return sorted(
            posixpath.normpath(member.name)
            for member in tar
            if member.isfile() or member.issym() or member.islnk()
        )


def _write_file_list(path: Path, names: list[str]) -> None:
    path.write_text(json.dumps(names))


def _shorten(name: str) -> str:
    return name if len(name) <= _MAX_NAME_IN_MESSAGE else name[: _MAX_NAME_IN_MESSAGE - 1] + "…"


class SnapshotManager:
    def __init__(
        self,
        store: SnapshotStore,
        storage: Storage,
        *,
        max_upload_bytes: int,
        max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
        max_members: int = DEFAULT_MAX_MEMBERS,
    ) -> None:
        """``max_unpacked_bytes`` / ``max_members``: what an uploaded archive may unpack to (the sum of its
        regular members' sizes from their tar headers, and its member count); past either, 422."""
        self.store = store
        self.storage = storage
        self.max_upload_bytes = max_upload_bytes
        self.max_unpacked_bytes = max_unpacked_bytes
        self.max_members = max_members

    async def upload(self, principal: Principal, chunks: AsyncIterable[bytes]) -> SnapshotRow:
        snapshot_id = uuid.uuid4().hex
        final = self.storage.snapshot_file(snapshot_id)
        try:
            received = await receive(final.parent, chunks, max_bytes=self.max_upload_bytes)
        except UploadTooLarge as exc:
            raise PayloadTooLarge(
                f"Request body exceeds {exc.limit} bytes", details={"limit_bytes": exc.limit}
            ) from None
        try:
            await anyio.to_thread.run_sync(self._validate, received.temp)
            files = await anyio.to_thread.run_sync(_file_names, received.temp)
            row = SnapshotRow(
                id=snapshot_id,
                user_id=principal.user_id,
                size=received.size,
                sha256=received.sha256,
                created_at=utcnow(),
            )
            await anyio.to_thread.run_sync(_write_file_list, _file_list_path(final), files)
            await commit(received.temp, final)
        except BaseException:
            await discard(received.temp)
            await discard(_file_list_path(final))
            raise
        try:
            await self.store.insert(row)
        except BaseException:
            await discard(final)
            await discard(_file_list_path(final))
            raise
        return row

    async def file_names(self, snapshot_id: str) -> frozenset[str] | None:
        """The paths of the files (and links) in the snapshot, normalized (no ``./``); None when unknown
        (a snapshot stored before file lists were kept, or an unreadable list)."""
        path = _file_list_path(self.storage.snapshot_file(snapshot_id))
        try:
            names = json.loads(await anyio.to_thread.run_sync(path.read_bytes))
        except (OSError, ValueError):
            return None
        return frozenset(names) if isinstance(names, list) else None

    def _validate(self, archive: Path) -> None:
        try:
            validate_snapshot_archive(
                archive,
                max_members=self.max_members,
                max_total_bytes=self.max_unpacked_bytes,
            )
        except InvalidArchiveError:
            raise BadRequest(
                "The snapshot is not a valid gzip-compressed tar archive", details={"field": "body"}
            ) from None
        except ArchiveTooLarge as exc:
            raise PayloadTooLarge(
                f"The snapshot archive is refused: it {exc.why}",
                details={"field": "body", "reason": exc.why, f"limit_{exc.unit}": exc.limit},
            ) from None
        except UnsafeArchiveError as exc:
            if exc.member == archive.name:  # a limit on the archive as a whole, not one member
                raise ValidationFailed(
                    f"The snapshot archive is refused: {exc.why}",
                    details={"field": "body", "reason": exc.why},
                ) from None
            member = _shorten(exc.member)
            raise ValidationFailed(
                f"Unsafe archive member {member!r}: {exc.why}",
                details={"field": "body", "member": member, "reason": exc.why},
            ) from None

    async def visible(self, principal: Principal, snapshot_id: str) -> SnapshotRow:
        """The snapshot, for its owner and admins; 404 for everyone else."""
        row = await self.store.get(snapshot_id)
        if row is None or (not principal.is_admin and row.user_id != principal.user_id):
            raise NotFound("Snapshot not found", details={"snapshot_id": snapshot_id})
        return row

    async def content(self, principal: Principal, snapshot_id: str) -> SnapshotFile:
        """The snapshot and its file, for its owner, admins, and the workers of a worker key while one of
        them runs (prepares) a task from it; 404 for everyone else."""
        if principal.role == "worker":
            row = await self.store.get(snapshot_id)
            if row is None or not await self.store.needed_by_workers_of(snapshot_id, principal.user_id):
                raise NotFound("Snapshot not found", details={"snapshot_id": snapshot_id})
        else:
            row = await self.visible(principal, snapshot_id)
        file = self.storage.snapshot_file(row.id)
        try:
            info = await anyio.to_thread.run_sync(os.stat, file)
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise NotFound("Snapshot not found", details={"snapshot_id": snapshot_id})
        return SnapshotFile(row=row, path=file, stat=info)
