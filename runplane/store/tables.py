"""The database schema. Alembic migrations must produce exactly this (tests/integration/test_migrations.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (Index(None, "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    commit_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # The queue in claim order within a priority level (`runplane.store.claim.choice_statement`).
        Index(None, "status", "priority", "queued_at", "id"),
        Index(None, "user_id", "created_at"),
        Index(None, "experiment_id"),
        Index(None, "sweep_id", "variation_index", "trial"),
        Index(None, "reservation_id"),
        Index(None, "kind", "user_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    # Stored as submitted, secrets and all: needed to run the task. Responses redact them.
    entrypoint: Mapped[str | None] = mapped_column(Text)
    args: Mapped[list[Any]]
    model_id: Mapped[str | None] = mapped_column(String(64))
    inputs: Mapped[dict[str, Any]]
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    datasets: Mapped[list[Any]]
    dataset_specs: Mapped[list[Any]]
    cpu: Mapped[int] = mapped_column(Integer)
    memory_gb: Mapped[float] = mapped_column(Float)
    gpu: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str | None] = mapped_column(String(64))
    node_count: Mapped[int] = mapped_column(Integer)
    reservation_id: Mapped[str | None] = mapped_column(String(64))
    # A multi-node task's rendezvous for its current attempt (runplane.gang): rank 0's worker address and
    # the port chosen for it; None for a single-node task or while queued.
    master_addr: Mapped[str | None] = mapped_column(String(255))
    master_port: Mapped[int | None] = mapped_column(Integer)
    plugin_configs: Mapped[dict[str, Any]]
    max_retries: Mapped[int] = mapped_column(Integer)
    retry_count: Mapped[int] = mapped_column(Integer)
    # The retry policy (runplane.retries): failure reasons and exit codes retried, and the first backoff.
    retry_on: Mapped[list[Any]]
    retry_on_exit_codes: Mapped[list[Any]]
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer)
    # A retried task is not claimed before this (its backoff); None: claimable at once.
    not_before: Mapped[datetime | None]
    # The ended earlier attempts, oldest first (runplane.retries.ended_attempt gives their shape).
    attempts: Mapped[list[Any]]
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    env: Mapped[dict[str, Any]]
    # The secrets' values, only while the task may still run: erased (``{}``) when it reaches a terminal
    # state (runplane.lifecycle.erase_secrets); a retry takes them again. Their names stay in secret_names.
    secrets: Mapped[dict[str, Any]]
    secret_names: Mapped[list[Any]]
    # entrypoint/args/env with the secret values redacted, kept from when the values were erased (so views
    # still hide a value passed literally there); None while the values are stored or there were none.
    redacted_view: Mapped[dict[str, Any] | None]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    experiment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("experiments.id", ondelete="SET NULL")
    )
    run_label: Mapped[str | None] = mapped_column(String(128))
    random_seed: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(String(1024))
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    failure_message: Mapped[str | None] = mapped_column(String(1024))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(64))
    # `service`: a long-running server (a Jupyter service) whose worker reports where it answers.
    kind: Mapped[str] = mapped_column(String(16), default="task", server_default="task")
    service_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    queued_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # A sweep's task: its sweep, repeat (1-based), variation (0-based) and that variation's values; the
    # numbers of its results' summary are kept once it completes (runplane.sweeps).
    sweep_id: Mapped[str | None] = mapped_column(String(32))
    trial: Mapped[int | None] = mapped_column(Integer)
    variation_index: Mapped[int | None] = mapped_column(Integer)
    variation: Mapped[dict[str, Any] | None]
    result_summary: Mapped[dict[str, Any] | None]
    # Each tracking plugin enabled for the task, as set up at its claim (runplane.plugins): status, url,
    # last check, run id. None before.
    plugin_status: Mapped[dict[str, Any] | None]
    # True from the claim that set its plugins up until they are wound up after it ended (statuses
    # `stopped`, MLflow run ended): the tasks whose plugin status the supervisor still tends.
    plugins_open: Mapped[bool | None] = mapped_column(Boolean, index=True)


class SweepRow(Base):
    """A parameter sweep: one task template run once per variation and repeat (runplane.sweeps)."""

    __tablename__ = "sweeps"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        Index(None, "user_id", "idempotency_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    job_name: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[list[Any]]
    variation_count: Mapped[int] = mapped_column(Integer)
    repeats: Mapped[int] = mapped_column(Integer)
    random_seed: Mapped[int] = mapped_column(BigInteger)
    task_count: Mapped[int] = mapped_column(Integer)
    # Set when the sweep was submitted with an Idempotency-Key: the key and the request's fingerprint.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    task_id: Mapped[str] = mapped_column(String(32), ForeignKey("tasks.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class WorkerRow(Base):
    __tablename__ = "workers"
    __table_args__ = (Index(None, "status", "lease_expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The worker key's user that registered this worker: only it may act as this worker.
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255))
    # Where other workers reach it (a multi-node task's MASTER_ADDR when its rank 0 runs here).
    address: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    cpu_cores: Mapped[int] = mapped_column(Integer)
    memory_gb: Mapped[float] = mapped_column(Float)
    gpus: Mapped[list[Any]]
    slots: Mapped[int] = mapped_column(Integer)
    connected_at: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    lease_expires_at: Mapped[datetime]
    drain_requested_at: Mapped[datetime | None]
    offline_at: Mapped[datetime | None]


class TaskPartRow(Base):
    """One part (rank) of a multi-node task's attempt, placed on one worker (runplane.gang).

    All parts of an attempt are inserted together, in the transaction that moves the task to
    ``preparing``: a gang is placed whole or not at all. ``delivered``: the part was handed to its worker
    in a claim answer. ``released``: the worker no longer runs it (it ended and was reported, or the
    worker stopped it after the gang ended, or the worker is gone); until then the part's resources
    count as used on that worker.
    """

    __tablename__ = "task_parts"
    __table_args__ = (Index(None, "worker_id", "released"),)

    task_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    delivered: Mapped[bool] = mapped_column(Boolean)
    released: Mapped[bool] = mapped_column(Boolean)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReservationRow(Base):
    """Capacity held for one user on `node_count` workers (the per-node amounts below), Slurm style."""

    __tablename__ = "reservations"
    __table_args__ = (Index(None, "user_id", "created_at"), Index(None, "status", "expires_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    # Stored: active, expired or cancelled. `claimed` is derived (active with a task of it running).
    status: Mapped[str] = mapped_column(String(16))
    gpu_count: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str | None] = mapped_column(String(64))
    node_count: Mapped[int] = mapped_column(Integer)
    cpu: Mapped[int] = mapped_column(Integer)
    memory_gb: Mapped[float] = mapped_column(Float)
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ReservationWorkerRow(Base):
    """One node of a reservation: the worker its per-node capacity is held on."""

    __tablename__ = "reservation_workers"
    __table_args__ = (Index(None, "worker_id"),)

    reservation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("reservations.id", ondelete="CASCADE"), primary_key=True
    )
    worker_id: Mapped[str] = mapped_column(String(32), primary_key=True)


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    task_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    # The task's attempt that wrote it (1 = the first run); each attempt keeps its own files.
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class EventRow(Base):
    """An append-only log of what happened, read by every API process (live streams, metrics)."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "task_id", "id"), Index(None, "created_at"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class AuditEventRow(Base):
    """One link of the tamper-evident audit chain (runplane.audit); rows are only ever appended."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "event_type", "seq"),
        Index(None, "user_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[datetime]
    event_type: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(String(1200))
    action: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(1024))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The audit chain's head: one row (id 1) with the last sequence number and hash.

    Every append updates it first, in the appending transaction: the row lock (PostgreSQL) or the write
    lock (SQLite) it takes is what serialises appenders, so sequence numbers have no gaps or duplicates.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None]


class PluginRow(Base):
    """A tracking plugin's configuration as an admin set it (runplane.plugins); no row: the default.

    `secrets` holds the secret settings (API keys, passwords, tokens), apart from `settings` so that no
    code path that shows a configuration can show them by accident.
    """

    __tablename__ = "plugins"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]]
    secrets: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
