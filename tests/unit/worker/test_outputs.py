"""Output collection: every regular file, sorted, hashed, typed; never a symlink or a special file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from runplane.storage import check_artifact_name, decode_artifact_path
from runplane.worker.outputs import (
    OutputFile,
    collect_outputs,
    content_type_for,
    encode_artifact_path,
    gather_outputs,
)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_collects_recursively_sorted_with_size_hash_and_type(tmp_path: Path) -> None:
    out = tmp_path / "output"
    files = {
        "results.json": b'{"rmse": 0.1}',
        "metrics/history.csv": b"epoch,loss\n1,0.5\n",
        "logs/train.log": b"started\n",
        "notes.txt": b"",
        "model.bin": os.urandom(3000),
        "deep/a/b/c.npy": b"\x93NUMPY",
    }
    for name, data in files.items():
        write(out / name, data)
    collected = collect_outputs(out)
    assert [item.path for item in collected] == sorted(files)
    by_path = {item.path: item for item in collected}
    for name, data in files.items():
        item = by_path[name]
        assert item.size == len(data)
        assert item.sha256 == hashlib.sha256(data).hexdigest()
        assert item.absolute == out / name
        assert item.absolute.read_bytes() == data
    assert by_path["results.json"].content_type == "application/json"
    assert by_path["metrics/history.csv"].content_type == "text/csv"
    assert by_path["logs/train.log"].content_type == "text/plain"
    assert by_path["notes.txt"].content_type == "text/plain"
    assert by_path["model.bin"].content_type == "application/octet-stream"


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    out = tmp_path / "output"
    secret_dir = tmp_path / "worker-secrets"
    write(secret_dir / "key.pem", b"-----BEGIN KEY-----")
    write(out / "real.txt", b"real")
    (out / "key.pem").symlink_to(secret_dir / "key.pem")
    (out / "secrets").symlink_to(secret_dir)
    (out / "inner-link.txt").symlink_to(out / "real.txt")
    (out / "dangling").symlink_to(tmp_path / "missing")
    assert [item.path for item in collect_outputs(out)] == ["real.txt"]


def test_an_output_dir_that_is_a_symlink_yields_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "passwd", b"root:x:0:0")
    (tmp_path / "output").symlink_to(elsewhere)
    assert collect_outputs(tmp_path / "output") == []


def test_special_files_are_skipped(tmp_path: Path) -> None:
    out = tmp_path / "output"
    write(out / "ok.txt", b"ok")
    os.mkfifo(out / "pipe")
    assert [item.path for item in collect_outputs(out)] == ["ok.txt"]


def test_missing_or_empty_output_dir(tmp_path: Path) -> None:
    assert collect_outputs(tmp_path / "nothing-here") == []
    (tmp_path / "empty").mkdir()
    assert collect_outputs(tmp_path / "empty") == []


def test_paths_are_posix_relative(tmp_path: Path) -> None:
    out = tmp_path / "output"
    write(out / "a b" / "ü.txt", b"x")
    [item] = collect_outputs(out)
    assert item == OutputFile(
        path="a b/ü.txt",
        size=1,
        sha256=hashlib.sha256(b"x").hexdigest(),
        content_type="text/plain",
        absolute=out / "a b" / "ü.txt",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("results.json", "application/json"),
        ("RESULTS.JSON", "application/json"),
        ("table.csv", "text/csv"),
        ("run.log", "text/plain"),
        ("readme.txt", "text/plain"),
        ("plot.png", "image/png"),
        ("page.html", "text/html"),
        ("table.csv.gz", "application/gzip"),
        ("weights", "application/octet-stream"),
        ("weights.unknownext", "application/octet-stream"),
    ],
)
def test_content_types(name: str, expected: str) -> None:
    assert content_type_for(name) == expected


def test_unsafe_names_are_escaped_clashes_skipped_and_every_one_is_a_warning(tmp_path: Path) -> None:
    """The trial's names: none fails the collection, no two files share an artifact, nothing goes silently."""
    files = {
        b"a%2fb": b"A",
        b"%2e%2e": b"B",
        b"back\\slash": b"E",
        b"back/slash": b"F",
        b"\x01ctl": b"C",
        b"bad\xffbyte": b"X",
        b"dup\x01": b"H",  # escapes to dup%01, which is a real file's name: skipped
        b"dup%01": b"I",
        b"C:": b"D",
    }
    for raw, data in files.items():
        path = os.path.join(os.fsencode(tmp_path), raw)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
    collected = gather_outputs(tmp_path)
    got = {f.path: f.absolute.read_bytes() for f in collected.files}
    assert got == {
        "a%2fb": b"A",
        "%2e%2e": b"B",
        "back%5Cslash": b"E",
        "back/slash": b"F",
        "%01ctl": b"C",
        "bad%FFbyte": b"X",
        "dup%01": b"I",
        "C%3A": b"D",
    }
    for name in got:
        assert check_artifact_name(name) == name
    skipped = [w for w in collected.warnings if "not uploaded" in w]
    assert len(skipped) == 1 and "'dup\\x01'" in skipped[0] and "dup%01" in skipped[0]
    renamed = [w for w in collected.warnings if "uploaded as artifact" in w]
    assert len(renamed) == 4


def test_a_too_long_escaped_name_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / ("\x01" * 100)).write_bytes(b"x")  # 300 bytes once escaped
    collected = gather_outputs(tmp_path)
    assert collected.files == [] and len(collected.warnings) == 1 and "too long" in collected.warnings[0]


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("a%2fb", "a%252fb"),
        ("%2e%2e", "%252e%252e"),
        ("plots/loss.png", "plots/loss.png"),
        ("é/x y", "%C3%A9/x%20y"),
    ],
)
def test_the_wire_form_decodes_exactly_once_to_the_name(name: str, wire: str) -> None:
    assert encode_artifact_path(name) == wire
    assert decode_artifact_path(wire) == name


def test_nothing_to_collect_only_for_a_missing_or_empty_real_directory(tmp_path: Path) -> None:
    from runplane.worker.outputs import nothing_to_collect

    assert nothing_to_collect(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert nothing_to_collect(tmp_path / "empty")
    write(tmp_path / "full" / "a.txt", b"a")
    assert not nothing_to_collect(tmp_path / "full")
    write(tmp_path / "nested" / "deep" / "a.txt", b"a")
    assert not nothing_to_collect(tmp_path / "nested")
    # A symlink, even to an empty directory or to nothing, goes to gather_outputs, which warns about it.
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert not nothing_to_collect(tmp_path / "link")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert not nothing_to_collect(tmp_path / "dangling")
    assert gather_outputs(tmp_path / "link").files == []
