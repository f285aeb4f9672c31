"""Safe extraction of a task's code snapshot (a gzip-compressed tar archive).

Every member is checked before anything is written, so an archive with one unsafe member extracts nothing.
Refused: absolute names, ``..`` in a name, symlinks or hardlinks whose target (following the archive's own
symlinks the way the kernel would) leaves the destination, paths that reach outside through such links,
device files and FIFOs, and any other special member. Extraction then runs with tarfile's ``data`` filter
as a second line of defence (it also drops setuid/setgid bits and group/other write permission). The same
checks serve the API on upload through :func:`validate_snapshot_archive`.

Both also bound what an archive unpacks to (a 3 MB gzip can hold a 3 GB sparse file): the sum of the
regular members' sizes (read from their tar headers, as the headers are listed, so a bomb is refused at its
first oversized header without decompressing it) and the number of members. The limits are
``RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES`` (default 10 GiB) and ``RUNPLANE_SNAPSHOT_MAX_MEMBERS`` (default
100,000), the server's settings of the same names; the worker reads the same variables
(:func:`limits_from_env`) and checks again before extracting.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

DEFAULT_MAX_UNPACKED_BYTES = 10 * 1024**3
DEFAULT_MAX_MEMBERS = 100_000

# The kernel's own limit on symlinks followed while resolving one path (MAXSYMLINKS).
_MAX_SYMLINK_HOPS = 40


class UnsafeArchiveError(ValueError):
    """An archive the worker refuses to extract; ``member`` names the offending entry."""

    def __init__(self, member: str, why: str) -> None:
        super().__init__(f"refused archive member {member!r}: {why}")
        self.member = member
        self.why = why


class InvalidArchiveError(UnsafeArchiveError):
    """Not a readable gzip-compressed tar archive at all; ``member`` is the archive's file name."""


class ArchiveTooLarge(UnsafeArchiveError):
    """An archive past an unpacked-size or member-count limit; ``limit`` is the limit it went past and
    ``unit`` says which ("bytes" or "members")."""

    def __init__(self, archive: str, why: str, *, limit: int, unit: str) -> None:
        super().__init__(archive, why)
        self.limit = limit
        self.unit = unit


class _Escape(Exception):
    pass


def limits_from_env(environ: dict[str, str] | None = None) -> dict[str, int]:
    """``max_members`` and ``max_total_bytes`` from ``RUNPLANE_SNAPSHOT_MAX_MEMBERS`` and
    ``RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES`` (the defaults when unset; ValueError when not a positive
    integer), as keyword arguments for :func:`extract_snapshot`."""
    env = os.environ if environ is None else environ
    limits = {
        "max_members": env.get("RUNPLANE_SNAPSHOT_MAX_MEMBERS", str(DEFAULT_MAX_MEMBERS)),
        "max_total_bytes": env.get("RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES", str(DEFAULT_MAX_UNPACKED_BYTES)),
    }
    parsed = {key: int(value) for key, value in limits.items()}
    if any(value < 1 for value in parsed.values()):
        raise ValueError(f"snapshot limits must be positive: {parsed}")
    return parsed


def validate_snapshot_archive(
    path: Path, *, max_members: int | None = None, max_total_bytes: int | None = None
) -> None:
    """Raise :class:`UnsafeArchiveError` unless ``path`` is a gzip tar that :func:`extract_snapshot` accepts.

    ``max_members`` and ``max_total_bytes`` (the sum of the members' uncompressed sizes) bound what an
    upload may unpack to; a small gzip can expand enormously.
    """
    with _open(path) as tar:
        members = _members(path, tar, max_members=max_members, max_total_bytes=max_total_bytes)
        _check(path, members)


def extract_snapshot(
    archive: Path, dest: Path, *, max_members: int | None = None, max_total_bytes: int | None = None
) -> None:
    """Check every member of ``archive``, then extract it into ``dest`` (created if needed)."""
    with _open(archive) as tar:
        members = _members(archive, tar, max_members=max_members, max_total_bytes=max_total_bytes)
        _check(archive, members)
        if not hasattr(tarfile, "data_filter"):
            # Our checks alone would do, but the filter also strips setuid bits: insist on it.
            raise RuntimeError("extracting snapshots needs Python 3.11.4+ (tarfile extraction filters)")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            # Only reachable through what is already in dest (e.g. a symlink placed there before).
            member = exc.tarinfo.name if exc.tarinfo is not None else archive.name
            raise UnsafeArchiveError(member, str(exc)) from exc
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise InvalidArchiveError(
                archive.name, f"not a valid gzip-compressed tar archive: {exc}"
            ) from exc


def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        # Missing files are the caller's mistake, not an invalid archive: keep the ordinary error.
        raise FileNotFoundError(f"no such archive: {path}")
    try:
        return tarfile.open(path, mode="r:gz")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidArchiveError(path.name, f"not a valid gzip-compressed tar archive: {exc}") from exc


def _members(
    path: Path, tar: tarfile.TarFile, *, max_members: int | None, max_total_bytes: int | None
) -> list[tarfile.TarInfo]:
    """Every member, header by header; stops at the first one past a limit (before reading its data).

    Reading to the end also proves the compressed data is intact.
    """
    members: list[tarfile.TarInfo] = []
    total = 0
    try:
        while (member := tar.next()) is not None:
            members.append(member)
            if max_members is not None and len(members) > max_members:
                raise ArchiveTooLarge(
                    path.name,
                    f"has more than {max_members} members (the limit)",
                    limit=max_members,
                    unit="members",
                )
            if member.isreg():
                total += member.size
                if max_total_bytes is not None and total > max_total_bytes:
                    raise ArchiveTooLarge(
                        path.name,
                        f"unpacks to more than {max_total_bytes} bytes (the limit)",
                        limit=max_total_bytes,
                        unit="bytes",
                    )
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise InvalidArchiveError(path.name, f"not a valid gzip-compressed tar archive: {exc}") from exc
    return members


def _parts(name: str) -> tuple[str, ...]:
    return tuple(part for part in name.split("/") if part not in ("", "."))


def _name_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    if not name or name.startswith("/"):
        raise UnsafeArchiveError(name, "absolute or empty path")
    if ".." in PurePosixPath(name).parts:
        raise UnsafeArchiveError(name, "path contains '..'")
    return _parts(name)


def _resolve(
    parts: Sequence[str], links: dict[tuple[str, ...], str], *, follow_last: bool
) -> tuple[str, ...]:
    """Resolve ``parts`` from the destination root through the archive's symlinks, as the kernel would.

    Raises ``_Escape`` when resolution leaves the destination at any step (not only at the end: ``a/..``
    with ``a`` a link to ``.`` is the destination's parent even though it reads like ``.``).
    """
    resolved: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise _Escape("leaves the destination")
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get(tuple(resolved))
        if target is not None and (pending or follow_last):
            hops += 1
            if hops > _MAX_SYMLINK_HOPS:
                raise _Escape("too many levels of symbolic links")
            if target.startswith("/"):
                raise _Escape("goes through a symlink to an absolute path")
            resolved.pop()
            pending = target.split("/") + pending
    return tuple(resolved)


def _check(path: Path, members: list[tarfile.TarInfo]) -> None:
    # Every symlink of the archive, whatever its position: a link extracted later can still redirect a path.
    links = {_name_parts(member): member.linkname for member in members if member.issym()}
    for member in members:
        parts = _name_parts(member)
        try:
            _check_member(member, parts, links)
        except _Escape as exc:
            raise UnsafeArchiveError(member.name, str(exc)) from None


def _check_member(member: tarfile.TarInfo, parts: tuple[str, ...], links: dict[tuple[str, ...], str]) -> None:
    name = member.name
    if member.ischr() or member.isblk():
        raise UnsafeArchiveError(name, "device file")
    if member.isfifo():
        raise UnsafeArchiveError(name, "FIFO")
    if member.isreg() or member.isdir():
        # Writing a file opens its path, following any symlink of that name too.
        _resolve(parts, links, follow_last=True)
        return
    if member.issym() or member.islnk():
        kind = "symlink" if member.issym() else "hardlink"
        target = member.linkname
        if not target:
            raise UnsafeArchiveError(name, f"{kind} with an empty target")
        if target.startswith("/"):
            raise UnsafeArchiveError(name, f"{kind} to an absolute path")
        parent = _resolve(parts[:-1], links, follow_last=True)
        # A symlink's target is relative to the link's directory; a hardlink's to the archive root.
        start = parent if member.issym() else ()
        try:
            _resolve((*start, *target.split("/")), links, follow_last=True)
        except _Escape as exc:
            raise UnsafeArchiveError(
                name, f"{kind} target {target!r} leaves the destination ({exc})"
            ) from None
        return
    raise UnsafeArchiveError(name, f"unsupported member type {member.type!r}")
