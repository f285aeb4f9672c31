from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.duration_summary import DurationSummary
    from ..models.metrics_snapshot_connections import MetricsSnapshotConnections
    from ..models.metrics_snapshot_events import MetricsSnapshotEvents
    from ..models.metrics_snapshot_http import MetricsSnapshotHttp
    from ..models.metrics_snapshot_tasks import MetricsSnapshotTasks
    from ..models.metrics_snapshot_workers import MetricsSnapshotWorkers


T = TypeVar("T", bound="MetricsSnapshot")


@_attrs_define
class MetricsSnapshot:
    """The figures of `/metrics`, as JSON.

    Attributes:
        http (MetricsSnapshotHttp): Requests served, by operation and status, and their total latency in seconds.
        tasks (MetricsSnapshotTasks): Tasks by status.
        queue_depth (int):
        workers (MetricsSnapshotWorkers): Workers by state.
        events (MetricsSnapshotEvents):
        connections (MetricsSnapshotConnections):
        timestamp (datetime.datetime):
        task_run_seconds (DurationSummary | Unset):
        task_wait_seconds (DurationSummary | Unset):
        dispatch_latency_seconds (DurationSummary | Unset):
    """

    http: MetricsSnapshotHttp
    tasks: MetricsSnapshotTasks
    queue_depth: int
    workers: MetricsSnapshotWorkers
    events: MetricsSnapshotEvents
    connections: MetricsSnapshotConnections
    timestamp: datetime.datetime
    task_run_seconds: DurationSummary | Unset = UNSET
    task_wait_seconds: DurationSummary | Unset = UNSET
    dispatch_latency_seconds: DurationSummary | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        http = self.http.to_dict()

        tasks = self.tasks.to_dict()

        queue_depth = self.queue_depth

        workers = self.workers.to_dict()

        events = self.events.to_dict()

        connections = self.connections.to_dict()

        timestamp = self.timestamp.isoformat()

        task_run_seconds: dict[str, Any] | Unset = UNSET
        if not isinstance(self.task_run_seconds, Unset):
            task_run_seconds = self.task_run_seconds.to_dict()

        task_wait_seconds: dict[str, Any] | Unset = UNSET
        if not isinstance(self.task_wait_seconds, Unset):
            task_wait_seconds = self.task_wait_seconds.to_dict()

        dispatch_latency_seconds: dict[str, Any] | Unset = UNSET
        if not isinstance(self.dispatch_latency_seconds, Unset):
            dispatch_latency_seconds = self.dispatch_latency_seconds.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "http": http,
                "tasks": tasks,
                "queue_depth": queue_depth,
                "workers": workers,
                "events": events,
                "connections": connections,
                "timestamp": timestamp,
            }
        )
        if task_run_seconds is not UNSET:
            field_dict["task_run_seconds"] = task_run_seconds
        if task_wait_seconds is not UNSET:
            field_dict["task_wait_seconds"] = task_wait_seconds
        if dispatch_latency_seconds is not UNSET:
            field_dict["dispatch_latency_seconds"] = dispatch_latency_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.duration_summary import DurationSummary  # noqa: PLC0415
        from ..models.metrics_snapshot_connections import MetricsSnapshotConnections  # noqa: PLC0415
        from ..models.metrics_snapshot_events import MetricsSnapshotEvents  # noqa: PLC0415
        from ..models.metrics_snapshot_http import MetricsSnapshotHttp  # noqa: PLC0415
        from ..models.metrics_snapshot_tasks import MetricsSnapshotTasks  # noqa: PLC0415
        from ..models.metrics_snapshot_workers import MetricsSnapshotWorkers  # noqa: PLC0415

        d = dict(src_dict)
        http = MetricsSnapshotHttp.from_dict(d.pop("http"))

        tasks = MetricsSnapshotTasks.from_dict(d.pop("tasks"))

        queue_depth = d.pop("queue_depth")

        workers = MetricsSnapshotWorkers.from_dict(d.pop("workers"))

        events = MetricsSnapshotEvents.from_dict(d.pop("events"))

        connections = MetricsSnapshotConnections.from_dict(d.pop("connections"))

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        _task_run_seconds = d.pop("task_run_seconds", UNSET)
        task_run_seconds: DurationSummary | Unset
        if isinstance(_task_run_seconds, Unset):
            task_run_seconds = UNSET
        else:
            task_run_seconds = DurationSummary.from_dict(_task_run_seconds)

        _task_wait_seconds = d.pop("task_wait_seconds", UNSET)
        task_wait_seconds: DurationSummary | Unset
        if isinstance(_task_wait_seconds, Unset):
            task_wait_seconds = UNSET
        else:
            task_wait_seconds = DurationSummary.from_dict(_task_wait_seconds)

        _dispatch_latency_seconds = d.pop("dispatch_latency_seconds", UNSET)
        dispatch_latency_seconds: DurationSummary | Unset
        if isinstance(_dispatch_latency_seconds, Unset):
            dispatch_latency_seconds = UNSET
        else:
            dispatch_latency_seconds = DurationSummary.from_dict(_dispatch_latency_seconds)

        metrics_snapshot = cls(
            http=http,
            tasks=tasks,
            queue_depth=queue_depth,
            workers=workers,
            events=events,
            connections=connections,
            timestamp=timestamp,
            task_run_seconds=task_run_seconds,
            task_wait_seconds=task_wait_seconds,
            dispatch_latency_seconds=dispatch_latency_seconds,
        )

        return metrics_snapshot
