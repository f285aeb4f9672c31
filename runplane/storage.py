"""The server's files under the data directory, and the one way a client-supplied path becomes a real one.

Layout (all under ``settings.resolved_data_dir``)::

    snapshots/<snapshot_id>.tar.gz      uploaded code snapshots
    artifacts/<task_id>/<path>          the files a task's first attempt wrote into its output directory,
                                        plus run.json
    artifacts/<task_id>.attempt-N/...   the same for its attempt N > 1 (a retry)
    logs/<task_id>.log                  the first attempt's stdout and stderr, secret values masked
    logs/<task_id>.attempt-N.log        attempt N's (N > 1)

Every path a client names (an artifact's path) goes through :func:`clean_relative_path` and
:func:`safe_join`, which refuse anything that could name a file outside its base directory. Files are
written to a temporary file in the destination's own directory and moved into place with ``os.replace``,
so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

import anyio
import anyio.to_thread

MAX_PATH_CHARS = 1024
# Most file systems refuse longer names (NAME_MAX); refusing them here gives a clear 400, not an OSError.
MAX_SEGMENT_BYTES = 255
# "%252e%252e" is ".." after two rounds of decoding; a path still changing after this many is refused.
_MAX_DECODE_ROUNDS = 4
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DRIVE = re.compile(r"^[A-Za-z]:$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
TEMP_PREFIX = ".rp-upload-"


class UnsafePathError(ValueError):
    """A client-supplied path that could leave its base directory, or is not a plain relative path."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"unsafe path {path!r}: {why}")
        self.path = path
        self.why = why


class UploadTooLarge(Exception):
    """An upload stream went past the byte limit it was received under."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload exceeds {limit} bytes")
        self.limit = limit


def _check_form(original: str, candidate: str) -> None:
    if "\x00" in candidate:
        raise UnsafePathError(original, "contains a NUL byte")
    if _CONTROL.search(candidate):
        raise UnsafePathError(original, "contains a control character")
    if candidate.startswith("/"):
        raise UnsafePathError(original, "is absolute")
    segments = candidate.split("/")
    if _DRIVE.match(segments[0]):
        raise UnsafePathError(original, "starts with a drive letter")
    for segment in segments:
        if segment == "":
            raise UnsafePathError(original, "has an empty segment")
        if segment == "..":
            raise UnsafePathError(original, "contains '..'")
        if segment == ".":
            raise UnsafePathError(original, "contains '.'")


def clean_relative_path(raw: str) -> str:
    """The canonical form (``a/b/c``, ``/`` separators) of a client-supplied relative path.

    Raises :class:`UnsafePathError` for an empty or over-long path, NUL bytes and control characters,
    absolute paths (``/x``, ``C:/x``), and ``..``, ``.`` or empty segments, whether they appear as written,
    after backslashes are read as separators, or after any number of rounds of percent-decoding.
    """
    if not raw:
        raise UnsafePathError(raw, "is empty")
    if len(raw) > MAX_PATH_CHARS:
        raise UnsafePathError(raw[:64] + "…", f"is longer than {MAX_PATH_CHARS} characters")
    normalized = raw.replace("\\", "/")
    candidate = normalized
    for _ in range(_MAX_DECODE_ROUNDS):
        _check_form(raw, candidate)
        decoded = unquote(candidate, errors="replace").replace("\\", "/")
        if decoded == candidate:
            break
        candidate = decoded
    else:
        raise UnsafePathError(raw, "has too many levels of percent-encoding")
    _check_segment_lengths(raw, normalized)
    return normalized


def _check_segment_lengths(raw: str, name: str) -> None:
    """Raises UnsafePathError (naming `raw`) when a ``/``-separated segment of `name` is longer than
    :data:`MAX_SEGMENT_BYTES` in UTF-8 (what file systems allow a name)."""
    for segment in name.split("/"):
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise UnsafePathError(raw, f"has a name longer than {MAX_SEGMENT_BYTES} bytes")


def check_artifact_name(name: str) -> str:
    """``name`` itself if it is a safe artifact name, exactly as it will be stored; no decoding at all.

    An artifact name is ``/``-separated segments. Refused (:class:`UnsafePathError`): an empty or over-long
    name, NUL bytes, control characters, absolute names, drive letters, ``..``, ``.`` or empty segments
    (backslashes read as separators for these checks, so ``..\\x`` is refused as ``..``), any remaining
    backslash (a Windows client would read it as a separator, so ``a\\b`` and ``a/b`` could be confused),
    and segments longer than :data:`MAX_SEGMENT_BYTES`. Percent signs are ordinary characters here: the name
    checked is the name stored and the name served (the fault this replaced checked a decoded name but
    stored the undecoded one).
    """
    if not name:
        raise UnsafePathError(name, "is empty")
    if len(name) > MAX_PATH_CHARS:
        raise UnsafePathError(name[:64] + "…", f"is longer than {MAX_PATH_CHARS} characters")
    _check_form(name, name.replace("\\", "/"))
    if "\\" in name:
        raise UnsafePathError(name, "contains a backslash")
    _check_segment_lengths(name, name)
    return name


def decode_artifact_path(wire: str) -> str:
    """The artifact name a worker sent as ``path``: each ``/``-separated segment percent-decoded once.

    The worker percent-encodes every segment of the file's path (see
    :func:`runplane.worker.outputs.encode_artifact_path`), so a file literally named ``a%2fb`` arrives as
    ``a%252fb`` and is stored as ``a%2fb``. The decoded name goes through :func:`check_artifact_name` and
    is returned; a segment that decodes to something holding ``/`` or to bytes that are not UTF-8 is refused
    (:class:`UnsafePathError`), as is anything :func:`check_artifact_name` refuses.
    """
    if not wire:
        raise UnsafePathError(wire, "is empty")
    if len(wire) > 3 * MAX_PATH_CHARS:
        raise UnsafePathError(wire[:64] + "…", f"is longer than {MAX_PATH_CHARS} characters")
    segments = []
    for part in wire.split("/"):
        try:
            segment = unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafePathError(wire, "is not UTF-8 once decoded") from None
        if "/" in segment:
            raise UnsafePathError(wire, "has a '/' inside a segment")
        segments.append(segment)
    return check_artifact_name("/".join(segments))


def safe_join(base: Path, relative: str, *, check: Callable[[str], str] = clean_relative_path) -> Path:
    """``base / relative`` resolved, after ``check`` (:func:`clean_relative_path` unless given); refuses
    symlinks that lead out.

    The result is the fully resolved path (symlinks that exist are followed) and is always inside
    ``base`` resolved, or :class:`UnsafePathError` is raised.
    """
    cleaned = check(relative)
    root = base.resolve()
    resolved = root.joinpath(*cleaned.split("/")).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(relative, "leads outside its directory through a symlink")
    return resolved


def check_id(value: str) -> str:
    """An id used as a file or directory name: letters, digits, ``_`` and ``-`` only."""
    if not _ID.match(value):
        raise ValueError(f"not a valid id: {value!r}")
    return value


@dataclass(frozen=True)
class Received:
    """An upload written to a temporary file next to its destination, not yet moved into place."""

    temp: Path
    size: int
    sha256: str


async def receive(directory: Path, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> Received:
    """Write ``chunks`` to a new temporary file in ``directory`` (created if needed), hashing as it goes.

    The temporary file is removed if anything goes wrong (a broken stream, :class:`UploadTooLarge`).
    """
    await anyio.to_thread.run_sync(lambda: directory.mkdir(parents=True, exist_ok=True))
    fd, name = await anyio.to_thread.run_sync(
        lambda: tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=".part")
    )
    temp = Path(name)
    hasher = hashlib.sha256()
    size = 0
    try:
        async with anyio.wrap_file(os.fdopen(fd, "wb")) as out:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                hasher.update(chunk)
                await out.write(chunk)
    except BaseException:
        await discard(temp)
        raise
    return Received(temp=temp, size=size, sha256=hasher.hexdigest())


async def commit(temp: Path, final: Path) -> None:
    """Move a finished temporary file onto its final name in one step (same directory: atomic)."""
    await anyio.to_thread.run_sync(os.replace, temp, final)


async def discard(temp: Path) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(lambda: temp.unlink(missing_ok=True))


async def write_atomic(final: Path, data: bytes) -> str:
    """Write ``data`` to ``final`` through a temporary file and ``os.replace``; returns its sha256.

    All in one worker thread (directory, temporary file, write, move): every task's end writes run.json
    this way, and a hop to a thread per step cost more CPU than the writing itself (issue 11).
    """
    return await anyio.to_thread.run_sync(_write_atomic, final, data)


async def write_many_atomic(files: Sequence[tuple[Path, bytes]]) -> list[str]:
    """`write_atomic` for several files in one worker thread (the run records of the tasks one claim
    ended); their sha256 in order. OSError from the first file that cannot be written (the ones before it
    are written)."""
    return await anyio.to_thread.run_sync(lambda: [_write_atomic(final, data) for final, data in files])


def _write_atomic(final: Path, data: bytes) -> str:
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=TEMP_PREFIX, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(name, final)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


class Storage:
    """Where each kind of file lives under the data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def snapshot_file(self, snapshot_id: str) -> Path:
        return self.snapshots_dir / f"{check_id(snapshot_id)}.tar.gz"

    def artifacts_dir(self, task_id: str, attempt: int = 1) -> Path:
        """A task attempt's artifacts: ``artifacts/<task_id>/`` for the first attempt (where every task's
        files lived before attempts were kept apart), ``artifacts/<task_id>.attempt-<N>/`` for a later one
        (``.`` is never part of an id, so these names cannot be another task's)."""
        suffix = "" if attempt == 1 else f".attempt-{_attempt(attempt)}"
        return self.root / "artifacts" / f"{check_id(task_id)}{suffix}"

    def artifact_file(self, task_id: str, relative: str, attempt: int = 1) -> Path:
        """Where the artifact ``relative`` of a task lives; :class:`UnsafePathError` for unsafe paths."""
        return safe_join(self.artifacts_dir(task_id, attempt), relative, check=check_artifact_name)

    def log_file(self, task_id: str, attempt: int = 1, rank: int = 0) -> Path:
        """A task attempt's log: ``logs/<task_id>.log`` for the first, ``logs/<task_id>.attempt-<N>.log``
        for a later one; a multi-node task's rank R > 0 writes ``<that name without .log>.rank-<R>.log``
        (rank 0 keeps the single-node name)."""
        suffix = "" if attempt == 1 else f".attempt-{_attempt(attempt)}"
        if rank:
            if not isinstance(rank, int) or rank < 0:
                raise ValueError(f"a rank is a non-negative integer, not {rank!r}")
            suffix += f".rank-{rank}"
        return self.logs_dir / f"{check_id(task_id)}{suffix}.log"


def _attempt(attempt: int) -> int:
    if not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"an attempt is a positive integer, not {attempt!r}")
    return attempt
