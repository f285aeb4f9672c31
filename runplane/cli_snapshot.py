"""Packing a directory into a code snapshot for `runplane submit`, and uploading it only when it is new.

The archive is a gzip-compressed tar that depends only on the files' paths, contents and executable bits
(sorted members, zeroed times and owners, gzip without a timestamp), so the same tree gives the same
sha256 every time. Which files go in: everything under the directory except `.git/` and what the
directory's `.runplaneignore` (or, when there is none, its `.gitignore`) excludes, read with the common
subset of gitignore syntax: `#` comments, `!` re-includes, a trailing `/` for directories only, a leading
or inner `/` to anchor a pattern at the directory, `*`, `?`, `[...]` and `**`. Symbolic links and other
non-regular files are left out (the server refuses links that lead out of the snapshot).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from runplane_client.api.snapshots import get_snapshot, upload_snapshot
from runplane_client.models import Snapshot
from runplane_client.types import File

from runplane.cli_api import Api, CliError, config_path

IGNORE_FILES = (".runplaneignore", ".gitignore")
ALWAYS_IGNORED = (".git",)
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    negate: bool
    directory_only: bool


def _glob_to_regex(pattern: str, anchored: bool) -> re.Pattern[str]:
    """gitignore's glob as a regex over a slash-separated relative path."""
    out = "" if anchored else "(?:.*/)?"
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            out += "/.*"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(char)
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + "$")


def parse_ignore(text: str) -> list[_Rule]:
    """The rules of one ignore file, in order (a later matching rule wins, as in git)."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        rules.append(_Rule(_glob_to_regex(line.lstrip("/"), anchored), negate, directory_only))
    return rules


def ignored(rules: list[_Rule], relative: str, is_dir: bool) -> bool:
    verdict = False
    for rule in rules:
        if rule.directory_only and not is_dir:
            continue
        if rule.regex.match(relative):
            verdict = not rule.negate
    return verdict


def snapshot_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every file that goes into the snapshot of `root`, sorted by name."""
    rules: list[_Rule] = []
    for name in IGNORE_FILES:
        candidate = root / name
        if candidate.is_file():
            rules = parse_ignore(candidate.read_text(errors="replace"))
            break

    def walk(directory: Path, prefix: str) -> Iterator[tuple[str, Path]]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            relative = f"{prefix}{entry.name}"
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name in ALWAYS_IGNORED or ignored(rules, relative, True):
                    continue
                yield from walk(Path(entry.path), relative + "/")
            elif entry.is_file() and not ignored(rules, relative, False):
                yield relative, Path(entry.path)

    yield from walk(root, "")


@dataclass
class Packed:
    """A packed snapshot: the archive in a temporary file, its sha256 and size, and how many files."""

    archive: IO[bytes]
    sha256: str
    size: int
    files: int


def pack(root: Path) -> Packed:
    """The snapshot archive of `root` (see the module docstring). Raises CliError when `root` is not a
    directory or holds no file."""
    if not root.is_dir():
        raise CliError(f"{root} is not a directory")
    archive = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    count = 0
    with (
        gzip.GzipFile(fileobj=archive, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in snapshot_files(root):
            info = tarfile.TarInfo(name)
            status = path.stat()
            info.size = status.st_size
            info.mode = 0o755 if status.st_mode & stat.S_IXUSR else 0o644
            info.mtime = 0
            with path.open("rb") as handle:
                tar.addfile(info, handle)
            count += 1
    if count == 0:
        archive.close()
        raise CliError(f"{root} holds no file to send (check .runplaneignore/.gitignore)")
    digest = hashlib.sha256()
    archive.seek(0)
    while chunk := archive.read(_CHUNK):
        digest.update(chunk)
    size = archive.tell()
    archive.seek(0)
    return Packed(archive, digest.hexdigest(), size, count)


def _cache_path() -> Path:
    return config_path().with_name("snapshots.json")


def _read_cache() -> dict[str, dict[str, str]]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(api_url: str, sha256: str, snapshot_id: str) -> None:
    cache = _read_cache()
    cache.setdefault(api_url, {})[sha256] = snapshot_id
    path = _cache_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    temp.replace(path)


def upload_if_new(api: Api, packed: Packed) -> tuple[Snapshot, bool]:
    """The server's snapshot with the archive's sha256: one this client uploaded before (remembered by
    sha256 per API URL, and checked with GET /v1/snapshots/{id}: it must still exist with that sha256),
    or a new upload. Returns (snapshot, uploaded)."""
    known = _read_cache().get(api.url, {}).get(packed.sha256)
    if known:
        existing = _existing(api, known)
        if existing is not None and existing.sha256 == packed.sha256:
            return existing, False
    snapshot: Snapshot = api.call(
        upload_snapshot.sync_detailed, body=File(payload=cast(BinaryIO, packed.archive))
    )
    if snapshot.sha256 != packed.sha256:
        raise CliError(f"the server stored sha256 {snapshot.sha256}, not the {packed.sha256} sent")
    _remember(api.url, packed.sha256, snapshot.id)
    return snapshot, True


def _existing(api: Api, snapshot_id: str) -> Snapshot | None:
    """GET /v1/snapshots/{id}, where a 404 (gone, or another user's) is None rather than an error."""
    try:
        found: Snapshot = api.call(get_snapshot.sync_detailed, snapshot_id)
    except CliError as exc:
        if exc.code in ("NOT_FOUND", "VALIDATION_ERROR"):
            return None
        raise
    return found
