"""Collect the files a task wrote into its output directory, to become its artifacts.

The task controls everything under its workdir, so nothing here follows a symlink: a symlinked file or
directory (or an output directory that is itself a symlink) is skipped rather than exported, since it could
point at any file the worker can read. FIFOs, sockets and devices are skipped too (reading a FIFO would
block for ever).

A file's artifact name is its path with "/" separators. A name the server cannot store as it is (a control
byte, a backslash, bytes that are not UTF-8, a first segment like ``C:``) is escaped: each offending byte
becomes ``%XX``. An escaped name that would land on another file's name (or on a folder's) is skipped, and
so is a name longer than the server accepts; every rename and skip is a warning (see
:class:`CollectedOutputs`), never a silent loss or two files in one artifact. On the wire each segment is
percent-encoded once more (:func:`encode_artifact_path`) and the server decodes it exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Fixed answers for the types the product relies on: /etc/mime.types differs between machines.
_CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".html": "text/html",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".parquet": "application/vnd.apache.parquet",
}
_ENCODING_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}
# Python's built-in table only: a MimeTypes instance does not read the system's mime.types files.
_MIME = mimetypes.MimeTypes()
_CHUNK_BYTES = 1024 * 1024
# The server's limits on an artifact name (runplane.storage.MAX_PATH_CHARS / MAX_SEGMENT_BYTES).
MAX_NAME_CHARS = 1024
MAX_SEGMENT_BYTES = 255
_UNSAFE_BYTES = frozenset([*range(0x20), 0x7F, ord("\\")])


@dataclass(frozen=True)
class OutputFile:
    """One artifact: ``path`` is relative to the output directory, with "/" separators."""

    path: str
    size: int
    sha256: str
    content_type: str
    absolute: Path


def content_type_for(name: str) -> str:
    """The content type an artifact of this name is served with."""
    suffix = Path(name).suffix.lower()
    _, encoding = _MIME.guess_type(name, strict=False)
    if encoding is not None:
        # "results.csv.gz" is a gzip file, whatever it holds.
        return _ENCODING_TYPES.get(encoding, DEFAULT_CONTENT_TYPE)
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = _MIME.guess_type(name, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


@dataclass(frozen=True)
class CollectedOutputs:
    """The files to upload (``path`` is each one's artifact name) and one warning per renamed or skipped
    file, in words fit for the task's log and message."""

    files: list[OutputFile]
    warnings: list[str]


def encode_artifact_path(name: str) -> str:
    """The wire form of an artifact name: every ``/``-separated segment percent-encoded (UTF-8).

    The server decodes each segment exactly once (``runplane.storage.decode_artifact_path``), so a file
    literally named ``%2e%2e`` travels as ``%252e%252e`` and is stored as ``%2e%2e``.
    """
    return "/".join(quote(segment, safe="") for segment in name.split("/"))


def _escape_segment(raw: bytes, *, first: bool) -> str:
    """``raw`` (a file name's bytes) as text the server stores as it is: unsafe bytes become ``%XX``."""
    out: list[str] = []
    text = raw.decode("utf-8", "surrogateescape")
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
            out.append(f"%{code - 0xDC00:02X}")
        elif code < 0x80 and code in _UNSAFE_BYTES:
            out.append(f"%{code:02X}")
        else:
            out.append(char)
    escaped = "".join(out)
    if first and len(escaped) == 2 and escaped[1] == ":" and escaped[0].isascii() and escaped[0].isalpha():
        # "C:" first would read as a drive letter.
        escaped = escaped[0] + "%3A"
    return escaped


def nothing_to_collect(output_dir: Path) -> bool:
    """Whether ``output_dir`` is missing or an empty directory (``gather_outputs`` would find nothing and
    say nothing); a few system calls, cheap enough for the event loop. A symbolic link is not nothing:
    :func:`gather_outputs` warns about it."""
    try:
        with os.scandir(output_dir) as entries:
            empty = next(entries, None) is None
    except NotADirectoryError:
        return True
    except FileNotFoundError:
        return not output_dir.is_symlink()
    return empty and not output_dir.is_symlink()


def gather_outputs(output_dir: Path) -> CollectedOutputs:
    """Every regular file under ``output_dir`` under its artifact name, sorted by name, plus warnings.

    Files whose names need no escaping keep them and win any clash; an escaped name that equals another
    file's name or a folder of one (or whose folders are such a file) is skipped with a warning.
    """
    if output_dir.is_symlink():
        logger.warning("output directory %s is a symlink; collecting nothing from it", output_dir)
        return CollectedOutputs([], [])
    if not output_dir.is_dir():
        return CollectedOutputs([], [])
    found: list[tuple[str, bool, Path, str]] = []
    _walk(output_dir, (), (), found)
    warnings: list[str] = []
    taken_files: set[str] = set()
    taken_dirs: set[str] = set()

    def clashes(name: str) -> bool:
        segments = name.split("/")
        prefixes = ["/".join(segments[:i]) for i in range(1, len(segments))]
        return name in taken_files or name in taken_dirs or any(p in taken_files for p in prefixes)

    def take(name: str) -> None:
        taken_files.add(name)
        segments = name.split("/")
        taken_dirs.update("/".join(segments[:i]) for i in range(1, len(segments)))

    files: list[OutputFile] = []
    # Plain names first, so an escaped name never takes the place of a file that really has that name.
    for name, escaped, absolute, original in sorted(found, key=lambda item: (item[1], item[0])):
        if len(name) > MAX_NAME_CHARS or any(
            len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES for segment in name.split("/")
        ):
            warnings.append(f"output {original} not uploaded: its name is too long once escaped")
            continue
        if escaped and clashes(name):
            warnings.append(f"output {original} not uploaded: its escaped name {name!r} is another file's")
            continue
        output = _describe(absolute, name)
        if output is None:
            continue
        take(name)
        files.append(output)
        if escaped:
            warnings.append(
                f"output {original} uploaded as artifact {name!r} (its name has unsafe characters)"
            )
    files.sort(key=lambda item: item.path)
    return CollectedOutputs(files, warnings)


def collect_outputs(output_dir: Path) -> list[OutputFile]:
    """Every regular file under ``output_dir`` under its artifact name, sorted; ``[]`` if no such dir.

    The warnings of :func:`gather_outputs` go to this module's logger only.
    """
    collected = gather_outputs(output_dir)
    for warning in collected.warnings:
        logger.warning("%s", warning)
    return collected.files


def _walk(
    directory: Path,
    prefix: tuple[str, ...],
    raw_prefix: tuple[str, ...],
    found: list[tuple[str, bool, Path, str]],
) -> None:
    """Appends (artifact name, escaped?, absolute path, the original path as Python writes it)."""
    with os.scandir(directory) as entries:
        for entry in entries:
            segment = _escape_segment(os.fsencode(entry.name), first=not prefix)
            parts = (*prefix, segment)
            raw_parts = (*raw_prefix, entry.name)
            if entry.is_symlink():
                logger.info("skipping symlink %s in the task's outputs", "/".join(parts))
            elif entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), parts, raw_parts, found)
            elif entry.is_file(follow_symlinks=False):
                original = "/".join(raw_parts)
                name = "/".join(parts)
                found.append((name, name != original, Path(entry.path), ascii(original)))


def _describe(path: Path, relative: str) -> OutputFile | None:
    try:
        # O_NOFOLLOW: the entry was a regular file when listed and must still be one when read.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        logger.warning("cannot read output %s: %s", relative, exc)
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        hasher = hashlib.sha256()
        size = 0
        while chunk := fh.read(_CHUNK_BYTES):
            hasher.update(chunk)
            size += len(chunk)
    return OutputFile(
        path=relative,
        size=size,
        sha256=hasher.hexdigest(),
        content_type=content_type_for(relative),
        absolute=path,
    )
