from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.ws_server_message_data import WsServerMessageData


T = TypeVar("T", bound="WsServerMessage")


@_attrs_define
class WsServerMessage:
    """A message the server sends on `/ws`: a StreamEvent, or a reply `authenticated`, `subscribed`,
    `unsubscribed`, `pong`, or `error` (with `error` and `code`; the socket stays open).

        Attributes:
            type_ (str):
            id (int | Unset):
            ts (datetime.datetime | Unset):
            data (WsServerMessageData | Unset):
            message_types (list[str] | Unset):
            error (str | Unset):
            code (str | Unset):
    """

    type_: str
    id: int | Unset = UNSET
    ts: datetime.datetime | Unset = UNSET
    data: WsServerMessageData | Unset = UNSET
    message_types: list[str] | Unset = UNSET
    error: str | Unset = UNSET
    code: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        id = self.id

        ts: str | Unset = UNSET
        if not isinstance(self.ts, Unset):
            ts = self.ts.isoformat()

        data: dict[str, Any] | Unset = UNSET
        if not isinstance(self.data, Unset):
            data = self.data.to_dict()

        message_types: list[str] | Unset = UNSET
        if not isinstance(self.message_types, Unset):
            message_types = self.message_types

        error = self.error

        code = self.code

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
            }
        )
        if id is not UNSET:
            field_dict["id"] = id
        if ts is not UNSET:
            field_dict["ts"] = ts
        if data is not UNSET:
            field_dict["data"] = data
        if message_types is not UNSET:
            field_dict["message_types"] = message_types
        if error is not UNSET:
            field_dict["error"] = error
        if code is not UNSET:
            field_dict["code"] = code

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ws_server_message_data import WsServerMessageData  # noqa: PLC0415

        d = dict(src_dict)
        type_ = d.pop("type")

        id = d.pop("id", UNSET)

        _ts = d.pop("ts", UNSET)
        ts: datetime.datetime | Unset
        if isinstance(_ts, Unset):
            ts = UNSET
        else:
            ts = datetime.datetime.fromisoformat(_ts)

        _data = d.pop("data", UNSET)
        data: WsServerMessageData | Unset
        if isinstance(_data, Unset):
            data = UNSET
        else:
            data = WsServerMessageData.from_dict(_data)

        message_types = cast(list[str], d.pop("message_types", UNSET))

        error = d.pop("error", UNSET)

        code = d.pop("code", UNSET)

        ws_server_message = cls(
            type_=type_,
            id=id,
            ts=ts,
            data=data,
            message_types=message_types,
            error=error,
            code=code,
        )

        ws_server_message.additional_properties = d
        return ws_server_message

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
