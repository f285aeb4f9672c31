"""Code snapshots: safe archives extract, unsafe ones are refused whole, naming the member."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from runplane.worker.snapshot import (
    ArchiveTooLarge,
    InvalidArchiveError,
    UnsafeArchiveError,
    extract_snapshot,
    limits_from_env,
    validate_snapshot_archive,
)

Member = tuple[tarfile.TarInfo, bytes | None]


def regular(name: str, data: bytes = b"data", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def directory(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info, None


def make_archive(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


SAFE_MEMBERS: list[Member] = [
    directory("./"),
    directory("./src"),
    regular("./src/train.py", b"print('hi')\n", mode=0o755),
    regular("./data/values.csv", b"a,b\n1,2\n"),
    link("./src/values.csv", "../data/values.csv"),
    link("./lib", "src"),
    link("./dangling", "not-there-yet"),
    link("./data/copy.csv", "data/values.csv", tarfile.LNKTYPE),
    regular("./setuid.sh", b"#!/bin/sh\n", mode=0o4755),
]


def test_safe_archive_extracts(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "code.tar.gz", SAFE_MEMBERS)
    dest = tmp_path / "work"
    validate_snapshot_archive(archive)
    extract_snapshot(archive, dest)
    assert (dest / "src/train.py").read_bytes() == b"print('hi')\n"
    assert os.access(dest / "src/train.py", os.X_OK)
    assert (dest / "src/values.csv").is_symlink()
    assert (dest / "src/values.csv").read_text() == "a,b\n1,2\n"
    assert (dest / "lib/train.py").read_bytes() == b"print('hi')\n"
    assert (dest / "data/copy.csv").stat().st_ino == (dest / "data/values.csv").stat().st_ino
    # tarfile's data filter strips setuid as a second line of defence.
    assert not (dest / "setuid.sh").stat().st_mode & stat.S_ISUID


UNSAFE_CASES: list[tuple[str, Member, str]] = [
    ("absolute path", regular("/etc/evil"), "/etc/evil"),
    ("dotdot at the start", regular("../evil"), "../evil"),
    ("dotdot inside", regular("a/../../evil"), "a/../../evil"),
    ("dotdot that would stay inside", regular("a/../b"), "a/../b"),
    ("absolute symlink", link("etc", "/etc"), "etc"),
    ("symlink out", link("up", "../../outside"), "up"),
    ("nested symlink out", link("a/b/c", "../../../x"), "a/b/c"),
    ("absolute hardlink", link("passwd", "/etc/passwd", tarfile.LNKTYPE), "passwd"),
    ("hardlink out", link("h", "../outside", tarfile.LNKTYPE), "h"),
    ("character device", special("null", tarfile.CHRTYPE), "null"),
    ("block device", special("disk", tarfile.BLKTYPE), "disk"),
    ("fifo", special("pipe", tarfile.FIFOTYPE), "pipe"),
]


@pytest.mark.parametrize(("case", "bad", "member"), UNSAFE_CASES, ids=[case for case, _, _ in UNSAFE_CASES])
def test_unsafe_member_is_refused_and_nothing_extracted(
    tmp_path: Path, case: str, bad: Member, member: str
) -> None:
    # Safe members on both sides of the bad one: none of them may land on disk.
    archive = make_archive(tmp_path / "code.tar.gz", [regular("first.txt"), bad, regular("last.txt")])
    dest = tmp_path / "work"
    with pytest.raises(UnsafeArchiveError) as raised:
        validate_snapshot_archive(archive)
    assert raised.value.member == member
    with pytest.raises(UnsafeArchiveError) as raised:
        extract_snapshot(archive, dest)
    assert raised.value.member == member
    assert member in str(raised.value)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code.tar.gz"]


@pytest.mark.parametrize(
    ("members", "member"),
    [
        # Each link stays inside on its own; followed like the kernel does, "a/.." is the parent of dest.
        ([link("a", "."), link("b", "a/..")], "b"),
        # A file written through a symlink chain that ends outside.
        ([link("a", "."), link("b", "a/../x"), regular("b/evil")], "b"),
        # A hardlink whose target goes through a symlink to the outside.
        ([link("a", "."), link("h", "a/../secret", tarfile.LNKTYPE)], "h"),
        # Links that never resolve.
        ([link("x", "y"), link("y", "x")], "x"),
    ],
    ids=["dot-link-then-dotdot", "file-through-chain", "hardlink-through-symlink", "loop"],
)
def test_symlink_tricks_are_refused(tmp_path: Path, members: list[Member], member: str) -> None:
    archive = make_archive(tmp_path / "code.tar.gz", members)
    with pytest.raises(UnsafeArchiveError) as raised:
        extract_snapshot(archive, tmp_path / "work")
    assert raised.value.member == member
    assert not (tmp_path / "work").exists()


def test_a_later_symlink_cannot_redirect_an_earlier_directory(tmp_path: Path) -> None:
    # "d" is a directory by implication first, then a symlink out, then written through.
    archive = make_archive(
        tmp_path / "code.tar.gz", [regular("d/ok.txt"), link("d", "../.."), regular("d/evil.txt")]
    )
    with pytest.raises(UnsafeArchiveError):
        extract_snapshot(archive, tmp_path / "work")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_text("just some text, not an archive"),
        lambda path: path.write_bytes(b""),
        lambda path: path.write_bytes(gzip.compress(b"compressed, but not a tar archive" * 40)),
        lambda path: path.write_bytes(_plain_tar()),
        lambda path: path.write_bytes(_truncated_tar_gz()),
    ],
    ids=["text", "empty", "gzip-not-tar", "tar-not-gzip", "truncated"],
)
def test_not_a_gzip_tar_is_refused(tmp_path: Path, write: Callable[[Path], object]) -> None:
    archive = tmp_path / "code.tar.gz"
    write(archive)
    with pytest.raises(InvalidArchiveError) as raised:
        validate_snapshot_archive(archive)
    assert raised.value.member == "code.tar.gz"
    assert isinstance(raised.value, UnsafeArchiveError)  # one except clause covers everything refused
    with pytest.raises(InvalidArchiveError):
        extract_snapshot(archive, tmp_path / "work")
    assert not (tmp_path / "work").exists()


def _plain_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info, data = regular("a.txt")
        tar.addfile(info, io.BytesIO(data or b""))
    return buffer.getvalue()


def _truncated_tar_gz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info, data = regular("big.bin", os.urandom(200_000))
        tar.addfile(info, io.BytesIO(data or b""))
    return buffer.getvalue()[:50_000]


def test_missing_archive_is_an_ordinary_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        validate_snapshot_archive(tmp_path / "nope.tar.gz")


def test_size_and_member_limits(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "code.tar.gz", [regular(f"f{i}", b"x" * 1000) for i in range(5)])
    validate_snapshot_archive(archive, max_members=5, max_total_bytes=5000)
    with pytest.raises(UnsafeArchiveError, match="members"):
        validate_snapshot_archive(archive, max_members=4)
    with pytest.raises(UnsafeArchiveError, match="bytes"):
        extract_snapshot(archive, tmp_path / "work", max_total_bytes=4999)
    assert not (tmp_path / "work").exists()


def test_extracts_into_an_existing_directory(tmp_path: Path) -> None:
    dest = tmp_path / "work"
    dest.mkdir()
    (dest / "already.txt").write_text("kept")
    extract_snapshot(make_archive(tmp_path / "code.tar.gz", [regular("new.txt", b"new")]), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["already.txt", "new.txt"]


def bomb_header(size: int) -> bytes:
    """A gzip tar whose only member's header claims ``size`` bytes, followed by far fewer: refusing it
    as too large (not as truncated) proves the limit stops at the header, before reading the data."""
    info = tarfile.TarInfo("huge.bin")
    info.size = size
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096)


def test_a_bomb_is_refused_at_its_first_oversized_header(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(bomb_header(3 * 1024**3))
    with pytest.raises(ArchiveTooLarge, match="unpacks to more than 1048576 bytes") as caught:
        validate_snapshot_archive(archive, max_total_bytes=1024**2)
    assert (caught.value.limit, caught.value.unit) == (1024**2, "bytes")
    with pytest.raises(ArchiveTooLarge):
        extract_snapshot(archive, tmp_path / "work", max_total_bytes=1024**2)
    assert not (tmp_path / "work").exists()


def test_the_worker_reads_the_limits_from_the_server_s_variables(tmp_path: Path) -> None:
    assert limits_from_env({}) == {"max_members": 100_000, "max_total_bytes": 10 * 1024**3}
    env = {"RUNPLANE_SNAPSHOT_MAX_MEMBERS": "3", "RUNPLANE_SNAPSHOT_MAX_UNPACKED_BYTES": "4096"}
    assert limits_from_env(env) == {"max_members": 3, "max_total_bytes": 4096}
    with pytest.raises(ValueError, match="positive"):
        limits_from_env({"RUNPLANE_SNAPSHOT_MAX_MEMBERS": "0"})
    archive = tmp_path / "code.tar.gz"
    archive.write_bytes(bomb_header(8192))
    with pytest.raises(ArchiveTooLarge):
        extract_snapshot(archive, tmp_path / "work", **limits_from_env(env))
