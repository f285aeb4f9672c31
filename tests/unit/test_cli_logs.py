"""`runplane logs --json`: log bytes as they arrive become one JSON object per whole line."""

from __future__ import annotations

import json

import pytest

from runplane.cli_tasks import LogWriter

pytestmark = pytest.mark.unit


def test_lines_split_across_chunks_are_printed_once_whole(capsys: pytest.CaptureFixture[str]) -> None:
    out = LogWriter("t1", json_lines=True)
    for chunk in (b"sta", b"rted\nstill", " here \u00e9\r\n".encode(), b"\nno newline at the end"):
        out.write(chunk)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"task_id": "t1", "text": "started"},
        {"task_id": "t1", "text": "still here \u00e9"},
        {"task_id": "t1", "text": ""},
    ]  # the unfinished last line waits for the rest, or for the end
    out.close()
    assert json.loads(capsys.readouterr().out) == {"task_id": "t1", "text": "no newline at the end"}


def test_without_json_the_bytes_pass_through(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = LogWriter("t3", json_lines=False)
    out.write(b"partial")
    out.write(b" line\n")
    out.close()
    assert capsysbinary.readouterr().out == b"partial line\n"
