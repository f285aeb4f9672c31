from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.jupyter_service import JupyterService


T = TypeVar("T", bound="JupyterServiceList")


@_attrs_define
class JupyterServiceList:
    """
    Attributes:
        services (list[JupyterService]):
        total (int):
        limit (int):
        offset (int):
    """

    services: list[JupyterService]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        services = []
        for services_item_data in self.services:
            services_item = services_item_data.to_dict()
            services.append(services_item)

        total = self.total

        limit = self.limit

        offset = self.offset

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "services": services,
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.jupyter_service import JupyterService  # noqa: PLC0415

        d = dict(src_dict)
        services = []
        _services = d.pop("services")
        for services_item_data in _services:
            services_item = JupyterService.from_dict(services_item_data)

            services.append(services_item)

        total = d.pop("total")

        limit = d.pop("limit")

        offset = d.pop("offset")

        jupyter_service_list = cls(
            services=services,
            total=total,
            limit=limit,
            offset=offset,
        )

        return jupyter_service_list
