from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.worker import Worker


T = TypeVar("T", bound="WorkerList")


@_attrs_define
class WorkerList:
    """
    Attributes:
        workers (list[Worker]):
        total (int):
        limit (int):
        offset (int):
    """

    workers: list[Worker]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        workers = []
        for workers_item_data in self.workers:
            workers_item = workers_item_data.to_dict()
            workers.append(workers_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "workers": workers,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.worker import Worker  # noqa: PLC0415

        d = dict(src_dict)
        workers = []
        _workers = d.pop("workers")
        for workers_item_data in _workers:
            workers_item = Worker.from_dict(workers_item_data)

            workers.append(workers_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        worker_list = cls(
            workers=workers,
            total=total,
            limit=limit,
            offset=offset,
        )

        return worker_list
