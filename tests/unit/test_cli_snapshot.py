"""Packing a directory for `runplane submit`: which files go in, and the same tree giving the same sha256."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from runplane.cli_api import CliError
from runplane.cli_snapshot import ignored, pack, parse_ignore, snapshot_files
from runplane.cli_tasks import sse_events

pytestmark = pytest.mark.unit


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(root: Path) -> list[str]:
    return [name for name, _ in snapshot_files(root)]


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "expected"),
    [
        ("*.log", "a.log", False, True),
        ("*.log", "deep/er/a.log", False, True),
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),
        ("data/", "data", True, True),
        ("data/", "data", False, False),  # a file named data is no directory
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "x/docs/a.md", False, False),  # an inner slash anchors
        ("**/cache", "a/b/cache", True, True),
        ("logs/**", "logs/a/b.txt", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("file?.txt", "file1.txt", False, True),
        ("file[0-9].txt", "fileX.txt", False, False),
    ],
)
def test_gitignore_patterns(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert ignored(parse_ignore(pattern), path, is_dir) is expected


def test_a_later_negation_re_includes_and_comments_are_skipped() -> None:
    rules = parse_ignore("# comment\n\n*.csv\n!keep.csv\n")
    assert ignored(rules, "drop.csv", False) and not ignored(rules, "keep.csv", False)


def test_runplaneignore_wins_over_gitignore_and_git_is_never_sent(tmp_path: Path) -> None:
    tree(
        tmp_path,
        {
            "train.py": "",
            "notes.md": "",
            ".git/HEAD": "",
            "out/model.bin": "",
            ".gitignore": "out/\n",
            ".runplaneignore": "*.md\n",
        },
    )
    assert names(tmp_path) == [".gitignore", ".runplaneignore", "out/model.bin", "train.py"]
    (tmp_path / ".runplaneignore").unlink()
    assert names(tmp_path) == [".gitignore", "notes.md", "train.py"]


def test_links_are_left_out(tmp_path: Path) -> None:
    tree(tmp_path, {"train.py": ""})
    os.symlink("/etc/passwd", tmp_path / "passwd")
    assert names(tmp_path) == ["train.py"]


def test_the_same_tree_packs_to_the_same_bytes_and_keeps_the_executable_bit(tmp_path: Path) -> None:
    first = tree(tmp_path / "a", {"train.py": "print(1)\n", "run.sh": "echo hi\n", "pkg/mod.py": "x = 1\n"})
    (first / "run.sh").chmod(0o755)
    second = tree(tmp_path / "b", {"pkg/mod.py": "x = 1\n", "run.sh": "echo hi\n", "train.py": "print(1)\n"})
    (second / "run.sh").chmod(0o755)
    os.utime(second / "train.py", (1, 1))  # another mtime changes nothing
    one, two = pack(first), pack(second)
    with one.archive, two.archive:
        assert (one.sha256, one.size, one.files) == (two.sha256, two.size, 3)
        data = one.archive.read()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["pkg/mod.py", "run.sh", "train.py"]
    assert members["run.sh"].mode == 0o755 and members["train.py"].mode == 0o644
    assert {m.mtime for m in members.values()} == {0}
    (second / "train.py").write_text("print(2)\n")
    changed = pack(second)
    changed.archive.close()
    assert changed.sha256 != one.sha256


def test_an_empty_or_missing_directory_is_refused(tmp_path: Path) -> None:
    tree(tmp_path, {"a.log": "", ".runplaneignore": "*\n"})
    with pytest.raises(CliError, match="holds no file"):
        pack(tmp_path)
    with pytest.raises(CliError, match="not a directory"):
        pack(tmp_path / "missing")


def test_sse_frames_are_parsed_with_comments_and_multi_line_data() -> None:
    lines = [
        "retry: 2000",
        "",
        ": keep-alive",
        "",
        "id: 7",
        "event: task_progress",
        'data: {"a":',
        "data: 1}",
        "",
    ]
    lines += ["id: 8", "event: task_complete", "data: {}", ""]
    assert list(sse_events(iter(lines))) == [
        ("7", "task_progress", '{"a":\n1}'),
        ("8", "task_complete", "{}"),
    ]
