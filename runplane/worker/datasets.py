"""Fetch a task's datasets, verify them by sha256 and cache them by content.

A dataset is one file named by its sha256. The first fetch downloads it (from a local path, a ``file://``
URL or an http(s) URL) to a temporary file in the cache directory, verifies the digest and renames it to
``cache_dir/<sha256>`` atomically; later fetches of the same digest never touch the source again. The file
is then placed at its mount path inside the task's workdir, as a hardlink to the cached file when the
filesystem allows (no copy, whatever the size) or as a copy.

A hardlink shares the cached file's inode, so a task that wrote into its dataset in place would corrupt the
cache: cached files are read-only (``0o444``), and their size and mtime are recorded next to them
(``<sha256>.stamp``); a cached file that no longer matches its stamp is hashed again, and fetched again if
its content changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from runplane.workdir import mount_parts

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_CHUNK_BYTES = 1024 * 1024
_BACKDATE_NS = 60 * 10**9


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class DatasetError(Exception):
    """A dataset could not be fetched, verified or placed."""


@dataclass(frozen=True)
class DatasetSpec:
    """One input file of a task: where to get it, what its sha256 must be, and where the task finds it.

    ``mount_path`` is relative to the task's workdir; by default ``datasets/<name>``.
    """

    name: str
    source: str
    sha256: str
    mount_path: str | None = None


async def fetch_dataset(
    spec: DatasetSpec,
    *,
    cache_dir: Path,
    workdir: Path,
    http: httpx.AsyncClient,
    max_bytes: int | None = None,
) -> Path:
    """Make ``spec``'s verified content available in ``workdir`` and return its path there.

    ``http`` is used for http(s) sources only. The URL comes from whoever submitted the task, so the client
    must carry no credentials (no API key headers, no auth): they would be sent to that host. Redirects are
    followed. ``max_bytes`` bounds a download. Raises :class:`DatasetError` for a bad spec, an unreadable or
    unreachable source, a digest mismatch, or a mount path outside the workdir.
    """
    digest = spec.sha256.strip().lower()
    if not _SHA256_RE.fullmatch(digest):
        raise DatasetError(f"dataset {spec.name!r}: sha256 must be 64 hexadecimal characters")
    target = _mount_target(spec, workdir)
    await asyncio.to_thread(cache_dir.mkdir, parents=True, exist_ok=True)
    cached = cache_dir / digest
    if not await asyncio.to_thread(_cache_valid, cached, digest):
        await _fill_cache(spec, digest, cached, http, max_bytes)
    await asyncio.to_thread(_place, cached, target, workdir)
    return target


def _mount_target(spec: DatasetSpec, workdir: Path) -> Path:
    # The rule is shared with the server, which refuses such a task at submit (runplane.workdir).
    try:
        parts = mount_parts(spec.name, spec.mount_path)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    return workdir.joinpath(*parts)


# -- the cache --------------------------------------------------------------------------------------------


def _stamp_path(cached: Path) -> Path:
    return cached.with_name(cached.name + ".stamp")


def _stamp_of(cached: Path) -> dict[str, int]:
    st = cached.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(cached: Path) -> None:
    # Move mtime well into the past first: any later write sets it to "now", so the stamp tells it apart
    # even when that write lands within the filesystem's timestamp granularity of this moment.
    past = time.time_ns() - _BACKDATE_NS
    os.utime(cached, ns=(past, past))
    stamp = _stamp_path(cached)
    tmp = stamp.with_name(f".{stamp.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(_stamp_of(cached)))
    os.replace(tmp, stamp)


def _sha256_of(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            hasher.update(chunk)
    return hasher.hexdigest()


def _cache_valid(cached: Path, digest: str) -> bool:
    try:
        st = cached.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(f"cache entry {cached} is not a regular file")
    try:
        if json.loads(_stamp_path(cached).read_text()) == _stamp_of(cached):
            return True
    except (OSError, ValueError):
        pass  # no stamp (a crash between rename and stamp) or an unreadable one: verify the content instead
    if _sha256_of(cached) == digest:
        _write_stamp(cached)
        return True
    cached.unlink(missing_ok=True)
    _stamp_path(cached).unlink(missing_ok=True)
    return False


async def _fill_cache(
    spec: DatasetSpec, digest: str, cached: Path, http: httpx.AsyncClient, max_bytes: int | None
) -> None:
    # Two fetches of the same digest at once each write their own temporary file; the renames are atomic
    # and carry identical content, so the loser only wasted a download.
    fd, tmp_name = tempfile.mkstemp(dir=cached.parent, prefix=f".{digest}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            local = _local_source(spec)
            if local is None:
                actual = await _download(spec, out, http, max_bytes)
            else:
                actual = await asyncio.to_thread(_copy_local, spec, local, out, max_bytes)
            await asyncio.to_thread(_flush, out)
        if actual != digest:
            raise DatasetError(f"dataset {spec.name!r}: sha256 mismatch, expected {digest}, got {actual}")
        await asyncio.to_thread(_publish, tmp, cached)
    finally:
        await asyncio.to_thread(tmp.unlink, missing_ok=True)


def _flush(out: BinaryIO) -> None:
    out.flush()
    # The rename publishes the file: its data must be on disk first, or a crash could leave a cached file
    # of the right name with the wrong content.
    os.fsync(out.fileno())


def _publish(tmp: Path, cached: Path) -> None:
    tmp.chmod(0o444)
    tmp.replace(cached)
    _write_stamp(cached)


def _local_source(spec: DatasetSpec) -> Path | None:
    """The local file to read, or ``None`` for an http(s) source."""
    source = spec.source
    split = urlsplit(source)
    scheme = split.scheme.lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        if split.netloc not in ("", "localhost"):
            raise DatasetError(f"dataset {spec.name!r}: file URL {source!r} names a remote host")
        path = Path(url2pathname(split.path))
    elif scheme == "":
        path = Path(source)
    else:
        raise DatasetError(f"dataset {spec.name!r}: unsupported source scheme {split.scheme!r}")
    if not path.is_absolute():
        raise DatasetError(f"dataset {spec.name!r}: local source {source!r} must be an absolute path")
    return path


def _write_hashed(out: BinaryIO, hasher: _Hasher, data: bytes) -> None:
    hasher.update(data)
    out.write(data)


def _copy_local(spec: DatasetSpec, path: Path, out: BinaryIO, max_bytes: int | None) -> str:
    hasher = hashlib.sha256()
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer before fstat could refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DatasetError(f"dataset {spec.name!r}: source {path} is not a regular file")
        with os.fdopen(fd, "rb") as src:
            total = 0
            while chunk := src.read(_CHUNK_BYTES):
                total += len(chunk)
                _check_size(spec, total, max_bytes)
                _write_hashed(out, hasher, chunk)
    except OSError as exc:
        raise DatasetError(f"dataset {spec.name!r}: cannot read {path}: {exc.strerror or exc}") from exc
    return hasher.hexdigest()


def _check_size(spec: DatasetSpec, total: int, max_bytes: int | None) -> None:
    if max_bytes is not None and total > max_bytes:
        raise DatasetError(f"dataset {spec.name!r}: larger than the {max_bytes} bytes allowed")


async def _download(spec: DatasetSpec, out: BinaryIO, http: httpx.AsyncClient, max_bytes: int | None) -> str:
    hasher = hashlib.sha256()
    batch = bytearray()
    total = 0
    try:
        async with http.stream("GET", spec.source, follow_redirects=True) as response:
            if response.status_code != httpx.codes.OK:
                raise DatasetError(
                    f"dataset {spec.name!r}: {spec.source} answered HTTP {response.status_code}"
                )
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                _check_size(spec, total, max_bytes)
                batch += chunk
                if len(batch) >= _CHUNK_BYTES:
                    # Hash and write off the event loop, a batch at a time rather than per small chunk.
                    data, batch = bytes(batch), bytearray()
                    await asyncio.to_thread(_write_hashed, out, hasher, data)
    except httpx.HTTPError as exc:
        raise DatasetError(f"dataset {spec.name!r}: cannot download {spec.source}: {exc}") from exc
    if batch:
        await asyncio.to_thread(_write_hashed, out, hasher, bytes(batch))
    return hasher.hexdigest()


# -- placing into the workdir ---------------------------------------------------------------------------


def _place(cached: Path, target: Path, workdir: Path) -> None:
    root = workdir.resolve()
    # resolve() follows whatever symlinks already exist on the way (the snapshot may have brought some)
    # and keeps the rest as written; mount paths hold no "..", so that rest cannot climb out.
    if not target.parent.resolve().is_relative_to(root):
        raise DatasetError(f"mount path {target} leads outside the workdir {workdir}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        raise DatasetError(f"mount path {target} is an existing directory")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(cached, tmp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                raise
            # Another filesystem, or one without hardlinks: a copy it is.
            shutil.copyfile(cached, tmp)
        # Replacing (rather than writing into) whatever was there never writes through a symlink.
        tmp.replace(target)
    except OSError as exc:
        raise DatasetError(f"cannot place dataset at {target}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
