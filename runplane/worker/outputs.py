"""Collect the files a task wrote into its output directory, to become its artifacts.

The task controls everything under its workdir, so nothing here follows a symlink: a symlinked file or
directory (or an output directory that is itself a symlink) is skipped rather than exported, since it could
point at any file the worker can read. FIFOs, sockets and devices are skipped too (reading a FIFO would
block for ever).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path

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


def collect_outputs(output_dir: Path) -> list[OutputFile]:
    """Every regular file under ``output_dir``, sorted by relative path; ``[]`` if there is no such dir."""
    if output_dir.is_symlink():
        logger.warning("output directory %s is a symlink; collecting nothing from it", output_dir)
        return []
    if not output_dir.is_dir():
        return []
    files: list[OutputFile] = []
    _walk(output_dir, (), files)
    files.sort(key=lambda item: item.path)
    return files


def _walk(directory: Path, prefix: tuple[str, ...], files: list[OutputFile]) -> None:
    with os.scandir(directory) as entries:
        for entry in entries:
            parts = (*prefix, entry.name)
            if entry.is_symlink():
                logger.info("skipping symlink %s in the task's outputs", "/".join(parts))
            elif entry.is_dir(follow_symlinks=False):
                _walk(Path(entry.path), parts, files)
            elif entry.is_file(follow_symlinks=False):
                output = _describe(Path(entry.path), "/".join(parts))
                if output is not None:
                    files.append(output)


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
