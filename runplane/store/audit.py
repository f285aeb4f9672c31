"""Queries on the audit chain: appending a link under the head's lock, pages, and chunked reads for verify.

Appending is serialised by the one-row chain head (`audit_head`): an append claims the next number with
``UPDATE audit_head SET seq = seq + 1 ... RETURNING seq, event_hash``, which on PostgreSQL locks the row
until the appending transaction ends and on SQLite takes the database's write lock. The new event takes
that number and links to that hash; inserting it gives the head the new hash (a trigger, migration 0013),
all in the caller's transaction: a rolled-back change leaves neither its event nor a used number behind,
and two appenders (in one process or several) can never take the same number or skip one.

On SQLite an append is one statement when it can be: SQLite has one writer, so an INSERT that checks the
head it links to (``INSERT ... SELECT ... WHERE EXISTS (head is still seq n, hash h)``) cannot be
overtaken between the check and the write. Each process keeps the head its last append left (a hint per
engine, never trusted: the check is); when another process (``serve --workers 2``) or a rolled-back
transaction has moved the head since, the check adds nothing and the append claims a number as above.
PostgreSQL's appenders run side by side, so there the claim's row lock is what orders them.

`append_many` appends a batch (a sweep's tasks) the same way with one claim: the head moves by the
batch's size in one UPDATE (so the numbers are consecutive and no other appender can take one in
between), the links are hashed in order in Python, and the events go in with one multi-row INSERT, whose
last event gives the head its hash.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from anyio.lowlevel import checkpoint
from sqlalchemy import CursorResult, Table, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from runplane.audit import AuditEntry, chain_hash, event_document, format_timestamp
from runplane.store.database import Database
from runplane.store.tables import AuditEventRow, AuditHeadRow, utcnow

HEAD_ID = 1

# A chunk of verify's input: (hashed document, prev_hash, event_hash) per event, in sequence order.
Chunk = list[tuple[dict[str, Any], str, str]]


class MissingChainHead(RuntimeError):
    """The audit_head row is gone: the database was not migrated by runplane, or was tampered with."""


_HEAD = cast(Table, AuditHeadRow.__table__)
_EVENTS = cast(Table, AuditEventRow.__table__)
# Built once, Core statements on the tables (not the ORM entities): an append runs on every task
# transition, and ORM bulk UPDATEs plus a unit-of-work flush cost about twice as much CPU (2.3 ms
# against 1.2 ms per append on SQLite; docs/benchmarks.md, "The API's fixed cost").
# Claims the next ``claimed`` numbers: the head's new (last claimed) seq and the hash to link after.
_CLAIM = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(seq=_HEAD.c.seq + bindparam("claimed", type_=_HEAD.c.seq.type))
    .returning(_HEAD.c.seq, _HEAD.c.event_hash)
)
_INSERT_ONE = insert(_EVENTS)
# SQLite's one-statement append: the event, written only while the head is still the one it links to.
_INSERT_AFTER_HEAD = insert(_EVENTS).from_select(
    [column.name for column in _EVENTS.c],
    select(*(bindparam(column.name, type_=column.type) for column in _EVENTS.c)).where(
        exists().where(
            _HEAD.c.id == HEAD_ID,
            _HEAD.c.seq == bindparam("head_seq", type_=_HEAD.c.seq.type),
            _HEAD.c.event_hash == bindparam("head_hash", type_=_HEAD.c.event_hash.type),
        )
    ),
)
# (seq, event_hash) of the head this process's last append on an engine left: a hint (see the module
# docstring), SQLite only.
_last_heads: weakref.WeakKeyDictionary[AsyncEngine, tuple[int, str]] = weakref.WeakKeyDictionary()
# Entries of a batch (`append_many`) whose Python work runs between two awaits.
_CHUNK = 500


def _linked(seq: int, now: datetime, values: dict[str, Any], prev_hash: str) -> dict[str, Any]:
    """The stored event `seq` for an entry's `values`, linked after `prev_hash`: its row by the table's
    column names, ``event_hash`` included.

    The writer hashes the document the verifier rebuilds from the stored row (`event_document` reads the
    ORM's attribute names, ``metadata_`` for the ``metadata`` column): one definition of it for `append`
    and `append_many`.
    """
    row: dict[str, Any] = {
        "seq": seq,
        "created_at": now,
        "event_type": values["event_type"],
        "user_id": values["user_id"],
        "resource": values["resource"],
        "action": values["action"],
        "success": values["success"],
        "ip_address": values["ip_address"],
        "error": values["error"],
        "metadata_": values["metadata"],
        "prev_hash": prev_hash,
    }
    row["event_hash"] = chain_hash(prev_hash, event_document(SimpleNamespace(**row)))  # type: ignore[arg-type]
    row["metadata"] = row.pop("metadata_")
    return row


async def append(session: AsyncSession, entry: AuditEntry) -> int:
    """Appends `entry` as the next link of the chain, in the caller's transaction (written on its commit);
    its sequence number.

    Call it after the change it records, so that on PostgreSQL the head's row lock is held only from
    here to the commit. Raises MissingChainHead when there is no head row.
    """
    # The caller's pending ORM changes go first (Core statements do not autoflush), so the change is
    # written before the head is locked, as the docstring above promises. A caller that wrote with Core
    # statements only (a task's submission) has none: the flush (a greenlet hop) is skipped then.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    values = entry.fields()  # before the lock: the actor, clipping, metadata
    engine = _sqlite_engine(session)
    last = _last_heads.get(engine) if engine is not None else None
    if engine is not None and last is not None:
        # Taken after reading the hint: if the check passes, the head's own time was taken before that.
        now = utcnow()
        row = _linked(last[0] + 1, now, values, last[1])
        written = await session.execute(
            _INSERT_AFTER_HEAD, {**row, "head_seq": last[0], "head_hash": last[1]}
        )
        if cast(CursorResult[Any], written).rowcount == 1:
            _last_heads[engine] = (row["seq"], row["event_hash"])
            return int(row["seq"])
    found = (await session.execute(_CLAIM, {"claimed": 1})).first()
    if found is None:
        raise MissingChainHead("the audit chain head (audit_head, id 1) is missing; run the migrations")
    seq, prev_hash = int(found[0]), str(found[1])
    # Taken after the lock, so timestamps never go backwards along the chain (on one clock).
    now = utcnow()
    row = _linked(seq, now, values, prev_hash)
    await session.execute(_INSERT_ONE, row)  # the head takes its hash (migration 0013)
    if engine is not None:
        _last_heads[engine] = (seq, row["event_hash"])
    return seq


def _sqlite_engine(session: AsyncSession) -> AsyncEngine | None:
    """The engine `session` writes through when it is SQLite's (whose appends keep a head hint), else None."""
    bind = session.bind
    return bind if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite" else None


async def append_many(session: AsyncSession, entries: Sequence[AuditEntry]) -> int:
    """Appends `entries`, in order, as the next links of the chain, in the caller's transaction; how many.

    One claim of ``len(entries)`` numbers under the head's lock (as `append` claims one), so the batch is
    gap-free and contiguous however many writers append at once; one INSERT of all the events; the head
    gets the last event's hash. The events share one timestamp (taken after the lock). Raises
    MissingChainHead when there is no head row.
    """
    if not entries:
        return 0
    # A batch is up to 10,000 entries (a sweep's tasks): its Python work (cleaning, hashing, the INSERT's
    # parameters) runs _CHUNK entries between two awaits, so that the event loop is never held for the
    # whole batch.
    fields = []  # before the lock: the actor, clipping, metadata
    for start in range(0, len(entries), _CHUNK):
        if start:
            await checkpoint()
        fields += [entry.fields() for entry in entries[start : start + _CHUNK]]
    found = (await session.execute(_CLAIM, {"claimed": len(entries)})).first()
    if found is None:
        raise MissingChainHead("the audit chain head (audit_head, id 1) is missing; run the migrations")
    first = int(found[0]) - len(entries) + 1
    prev_hash = str(found[1])
    now = utcnow()
    for start in range(0, len(fields), _CHUNK):
        rows: list[dict[str, Any]] = []
        for offset, values in enumerate(fields[start : start + _CHUNK], start):
            row = _linked(first + offset, now, values, prev_hash)
            prev_hash = row["event_hash"]
            rows.append(row)
        # The last chunk's last event gives the head its hash (migration 0013).
        await session.execute(_INSERT_ONE, rows)
    engine = _sqlite_engine(session)
    if engine is not None:  # the next `append` can be one statement
        _last_heads[engine] = (first + len(fields) - 1, prev_hash)
    return len(fields)


_DOCUMENT_COLUMNS = (
    AuditEventRow.seq,
    AuditEventRow.created_at,
    AuditEventRow.event_type,
    AuditEventRow.user_id,
    AuditEventRow.resource,
    AuditEventRow.action,
    AuditEventRow.success,
    AuditEventRow.ip_address,
    AuditEventRow.error,
    AuditEventRow.metadata_,
    AuditEventRow.prev_hash,
    AuditEventRow.event_hash,
)


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, entry: AuditEntry) -> int:
        """Appends `entry` in a transaction of its own; its sequence number."""
        async with self.db.session() as session:
            return await append(session, entry)

    async def head(self) -> AuditHeadRow:
        async with self.db.reader() as session:
            row = await session.get(AuditHeadRow, HEAD_ID, populate_existing=True)
        if row is None:
            raise MissingChainHead("the audit chain head (audit_head, id 1) is missing; run the migrations")
        return row

    async def page(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        event_type: str | None,
        user_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[AuditEventRow], int]:
        """Events in sequence order: at or after `since`, before `until`, of a type, caused by a user."""
        conditions = []
        if since is not None:
            conditions.append(AuditEventRow.created_at >= since)
        if until is not None:
            conditions.append(AuditEventRow.created_at < until)
        if event_type is not None:
            conditions.append(AuditEventRow.event_type == event_type)
        if user_id is not None:
            conditions.append(AuditEventRow.user_id == user_id)
        async with self.db.reader() as session:
            total = await session.scalar(select(func.count()).select_from(AuditEventRow).where(*conditions))
            rows = await session.scalars(
                select(AuditEventRow)
                .where(*conditions)
                .order_by(AuditEventRow.seq)
                .limit(limit)
                .offset(offset)
            )
            return rows.all(), int(total or 0)

    async def chunks(self, *, upto: int, size: int) -> AsyncIterator[Chunk]:
        """Events 1..`upto` in sequence order, `size` at a time (keyset reads: memory stays constant)."""
        after = 0
        while after < upto:
            async with self.db.reader() as session:
                result = await session.execute(
                    select(*_DOCUMENT_COLUMNS)
                    .where(AuditEventRow.seq > after, AuditEventRow.seq <= upto)
                    .order_by(AuditEventRow.seq)
                    .limit(size)
                )
                rows = result.all()
            if not rows:
                return
            chunk: Chunk = []
            for (
                seq,
                created_at,
                event_type,
                user_id,
                resource,
                action,
                success,
                ip,
                error,
                meta,
                prev,
                own,
            ) in rows:
                document = {
                    "sequence_num": seq,
                    "timestamp": format_timestamp(created_at),
                    "event_type": event_type,
                    "user_id": user_id,
                    "resource": resource,
                    "action": action,
                    "success": bool(success),
                    "ip_address": ip,
                    "error": error,
                    "metadata": meta,
                }
                chunk.append((document, prev, own))
            after = int(rows[-1][0])
            yield chunk
