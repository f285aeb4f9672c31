"""The files under the data directory: safe paths, atomic writes, log tails and follow, Range parsing,
the run identity's command line, and which requests get the upload body limit."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from runplane.downloads import parse_range
from runplane.errors import RangeNotSatisfiable
from runplane.logstore import LogStore, _scan_back, _tail_offset
from runplane.middleware.body_limit import BodyLimitMiddleware
from runplane.results import MAX_COMMAND_WORDS, command_line
from runplane.storage import (
    TEMP_PREFIX,
    Storage,
    UnsafePathError,
    UploadTooLarge,
    check_id,
    clean_relative_path,
    commit,
    receive,
    safe_join,
    write_atomic,
    write_many_atomic,
)
from runplane.store.tables import TaskRow

pytestmark = pytest.mark.unit


# --- clean_relative_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a.txt", "a.txt"),
        ("plots/loss.png", "plots/loss.png"),
        ("deep/er/still/x.json", "deep/er/still/x.json"),
        (".hydra/config.yaml", ".hydra/config.yaml"),
        ("a..b", "a..b"),
        ("..a/b..", "..a/b.."),
        ("...", "..."),
        ("100%.txt", "100%.txt"),
        ("name with spaces.txt", "name with spaces.txt"),
        ("ünïcødé/日本.txt", "ünïcødé/日本.txt"),
        ("plots\\loss.png", "plots/loss.png"),
        ("a%2Fb.txt", "a%2Fb.txt"),
        ("x" * 255, "x" * 255),
    ],
)
def test_plain_relative_paths_are_kept(raw, clean):
    assert clean_relative_path(raw) == clean


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "is empty"),
        ("..", "contains '..'"),
        ("../x", "contains '..'"),
        ("a/../../x", "contains '..'"),
        ("a/..", "contains '..'"),
        ("..\\x", "contains '..'"),
        ("a\\..\\..\\x", "contains '..'"),
        ("%2e%2e/x", "contains '..'"),
        ("%2E%2E%2Fx", "contains '..'"),
        ("..%2fx", "contains '..'"),
        ("..%5cx", "contains '..'"),
        ("%252e%252e/x", "contains '..'"),
        ("%25252e%25252e/x", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("\\etc\\passwd", "is absolute"),
        ("%2Fetc%2Fpasswd", "is absolute"),
        ("C:/Windows/win.ini", "starts with a drive letter"),
        ("c:\\x", "starts with a drive letter"),
        ("a//b", "has an empty segment"),
        ("a/", "has an empty segment"),
        ("a%2F%2Fb", "has an empty segment"),
        ("./a", "contains '.'"),
        ("a/./b", "contains '.'"),
        ("%2e/a", "contains '.'"),
        ("a\x00b", "contains a NUL byte"),
        ("a%00b", "contains a NUL byte"),
        ("a\nb", "contains a control character"),
        ("a%0d%0ab", "contains a control character"),
        ("a\x7fb", "contains a control character"),
        ("x" * 256, "has a name longer than 255 bytes"),
        ("é" * 128, "has a name longer than 255 bytes"),
        ("%252525252e", "has too many levels of percent-encoding"),
    ],
)
def test_unsafe_paths_are_refused(raw, why):
    with pytest.raises(UnsafePathError) as caught:
        clean_relative_path(raw)
    assert caught.value.why == why


def test_overlong_paths_are_refused():
    with pytest.raises(UnsafePathError, match="longer than 1024 characters"):
        clean_relative_path("a/" * 600)


# --- safe_join: symlinks ----------------------------------------------------------------------------


def test_safe_join_stays_inside(tmp_path: Path):
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "f.txt").write_text("x")
    assert safe_join(base, "sub/f.txt") == (base / "sub" / "f.txt").resolve()
    assert safe_join(base, "not/yet/there.txt") == (base / "not" / "yet" / "there.txt").resolve()


def test_symlinks_inside_are_followed_and_links_out_refused(tmp_path: Path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "real.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(base / "real.txt", base / "alias.txt")
    os.symlink(tmp_path / "secret.txt", base / "out.txt")
    os.symlink(tmp_path, base / "outdir")
    os.symlink("..", base / "parent")
    os.symlink(".", base / "self")
    assert safe_join(base, "alias.txt") == (base / "real.txt").resolve()
    for path in ("out.txt", "outdir/secret.txt", "parent/secret.txt", "self", "outdir/new.txt"):
        with pytest.raises(UnsafePathError) as caught:
            safe_join(base, path)
        assert caught.value.why == "leads outside its directory through a symlink"


def test_ids_used_as_names_are_checked(tmp_path: Path):
    storage = Storage(tmp_path)
    assert storage.log_file("abc_1-2") == tmp_path / "logs" / "abc_1-2.log"
    # A later attempt keeps its own files beside the first attempt's.
    assert storage.log_file("abc_1-2", 3) == tmp_path / "logs" / "abc_1-2.attempt-3.log"
    assert storage.artifacts_dir("t1", 2) == tmp_path / "artifacts" / "t1.attempt-2"
    assert storage.artifact_file("t1", "a/b.txt", 1) == tmp_path / "artifacts" / "t1" / "a" / "b.txt"
    assert storage.snapshot_file("s1") == tmp_path / "snapshots" / "s1.tar.gz"
    for bad in ("../x", "a/b", "", "x" * 65, "a.b"):
        with pytest.raises(ValueError, match="not a valid id"):
            check_id(bad)
    with pytest.raises(UnsafePathError):
        storage.artifact_file("t1", "../t2/x")


# --- atomic writes ------------------------------------------------------------------------------------


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_receive_hashes_and_commit_moves_into_place(tmp_path: Path):
    received = await receive(tmp_path / "d", _chunks(b"hello ", b"", b"world"))
    assert received.size == 11
    assert received.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert received.temp.parent == tmp_path / "d" and received.temp.name.startswith(TEMP_PREFIX)
    await commit(received.temp, tmp_path / "d" / "final.txt")
    assert (tmp_path / "d" / "final.txt").read_bytes() == b"hello world"
    assert os.listdir(tmp_path / "d") == ["final.txt"]


@pytest.mark.anyio
async def test_receive_leaves_nothing_behind_on_failure(tmp_path: Path):
    with pytest.raises(UploadTooLarge):
        await receive(tmp_path, _chunks(b"x" * 10, b"y" * 10), max_bytes=15)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await receive(tmp_path, broken())
    assert os.listdir(tmp_path) == []


@pytest.mark.anyio
async def test_write_atomic_replaces_whole_files(tmp_path: Path):
    target = tmp_path / "run.json"
    target.write_bytes(b"old content that is longer")
    digest = await write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert digest == hashlib.sha256(b"new").hexdigest()
    assert os.listdir(tmp_path) == ["run.json"]


@pytest.mark.anyio
async def test_write_many_atomic_writes_each_file_whole_and_stops_at_the_first_that_fails(tmp_path: Path):
    first, second = tmp_path / "a" / "run.json", tmp_path / "b" / "run.json"
    second.parent.mkdir()
    second.write_bytes(b"old content that is longer")
    digests = await write_many_atomic([(first, b"one"), (second, b"two")])
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")
    assert digests == [hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()]
    (tmp_path / "c").write_bytes(b"a file where a folder must be")
    blocked, after = tmp_path / "c" / "run.json", tmp_path / "d" / "run.json"
    with pytest.raises(FileExistsError):
        await write_many_atomic([(first, b"three"), (blocked, b"x"), (after, b"y")])
    assert first.read_bytes() == b"three" and not after.exists()
    assert sorted(os.listdir(tmp_path / "a")) == ["run.json"]  # no temporary file left


# --- logs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"", 3, b""),
        (b"a\nb\nc\n", 1, b"c\n"),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc\n", 3, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"\n\n\n", 2, b"\n\n"),
        (b"one line\n", 1, b"one line\n"),
    ],
)
def test_tail_offsets(tmp_path: Path, content, lines, expected):
    path = tmp_path / "t.log"
    path.write_bytes(content)
    assert content[_tail_offset(path, lines) :] == expected
    with path.open("rb") as fh:  # tiny blocks: lines and newlines straddle block boundaries
        assert content[_scan_back(fh, lines, block=2) :] == expected
    assert _tail_offset(tmp_path / "missing.log", 3) == 0


def _task(task_id: str = "t1", secrets: dict[str, str] | None = None) -> TaskRow:
    return TaskRow(id=task_id, secrets=secrets or {})


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.anyio
async def test_log_append_masks_and_reads_back(tmp_path: Path):
    logs = LogStore(Storage(tmp_path))
    task = _task(secrets={"TOKEN": "hunter2", "EMPTY": ""})
    assert await _collect(logs.read("t1")) == b""
    await logs.append(task, ["login with hunter2", "line\r\n", "done\n"], attempt=1, first_line=0)
    assert await _collect(logs.read("t1")) == b"login with ***\nline\ndone\n"
    assert await _collect(logs.read("t1", tail=1)) == b"done\n"
    assert await logs.size("t1") == len(b"login with ***\nline\ndone\n")


@pytest.mark.anyio
async def test_follow_yields_new_text_until_finished(tmp_path: Path):
    logs = LogStore(Storage(tmp_path), poll_interval=0.01)
    task = _task()
    await logs.append(task, ["first"], attempt=1, first_line=0)
    finished = False

    async def is_finished() -> bool:
        return finished

    follow = logs.follow("t1", tail=None, finished=is_finished)
    with anyio.fail_after(10):
        assert await anext(follow) == b"first\n"
        await logs.append(task, ["second"], attempt=1, first_line=1)
        assert await anext(follow) == b"second\n"
        await logs.append(task, ["third"], attempt=1, first_line=2)
        finished = True  # appended before the end: still delivered, then the stream stops
        assert [chunk async for chunk in follow] == [b"third\n"]


@pytest.mark.anyio
async def test_follow_is_bounded_in_time_and_chunk_size(tmp_path: Path):
    logs = LogStore(Storage(tmp_path), poll_interval=0.01, follow_limit_seconds=0)
    await logs.append(_task(), ["x" * 200_000], attempt=1, first_line=0)

    async def never() -> bool:
        return False

    with anyio.fail_after(10):
        chunks = [chunk async for chunk in logs.follow("t1", tail=None, finished=never)]
    assert b"".join(chunks) == b"x" * 200_000 + b"\n"
    assert max(len(chunk) for chunk in chunks) <= 64 * 1024


# --- Range --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("BYTES = 1-2", 10, (1, 2)),
        ("bytes=0-1,4-5", 10, None),
        ("lines=0-1", 10, None),
    ],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)]
)
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.headers == {"Content-Range": f"bytes */{size}"}


@pytest.mark.parametrize(
    "header",
    [
        "bytes",
        "bytes=",
        "bytes=-",
        "bytes=a-b",
        "bytes=3-1",
        "bytes=1-2-3",
        "bytes=\u0661-\u0662",
        "bytes=10-5",
    ],
)
def test_invalid_ranges_are_ignored(header):
    # RFC 9110 §14.2: an invalid Range header is ignored and the whole file sent, never a 400.
    assert parse_range(header, 10) is None


# --- the run identity's command line ----------------------------------------------------------------


def test_command_line_is_split_and_redacted():
    row = TaskRow(
        entrypoint="python train.py --api-key sk-live-1 --url 'https://u:pw@h/x'", args=["--token", "t0k"]
    )
    assert command_line(row) == [
        "python",
        "train.py",
        "--api-key",
        "<redacted>",
        "--url",
        "https://u:<redacted>@h/x",
        "--token",
        "<redacted>",
    ]
    assert command_line(TaskRow(entrypoint="echo 'unbalanced", args=[])) == ["echo", "'unbalanced"]
    assert command_line(TaskRow(entrypoint=None, model_id="simulator", args=[])) == [
        "python",
        "-m",
        "runplane.catalog",
        "simulator",
    ]
    long = command_line(TaskRow(entrypoint="w " * 600, args=[]))
    assert len(long) == MAX_COMMAND_WORDS and long[-1] == f"<{600 - MAX_COMMAND_WORDS + 1} more words>"


# --- which bodies get the upload limit --------------------------------------------------------------


def test_upload_routes_get_the_upload_limit():
    async def app(scope, receive, send):  # pragma: no cover - never called
        raise AssertionError

    middleware = BodyLimitMiddleware(
        app,
        max_bytes=1024,
        upload_max_bytes=10_000,
        upload_routes=[
            ("post", re.compile(r"^/v1/snapshots$")),
            ("POST", re.compile(r"^/v1/workers/[^/]+/tasks/[^/]+/artifacts$")),
        ],
    )
    assert middleware.limit_for("POST", "/v1/snapshots") == 10_000
    assert middleware.limit_for("POST", "/v1/workers/w/tasks/t/artifacts") == 10_000
    assert middleware.limit_for("GET", "/v1/snapshots") == 1024
    assert middleware.limit_for("POST", "/v1/tasks") == 1024
    assert middleware.limit_for("POST", "/v1/workers/w/tasks/t/artifacts/x") == 1024
