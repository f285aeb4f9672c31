"""The tamper-evident audit log: who did what, as a SHA-256 hash chain that an outside verifier can check.

Every audit event is one link of a chain. Its ``event_hash`` is::

    sha256( prev_hash as 64 ASCII hex digits || canonical JSON of the event )

where ``prev_hash`` is the ``event_hash`` of the event before it (64 zeros for the first event,
:data:`GENESIS_HASH`) and the canonical JSON (:func:`canonical_json`) covers every field of the event except
``prev_hash`` and ``event_hash``: ``sequence_num``, ``timestamp``, ``event_type``, ``user_id``,
``resource``, ``action``, ``success``, ``ip_address``, ``error`` and ``metadata``. So editing any field,
deleting, inserting or reordering events, or rewriting a hash breaks the chain at that event; docs/audit.md
states the form for outside verifiers.

Events are appended in the transaction of the change they record (runplane.store.audit.append), so an
event exists exactly when its change was committed. Who caused an event comes from :data:`current_actor`,
set when a request's API key is resolved; without one (the reaper, the CLI) the actor is ``system``.
No secret ever enters an event: metadata is built here from named, non-secret fields only, and free text
(failure messages) is redacted and stripped of the task's own secret values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from runplane.lifecycle import TaskStatus, shown_text
from runplane.redaction import REDACTED, redact_text

if TYPE_CHECKING:
    from runplane.store.audit import AuditStore
    from runplane.store.tables import AuditEventRow, TaskRow

GENESIS_HASH: Final = "0" * 64

JOB_QUEUED: Final = "job_queued"
JOB_REQUEUED: Final = "job_requeued"
JOB_ASSIGNED: Final = "job_assigned"
JOB_STARTED: Final = "job_started"
JOB_COMPLETED: Final = "job_completed"
JOB_FAILED: Final = "job_failed"
JOB_CANCELLED: Final = "job_cancelled"
AUTH_ATTEMPT: Final = "auth_attempt"
FILE_ACCESS: Final = "file_access"
SCHEDULER_DRAIN: Final = "scheduler_drain"
KEY_CREATED: Final = "key_created"
KEY_REVOKED: Final = "key_revoked"
AUDIT_VERIFIED: Final = "audit_verified"
PLUGIN_CONFIGURED: Final = "plugin_configured"
JUPYTER_STARTED: Final = "jupyter_started"
JUPYTER_STOPPED: Final = "jupyter_stopped"
EVENT_TYPES: Final = (
    JOB_QUEUED,
    JOB_REQUEUED,
    JOB_ASSIGNED,
    JOB_STARTED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_CANCELLED,
    AUTH_ATTEMPT,
    FILE_ACCESS,
    SCHEDULER_DRAIN,
    KEY_CREATED,
    KEY_REVOKED,
    AUDIT_VERIFIED,
    PLUGIN_CONFIGURED,
    JUPYTER_STARTED,
    JUPYTER_STOPPED,
)

SYSTEM_USER: Final = "system"
# Column widths of audit_events (runplane.store.tables.AuditEventRow); longer text is cut to fit.
_LIMITS: Final = {"user_id": 64, "resource": 1200, "action": 64, "ip_address": 64, "error": 1024}
# Integers beyond ±(2**53 - 1) lose precision in JavaScript verifiers; they are hashed as strings.
_MAX_SAFE_INTEGER: Final = 2**53 - 1
_MAX_METADATA_DEPTH: Final = 8
_MAX_METADATA_TEXT: Final = 4096


# --- who is acting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who caused what is being recorded: a user id, and the client address of their request if any."""

    user_id: str
    ip_address: str | None = None


current_actor: ContextVar[Actor | None] = ContextVar("runplane_audit_actor", default=None)


def actor() -> Actor:
    """The actor of the running request, or the server itself (``system``) outside a request."""
    return current_actor.get() or Actor(SYSTEM_USER)


def client_address(scope: Mapping[str, Any]) -> str | None:
    """The client's IP address from an ASGI scope (as the server saw it), or None."""
    client = scope.get("client")
    return str(client[0])[: _LIMITS["ip_address"]] if client else None


# --- the canonical form -----------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """An instant as hashed and shown: UTC, always six fractional digits, ``Z`` (``2026-11-29T23:55:00.000000Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean_text(text: str, limit: int | None = None) -> str:
    # A lone surrogate (valid in a Python str, from JSON "\ud800") cannot be encoded as UTF-8, and
    # PostgreSQL text cannot hold NUL (a request path may carry %00): both become U+FFFD.
    if text.isascii() and "\x00" not in text:
        # The common case, checked in C: nothing to replace (an ASCII text holds no surrogate). A bulk
        # append (a sweep's 10,000 tasks) cleans about 20 texts per event. A str subclass (a StrEnum)
        # becomes a plain str, as the re-encoding below makes it.
        cleaned = text if type(text) is str else str.__str__(text)
    else:
        cleaned = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return cleaned if limit is None or len(cleaned) <= limit else cleaned[:limit]


def clean_metadata(value: Any, depth: int = 0) -> Any:
    """`value` made hashable in the canonical form: JSON types only, no floats, safe integers, UTF-8 text.

    Floats are written as their Python ``repr`` strings (number formatting differs between JSON
    libraries, strings do not), integers outside ±(2**53 - 1) as decimal strings, other objects as
    ``str()``; keys become strings. Deeper than 8 levels, a value is replaced by its ``str()``.
    """
    kind = type(value)
    # Exact types first (the values task events hold), then the general rules below.
    if kind is str:
        return _clean_text(value, _MAX_METADATA_TEXT)
    if value is None or kind is bool:
        return value
    if kind is dict and depth < _MAX_METADATA_DEPTH:
        return {
            (
                key
                if type(key) is str and len(key) <= 256 and key.isascii() and "\x00" not in key
                else _clean_text(str(key), 256)
            ): clean_metadata(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _clean_text(value, _MAX_METADATA_TEXT)
    if depth >= _MAX_METADATA_DEPTH:
        return _clean_text(str(value), _MAX_METADATA_TEXT)
    if isinstance(value, Mapping):
        return {_clean_text(str(key), 256): clean_metadata(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_metadata(item, depth + 1) for item in value]
    return _clean_text(str(value), _MAX_METADATA_TEXT)


def canonical_json(document: Any) -> bytes:
    """The canonical JSON bytes of a document: keys sorted, no whitespace, UTF-8, non-ASCII kept as is.

    For the values events hold (no floats, integers within ±(2**53 - 1), string keys; see
    :func:`clean_metadata`) this is the JSON Canonicalization Scheme of RFC 8785 as far as keys without
    characters beyond U+FFFF go. Raises ValueError for NaN or infinity.
    """
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def chain_hash(prev_hash: str, document: Mapping[str, Any]) -> str:
    """``event_hash``: SHA-256 (lowercase hex) of ``prev_hash``'s ASCII digits followed by the document's canonical JSON."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical_json(document))
    return digest.hexdigest()


def event_document(row: AuditEventRow) -> dict[str, Any]:
    """The hashed fields of a stored event, by their contract names (the AuditEvent minus its two hashes)."""
    return {
        "sequence_num": row.seq,
        "timestamp": format_timestamp(row.created_at),
        "event_type": row.event_type,
        "user_id": row.user_id,
        "resource": row.resource,
        "action": row.action,
        "success": row.success,
        "ip_address": row.ip_address,
        "error": row.error,
        "metadata": row.metadata_,
    }


def event_view(row: AuditEventRow) -> dict[str, Any]:
    """A stored event as the contract's AuditEvent."""
    return {**event_document(row), "prev_hash": row.prev_hash, "event_hash": row.event_hash}


# --- what to record ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """An event to append, before it has a sequence number, time and hashes.

    `user_id` / `ip_address` default to the current actor's; `metadata` must hold no secret.
    """

    event_type: str
    action: str
    resource: str | None = None
    success: bool = True
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    ip_address: str | None = None
    use_actor: bool = True

    def __post_init__(self) -> None:
        if self.event_type not in EVENT_TYPES:
            raise ValueError(f"unknown audit event type {self.event_type!r}")

    def fields(self) -> dict[str, Any]:
        """The entry's stored fields (actor filled in, text cut to the column widths, metadata cleaned)."""
        who = actor() if self.use_actor else None
        user_id = self.user_id if self.user_id is not None else (who.user_id if who else None)
        ip_address = self.ip_address if self.ip_address is not None else (who.ip_address if who else None)
        return {
            "event_type": self.event_type,
            "user_id": _clip(user_id, "user_id"),
            "resource": _clip(self.resource, "resource"),
            "action": _clip(self.action, "action") or "",
            "success": self.success,
            "ip_address": _clip(ip_address, "ip_address"),
            "error": _clip(self.error, "error"),
            "metadata": clean_metadata(self.metadata if type(self.metadata) is dict else dict(self.metadata)),
        }


def _clip(text: str | None, column: str) -> str | None:
    return None if text is None else _clean_text(text, _LIMITS[column])


def scrub(text: str | None, secret_values: Mapping[str, Any] | None = None) -> str | None:
    """Free text fit for the audit log: known secret values removed, secret-looking values redacted."""
    if text is None:
        return None
    for value in (secret_values or {}).values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, REDACTED)
    return _redact_short(text) if len(text) <= 1024 else redact_text(text)


# The same few texts come back in bulk (a sweep's cancel scrubs "Cancelled before it started" once per
# task: 10,000 times); redact_text is a pure function of its text, so short ones are remembered.
_redact_short: Final = functools.lru_cache(maxsize=256)(redact_text)


_TASK_END_TYPES: Final[dict[str, str]] = {
    TaskStatus.completed: JOB_COMPLETED,
    TaskStatus.failed: JOB_FAILED,
    TaskStatus.cancelled: JOB_CANCELLED,
}


def task_entry(row: TaskRow, *, previous: str | None, worker_id: str | None) -> AuditEntry | None:
    """The audit event for a task's status change from `previous` to `row.status`, or None (collecting).

    queued (new) → job_queued; queued again → job_requeued; preparing (a worker claimed it) →
    job_assigned; running → job_started; completed / failed / cancelled → job_completed / job_failed /
    job_cancelled. The event's user is whoever caused the change; the task's owner is in the metadata.
    A Jupyter service (a task of kind `service`) records jupyter_started when it is requested and
    jupyter_stopped when it ends, instead of job_queued and job_completed / job_failed / job_cancelled.
    """
    status = row.status
    metadata: dict[str, Any] = {
        "task_id": row.id,
        "owner": row.user_id,
        "status": status,
        "previous_status": previous,
        "worker_id": worker_id,
    }
    error = None
    success = True
    if status == TaskStatus.queued and previous is None:
        event_type, action = JOB_QUEUED, "submit"
        metadata.update(
            job_name=shown_text(row, "job_name"),
            priority=row.priority,
            experiment_id=row.experiment_id,
            model_id=row.model_id,
            snapshot_id=row.snapshot_id,
            cpu=row.cpu,
            gpu=row.gpu,
            gpu_type=shown_text(row, "gpu_type"),
            node_count=row.node_count,
        )
    elif status == TaskStatus.queued:
        event_type, action = JOB_REQUEUED, "requeue"
        metadata["retry_count"] = row.retry_count
    elif status == TaskStatus.preparing:
        event_type, action = JOB_ASSIGNED, "claim"
    elif status == TaskStatus.running:
        event_type, action = JOB_STARTED, "start"
    elif status in _TASK_END_TYPES:
        event_type, action = _TASK_END_TYPES[status], "finish"
        success = status == TaskStatus.completed
        metadata.update(
            exit_code=row.exit_code, failure_reason=row.failure_reason, cancelled_by=row.cancelled_by
        )
        if not success:
            error = scrub(row.failure_message or row.failure_reason, row.secrets)
    else:
        return None
    if row.kind == "service":
        # A Jupyter service is a task of kind `service`: its start and its end are the jupyter_* events.
        if event_type == JOB_QUEUED:
            event_type, action = JUPYTER_STARTED, "start_service"
        elif status in _TASK_END_TYPES:
            event_type, action = JUPYTER_STOPPED, "stop_service"
    return AuditEntry(
        event_type=event_type,
        action=action,
        resource=f"task/{row.id}",
        success=success,
        error=error,
        metadata=metadata,
    )


# --- checking the chain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The result of checking the chain: `first_tampered` and `reason` are None when it is valid."""

    valid: bool
    total_events: int
    first_tampered: int | None
    reason: str | None
    chain_root_hash: str
    verified_at: datetime


class ChainChecker:
    """Checks events fed in sequence order, one at a time (constant memory), then the stored head.

    The first problem found is kept: ``missing`` (no event with the next number: deleted or renumbered),
    ``link`` (its prev_hash is not the previous event's hash), ``hash`` (its recomputed hash differs
    from the stored one: a field or the hash was changed), ``head`` (the stored head does not end the chain).
    """

    def __init__(self) -> None:
        self.checked = 0
        self.last_hash = GENESIS_HASH
        self.first_tampered: int | None = None
        self.reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.first_tampered is not None

    def _fail(self, seq: int, reason: str) -> bool:
        self.first_tampered, self.reason = seq, reason
        return False

    def feed(self, document: Mapping[str, Any], prev_hash: str, event_hash: str) -> bool:
        """Checks the next event (its hashed fields and both hashes); False once the chain is broken."""
        if self.failed:
            return False
        seq = int(document["sequence_num"])
        expected = self.checked + 1
        if seq != expected:
            return self._fail(expected, "missing")
        if prev_hash != self.last_hash:
            return self._fail(seq, "link")
        if chain_hash(prev_hash, document) != event_hash:
            return self._fail(seq, "hash")
        self.checked, self.last_hash = seq, event_hash
        return True

    def finish(self, head_seq: int, head_hash: str) -> None:
        """Compares the end of the chain with the stored head (sequence number and hash)."""
        if self.failed:
            return
        if self.checked < head_seq:
            self._fail(self.checked + 1, "missing")
        elif head_hash != self.last_hash:
            self._fail(max(head_seq, 1), "head")


# --- the service ------------------------------------------------------------------------------------


class AuditLog:
    """Reading, verifying and writing the audit log outside other changes (one process-wide instance)."""

    def __init__(self, store: AuditStore, *, chunk_size: int = 2000) -> None:
        self.store = store
        self.chunk_size = chunk_size

    async def record(self, entry: AuditEntry) -> None:
        """Appends an event in a transaction of its own (for what changes nothing else: reads, refusals)."""
        await self.store.record(entry)

    async def file_access(self, resource: str, *, metadata: Mapping[str, Any]) -> None:
        """A download of a stored file (an artifact, a snapshot) by the current actor."""
        await self.record(
            AuditEntry(event_type=FILE_ACCESS, action="download", resource=resource, metadata=metadata)
        )

    async def auth_refused(
        self,
        *,
        ip_address: str | None,
        resource: str | None,
        reason: str,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """A refused API key (unknown or revoked: no user) or a key whose role may not call the operation.

        The key itself is never recorded, nor any part of it.
        """
        await self.record(
            AuditEntry(
                event_type=AUTH_ATTEMPT,
                action="authenticate",
                resource=resource,
                success=False,
                error=reason,
                user_id=user_id,
                ip_address=ip_address,
                use_actor=False,
                metadata=metadata or {},
            )
        )

    async def page(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        event_type: str | None,
        user_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of events in chain order, as AuditEvent documents, and how many match in all."""
        rows, total = await self.store.page(
            since=since, until=until, event_type=event_type, user_id=user_id, limit=limit, offset=offset
        )
        return [event_view(row) for row in rows], total

    async def chain_root(self) -> tuple[str, datetime | None, int]:
        """The stored head: the newest event's hash, its time (None when empty) and the event count."""
        head = await self.store.head()
        return head.event_hash, head.updated_at, head.seq

    async def verify(self) -> Verification:
        """Recomputes the chain from the stored rows, in chunks, then records an `audit_verified` event.

        The head is read first and only events up to its number are checked, so events appended while
        the check runs neither count nor break it.
        """
        head = await self.store.head()
        checker = ChainChecker()
        async for chunk in self.store.chunks(upto=head.seq, size=self.chunk_size):
            for document, prev_hash, event_hash in chunk:
                if not checker.feed(document, prev_hash, event_hash):
                    break
            if checker.failed:
                break
        checker.finish(head.seq, head.event_hash)
        result = Verification(
            valid=not checker.failed,
            total_events=head.seq,
            first_tampered=checker.first_tampered,
            reason=checker.reason,
            chain_root_hash=head.event_hash,
            verified_at=datetime.now(UTC),
        )
        await self.record(
            AuditEntry(
                event_type=AUDIT_VERIFIED,
                action="verify",
                resource="audit",
                success=result.valid,
                error=None if result.valid else f"chain broken at {result.first_tampered} ({result.reason})",
                metadata={
                    "valid": result.valid,
                    "total_events": result.total_events,
                    "first_tampered": result.first_tampered,
                    "reason": result.reason,
                    "chain_root_hash": result.chain_root_hash,
                },
            )
        )
        return result
