from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.jupyter_service_status import JupyterServiceStatus

T = TypeVar("T", bound="JupyterService")


@_attrs_define
class JupyterService:
    """
    Attributes:
        id (str): An opaque identifier.
        task_id (str): An opaque identifier.
        name (str):
        user_id (str):
        status (JupyterServiceStatus): From its task's status: queued or preparing, or running before the server
            answers, is `starting`;
            running once it answers is `running`; a stop asked for while active is `stopping`; cancelled,
            completed (the server shut itself down) or ended by its `timeout_seconds` is `stopped`; failed
            otherwise is `error`.
        url (None | str): Where the server answers (`http://host:port/`); null until it is `running`.
        token (None | str): The server's token (`?token=` or `Authorization: token ...`). Only in answers to its owner
            or an
            admin about this one service; null in lists.
        snapshot_id (None | str):
        cpu (int):
        memory_gb (float):
        gpu (int):
        message (None | str): The latest word from its task (why it failed, for one).
        created_at (datetime.datetime):
        started_at (datetime.datetime | None):
        stopped_at (datetime.datetime | None):
    """

    id: str
    task_id: str
    name: str
    user_id: str
    status: JupyterServiceStatus
    url: None | str
    token: None | str
    snapshot_id: None | str
    cpu: int
    memory_gb: float
    gpu: int
    message: None | str
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    stopped_at: datetime.datetime | None

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task_id = self.task_id

        name = self.name

        user_id = self.user_id

        status = self.status.value

        url: None | str
        url = self.url

        token: None | str
        token = self.token

        snapshot_id: None | str
        snapshot_id = self.snapshot_id

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        message: None | str
        message = self.message

        created_at = self.created_at.isoformat()

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        stopped_at: None | str
        if isinstance(self.stopped_at, datetime.datetime):
            stopped_at = self.stopped_at.isoformat()
        else:
            stopped_at = self.stopped_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "task_id": task_id,
                "name": name,
                "user_id": user_id,
                "status": status,
                "url": url,
                "token": token,
                "snapshot_id": snapshot_id,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "message": message,
                "created_at": created_at,
                "started_at": started_at,
                "stopped_at": stopped_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task_id = d.pop("task_id")

        name = d.pop("name")

        user_id = d.pop("user_id")

        status = JupyterServiceStatus(d.pop("status"))

        def _parse_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        url = _parse_url(d.pop("url"))

        def _parse_token(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        token = _parse_token(d.pop("token"))

        def _parse_snapshot_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        snapshot_id = _parse_snapshot_id(d.pop("snapshot_id"))

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        gpu = d.pop("gpu")

        def _parse_message(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        message = _parse_message(d.pop("message"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        def _parse_stopped_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                stopped_at_type_0 = datetime.datetime.fromisoformat(data)

                return stopped_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        stopped_at = _parse_stopped_at(d.pop("stopped_at"))

        jupyter_service = cls(
            id=id,
            task_id=task_id,
            name=name,
            user_id=user_id,
            status=status,
            url=url,
            token=token,
            snapshot_id=snapshot_id,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            message=message,
            created_at=created_at,
            started_at=started_at,
            stopped_at=stopped_at,
        )

        return jupyter_service
