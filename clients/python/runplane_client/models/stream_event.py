from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.event_topic import EventTopic

if TYPE_CHECKING:
    from ..models.queue_stats_data import QueueStatsData
    from ..models.task_complete_data import TaskCompleteData
    from ..models.task_progress_data import TaskProgressData
    from ..models.task_update_data import TaskUpdateData
    from ..models.worker_status_data import WorkerStatusData


T = TypeVar("T", bound="StreamEvent")


@_attrs_define
class StreamEvent:
    """One live event. On SSE: `id:` is `id`, `event:` is `type`, `data:` is this object as JSON. On the
    WebSocket `/ws` the same object is one message.

        Attributes:
            type_ (EventTopic): The kinds of live events, on SSE (the event name) and WebSocket (the message type).
            id (int): Monotonic across the whole service; resume after it with Last-Event-ID.
            ts (datetime.datetime):
            data (QueueStatsData | TaskCompleteData | TaskProgressData | TaskUpdateData | WorkerStatusData): The payload;
                its shape follows `type`.
    """

    type_: EventTopic
    id: int
    ts: datetime.datetime
    data: QueueStatsData | TaskCompleteData | TaskProgressData | TaskUpdateData | WorkerStatusData

    def to_dict(self) -> dict[str, Any]:
        from ..models.queue_stats_data import QueueStatsData  # noqa: PLC0415
        from ..models.task_complete_data import TaskCompleteData  # noqa: PLC0415
        from ..models.task_progress_data import TaskProgressData  # noqa: PLC0415
        from ..models.task_update_data import TaskUpdateData  # noqa: PLC0415

        type_ = self.type_.value

        id = self.id

        ts = self.ts.isoformat()

        data: dict[str, Any]
        if isinstance(self.data, TaskUpdateData):
            data = self.data.to_dict()
        elif isinstance(self.data, TaskProgressData):
            data = self.data.to_dict()
        elif isinstance(self.data, TaskCompleteData):
            data = self.data.to_dict()
        elif isinstance(self.data, QueueStatsData):
            data = self.data.to_dict()
        else:
            data = self.data.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "type": type_,
                "id": id,
                "ts": ts,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.queue_stats_data import QueueStatsData  # noqa: PLC0415
        from ..models.task_complete_data import TaskCompleteData  # noqa: PLC0415
        from ..models.task_progress_data import TaskProgressData  # noqa: PLC0415
        from ..models.task_update_data import TaskUpdateData  # noqa: PLC0415
        from ..models.worker_status_data import WorkerStatusData  # noqa: PLC0415

        d = dict(src_dict)
        type_ = EventTopic(d.pop("type"))

        id = d.pop("id")

        ts = datetime.datetime.fromisoformat(d.pop("ts"))

        def _parse_data(
            data: object,
        ) -> QueueStatsData | TaskCompleteData | TaskProgressData | TaskUpdateData | WorkerStatusData:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_0 = TaskUpdateData.from_dict(data)

                return data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_1 = TaskProgressData.from_dict(data)

                return data_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_2 = TaskCompleteData.from_dict(data)

                return data_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_3 = QueueStatsData.from_dict(data)

                return data_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            data_type_4 = WorkerStatusData.from_dict(data)

            return data_type_4

        data = _parse_data(d.pop("data"))

        stream_event = cls(
            type_=type_,
            id=id,
            ts=ts,
            data=data,
        )

        return stream_event
