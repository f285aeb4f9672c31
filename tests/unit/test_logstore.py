"""The task log store on real files: batches stored once, in order, gaps marked, torn appends repaired."""

from __future__ import annotations

from pathlib import Path

import pytest

from runplane.logstore import LogStore, _index_path, _read_index
from runplane.storage import Storage
from runplane.store.tables import TaskRow

pytestmark = pytest.mark.unit


def task(secrets: dict[str, str] | None = None) -> TaskRow:
    return TaskRow(id="t" * 32, secrets=secrets or {})


async def text(store: LogStore, task_id: str, attempt: int = 1) -> str:
    return b"".join([chunk async for chunk in store.read(task_id, attempt=attempt)]).decode()


@pytest.mark.anyio
async def test_a_batch_sent_again_is_stored_once_and_an_overlap_only_adds_what_is_new(tmp_path: Path) -> None:
    store = LogStore(Storage(tmp_path))
    row = task()
    first = await store.append(row, ["a", "b"], attempt=1, first_line=0)
    again = await store.append(row, ["a", "b"], attempt=1, first_line=0)
    overlap = await store.append(row, ["b", "c"], attempt=1, first_line=1)
    assert (first.written, again.written, again.skipped, overlap.written) == (2, 0, 2, 1)
    assert await text(store, row.id) == "a\nb\nc\n"


@pytest.mark.anyio
async def test_a_gap_is_marked_and_each_attempt_has_its_own_log_counted_from_zero(tmp_path: Path) -> None:
    store = LogStore(Storage(tmp_path))
    row = task()
    await store.append(row, ["a"], attempt=1, first_line=0)
    gap = await store.append(row, ["d"], attempt=1, first_line=3)
    assert gap.missing == 2
    second = await store.append(row, ["second attempt"], attempt=2, first_line=0)
    assert (second.written, second.missing) == (1, 0)
    assert await text(store, row.id) == (
        "a\n[runplane] 2 line(s) of output (lines 2-3 of this attempt) were not delivered by the worker\nd\n"
    )
    assert await text(store, row.id, attempt=2) == "second attempt\n"


@pytest.mark.anyio
async def test_an_append_cut_off_before_its_index_was_written_is_replaced_not_doubled(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    store = LogStore(storage)
    row = task()
    await store.append(row, ["a"], attempt=1, first_line=0)
    # A crash after writing part of the next batch, before its index: the worker sends that batch again.
    with storage.log_file(row.id).open("ab") as fh:
        fh.write(b"b\nc")
    await store.append(row, ["b", "c"], attempt=1, first_line=1)
    assert await text(store, row.id) == "a\nb\nc\n"
    index = _read_index(Path(storage.log_file(row.id)))
    assert index is not None and (index.attempt, index.lines) == (1, 3)
    assert _index_path(Path(storage.log_file(row.id))).exists()


@pytest.mark.anyio
async def test_secret_values_are_masked_on_the_way_in(tmp_path: Path) -> None:
    store = LogStore(Storage(tmp_path))
    row = task({"TOKEN": "s3cr3t-value"})
    await store.append(row, ["token is s3cr3t-value"], attempt=1, first_line=0)
    assert await text(store, row.id) == "token is ***\n"
