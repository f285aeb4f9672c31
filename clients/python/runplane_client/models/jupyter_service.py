from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.jupyter_service_status import JupyterServiceStatus
from ..types import UNSET, Unset

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
        cpu (int):
        memory_gb (float):
        gpu (int):
        created_at (datetime.datetime):
        url (str | Unset): Where the server answers (`http://host:port/`); null until it is `running`.
        token (str | Unset): The server's token (`?token=` or `Authorization: token ...`). Only in answers to its owner
            or an
            admin about this one service; null in lists.
        snapshot_id (str | Unset):
        message (str | Unset): The latest word from its task (why it failed, for one).
        started_at (datetime.datetime | Unset):
        stopped_at (datetime.datetime | Unset):
    """

    id: str
    task_id: str
    name: str
    user_id: str
    status: JupyterServiceStatus
    cpu: int
    memory_gb: float
    gpu: int
    created_at: datetime.datetime
    url: str | Unset = UNSET
    token: str | Unset = UNSET
    snapshot_id: str | Unset = UNSET
    message: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    stopped_at: datetime.datetime | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        task_id = self.task_id

        name = self.name

        user_id = self.user_id

        status = self.status.value

        cpu = self.cpu

        memory_gb = self.memory_gb

        gpu = self.gpu

        created_at = self.created_at.isoformat()

        url = self.url

        token = self.token

        snapshot_id = self.snapshot_id

        message = self.message

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        stopped_at: str | Unset = UNSET
        if not isinstance(self.stopped_at, Unset):
            stopped_at = self.stopped_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "task_id": task_id,
                "name": name,
                "user_id": user_id,
                "status": status,
                "cpu": cpu,
                "memory_gb": memory_gb,
                "gpu": gpu,
                "created_at": created_at,
            }
        )
        if url is not UNSET:
            field_dict["url"] = url
        if token is not UNSET:
            field_dict["token"] = token
        if snapshot_id is not UNSET:
            field_dict["snapshot_id"] = snapshot_id
        if message is not UNSET:
            field_dict["message"] = message
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if stopped_at is not UNSET:
            field_dict["stopped_at"] = stopped_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        task_id = d.pop("task_id")

        name = d.pop("name")

        user_id = d.pop("user_id")

        status = JupyterServiceStatus(d.pop("status"))

        cpu = d.pop("cpu")

        memory_gb = d.pop("memory_gb")

        gpu = d.pop("gpu")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        url = d.pop("url", UNSET)

        token = d.pop("token", UNSET)

        snapshot_id = d.pop("snapshot_id", UNSET)

        message = d.pop("message", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        _stopped_at = d.pop("stopped_at", UNSET)
        stopped_at: datetime.datetime | Unset
        if isinstance(_stopped_at, Unset):
            stopped_at = UNSET
        else:
            stopped_at = datetime.datetime.fromisoformat(_stopped_at)

        jupyter_service = cls(
            id=id,
            task_id=task_id,
            name=name,
            user_id=user_id,
            status=status,
            cpu=cpu,
            memory_gb=memory_gb,
            gpu=gpu,
            created_at=created_at,
            url=url,
            token=token,
            snapshot_id=snapshot_id,
            message=message,
            started_at=started_at,
            stopped_at=stopped_at,
        )

        return jupyter_service
