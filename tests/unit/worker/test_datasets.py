"""Datasets from local paths, file:// and a real local HTTP server: verified, cached, placed safely."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import http.server
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runplane.worker.datasets import DatasetError, DatasetSpec, fetch_dataset

CONTENT = b"x,y\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(50_000))
DIGEST = hashlib.sha256(CONTENT).hexdigest()


class DataServer:
    """A real HTTP server on 127.0.0.1 that counts the requests for each path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] = server.requests.get(self.path, 0) + 1
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path in server.files:
                    body = server.files[self.path]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def server() -> Iterator[DataServer]:
    data_server = DataServer()
    data_server.thread.start()
    try:
        yield data_server
    finally:
        data_server.httpd.shutdown()
        data_server.httpd.server_close()
        data_server.thread.join()


def fetch(spec: DatasetSpec, cache_dir: Path, workdir: Path, **kwargs: int) -> Path:
    async def main() -> Path:
        async with httpx.AsyncClient() as http:
            return await fetch_dataset(spec, cache_dir=cache_dir, workdir=workdir, http=http, **kwargs)

    return asyncio.run(main())


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source" / "points.csv"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_local_path_is_verified_cached_and_hardlinked(tmp_path: Path, source: Path) -> None:
    cache, work = tmp_path / "cache", tmp_path / "work"
    placed = fetch(DatasetSpec("points", str(source), DIGEST), cache, work)
    assert placed == work / "datasets" / "points"
    assert placed.read_bytes() == CONTENT
    cached = cache / DIGEST
    assert cached.read_bytes() == CONTENT
    assert placed.stat().st_ino == cached.stat().st_ino
    # Read-only, so a task cannot casually write through the hardlink into the cache.
    assert stat.S_IMODE(cached.stat().st_mode) == 0o444
    assert leftovers(cache) == []


def test_second_fetch_hits_the_cache_without_reading_the_source(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "cache"
    spec = DatasetSpec("points", str(source), DIGEST)
    fetch(spec, cache, tmp_path / "work1")
    source.unlink()
    placed = fetch(spec, cache, tmp_path / "work2")
    assert placed.read_bytes() == CONTENT


def test_file_url_source(tmp_path: Path) -> None:
    path = tmp_path / "with space" / "points.csv"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    placed = fetch(
        DatasetSpec("points", path.as_uri(), DIGEST.upper()), tmp_path / "cache", tmp_path / "work"
    )
    assert placed.read_bytes() == CONTENT


def test_http_source_is_downloaded_once(tmp_path: Path, server: DataServer) -> None:
    server.files["/points.csv"] = CONTENT
    cache = tmp_path / "cache"
    spec = DatasetSpec("points", server.url("/points.csv"), DIGEST, mount_path="inputs/points.csv")
    first = fetch(spec, cache, tmp_path / "work1")
    second = fetch(spec, cache, tmp_path / "work2")
    assert first == tmp_path / "work1" / "inputs" / "points.csv"
    assert first.read_bytes() == second.read_bytes() == CONTENT
    assert server.requests == {"/points.csv": 1}


def test_http_redirect_is_followed(tmp_path: Path, server: DataServer) -> None:
    server.files["/real.csv"] = CONTENT
    server.redirects["/moved.csv"] = server.url("/real.csv")
    placed = fetch(
        DatasetSpec("points", server.url("/moved.csv"), DIGEST), tmp_path / "cache", tmp_path / "w"
    )
    assert placed.read_bytes() == CONTENT


@pytest.mark.parametrize("origin", ["local", "http"])
def test_sha_mismatch_is_refused_and_leaves_nothing(
    tmp_path: Path, source: Path, server: DataServer, origin: str
) -> None:
    server.files["/points.csv"] = CONTENT
    wrong = hashlib.sha256(b"something else").hexdigest()
    location = str(source) if origin == "local" else server.url("/points.csv")
    cache, work = tmp_path / "cache", tmp_path / "work"
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        fetch(DatasetSpec("points", location, wrong), cache, work)
    assert list(cache.iterdir()) == []
    assert not (work / "datasets" / "points").exists()


def test_http_errors(tmp_path: Path, server: DataServer) -> None:
    with pytest.raises(DatasetError, match="HTTP 404"):
        fetch(DatasetSpec("points", server.url("/missing.csv"), DIGEST), tmp_path / "cache", tmp_path / "w")
    # A port nobody listens on any more.
    closed = DataServer()
    url = closed.url("/points.csv")
    closed.httpd.server_close()
    with pytest.raises(DatasetError, match="cannot download"):
        fetch(DatasetSpec("points", url, DIGEST), tmp_path / "cache", tmp_path / "w")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    ("spec_source", "sha", "message"),
    [
        ("s3://bucket/points.csv", DIGEST, "unsupported source scheme"),
        ("relative/points.csv", DIGEST, "absolute path"),
        ("file://otherhost/points.csv", DIGEST, "remote host"),
        ("/no/such/file.csv", DIGEST, "cannot read"),
        ("/tmp", DIGEST, "not a regular file"),
        ("/no/matter", "abc", "64 hexadecimal"),
    ],
)
def test_bad_sources_and_digests(tmp_path: Path, spec_source: str, sha: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        fetch(DatasetSpec("points", spec_source, sha), tmp_path / "cache", tmp_path / "work")


@pytest.mark.parametrize(
    ("name", "mount_path"),
    [
        ("points", "/etc/points.csv"),
        ("points", "../points.csv"),
        ("points", "a/../../points.csv"),
        ("points", "."),
        ("points", ""),
        ("../points", None),
        ("a/b", None),
    ],
)
def test_mount_path_must_stay_inside_the_workdir(
    tmp_path: Path, source: Path, name: str, mount_path: str | None
) -> None:
    with pytest.raises(DatasetError):
        fetch(DatasetSpec(name, str(source), DIGEST, mount_path), tmp_path / "cache", tmp_path / "work")
    assert not (tmp_path / "points.csv").exists()


def test_fifo_source_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="not a regular file"):
        fetch(DatasetSpec("points", str(fifo), DIGEST), tmp_path / "cache", tmp_path / "work")


def test_mount_path_through_a_symlink_out_of_the_workdir_is_refused(tmp_path: Path, source: Path) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (work / "out").symlink_to(elsewhere)
    with pytest.raises(DatasetError, match="outside the workdir"):
        fetch(DatasetSpec("points", str(source), DIGEST, "out/points.csv"), tmp_path / "cache", work)
    assert list(elsewhere.iterdir()) == []


def test_existing_file_is_replaced_but_a_directory_is_not(tmp_path: Path, source: Path) -> None:
    work = tmp_path / "work"
    (work / "datasets").mkdir(parents=True)
    (work / "datasets" / "points").write_text("stale")
    placed = fetch(DatasetSpec("points", str(source), DIGEST), tmp_path / "cache", work)
    assert placed.read_bytes() == CONTENT
    (work / "folder").mkdir()
    with pytest.raises(DatasetError, match="directory"):
        fetch(DatasetSpec("points", str(source), DIGEST, "folder"), tmp_path / "cache", work)
    assert leftovers(work / "datasets") == []


def test_copy_when_hardlinks_are_impossible(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cross_device(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    cache, work = tmp_path / "cache", tmp_path / "work"
    placed = fetch(DatasetSpec("points", str(source), DIGEST), cache, work)
    assert placed.read_bytes() == CONTENT
    assert placed.stat().st_ino != (cache / DIGEST).stat().st_ino


def test_a_cache_entry_changed_in_place_is_fetched_again(tmp_path: Path, source: Path) -> None:
    cache = tmp_path / "cache"
    spec = DatasetSpec("points", str(source), DIGEST)
    placed = fetch(spec, cache, tmp_path / "work1")
    # What a task running as root could do through its hardlink.
    with placed.open("r+b") as fh:
        fh.write(b"CORRUPT")
    assert (cache / DIGEST).read_bytes() != CONTENT
    again = fetch(spec, cache, tmp_path / "work2")
    assert again.read_bytes() == CONTENT
    assert (cache / DIGEST).read_bytes() == CONTENT


def test_download_size_limit(tmp_path: Path, source: Path, server: DataServer) -> None:
    server.files["/points.csv"] = CONTENT
    for location in (str(source), server.url("/points.csv")):
        with pytest.raises(DatasetError, match="larger than"):
            fetch(DatasetSpec("points", location, DIGEST), tmp_path / "cache", tmp_path / "w", max_bytes=1000)
    assert list((tmp_path / "cache").iterdir()) == []
