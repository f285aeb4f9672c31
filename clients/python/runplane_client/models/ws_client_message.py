from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.ws_client_message_type import WsClientMessageType
from ..types import UNSET, Unset

T = TypeVar("T", bound="WsClientMessage")


@_attrs_define
class WsClientMessage:
    """A message a client sends on `/ws`: `{"type": "auth", "api_key": "..."}` (browsers, first message),
    `{"type": "subscribe", "message_types": ["task_progress"]}` (`*` for all),
    `{"type": "unsubscribe", "message_types": [...]}`, `{"type": "ping"}`.

        Attributes:
            type_ (WsClientMessageType):
            api_key (str | Unset):
            message_types (list[str] | Unset):
    """

    type_: WsClientMessageType
    api_key: str | Unset = UNSET
    message_types: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        api_key = self.api_key

        message_types: list[str] | Unset = UNSET
        if not isinstance(self.message_types, Unset):
            message_types = self.message_types

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
            }
        )
        if api_key is not UNSET:
            field_dict["api_key"] = api_key
        if message_types is not UNSET:
            field_dict["message_types"] = message_types

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        type_ = WsClientMessageType(d.pop("type"))

        api_key = d.pop("api_key", UNSET)

        message_types = cast(list[str], d.pop("message_types", UNSET))

        ws_client_message = cls(
            type_=type_,
            api_key=api_key,
            message_types=message_types,
        )

        ws_client_message.additional_properties = d
        return ws_client_message

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
