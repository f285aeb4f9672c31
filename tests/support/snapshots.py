"""Code snapshots for tests: a gzip tar of named text files, as `POST /v1/snapshots` takes."""

from __future__ import annotations

import io
import tarfile
import textwrap


def snapshot_archive(files: dict[str, str], *, mode: int = 0o644) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
