from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.role import Role

T = TypeVar("T", bound="ApiKeyCreated")


@_attrs_define
class ApiKeyCreated:
    """
    Attributes:
        id (str): An opaque identifier.
        name (str):
        role (Role): What a key may do.
        user_id (str): The user a key acts for.
        prefix (str):
        created_at (datetime.datetime):
        key (str): The secret. Shown this one time; only its hash is stored.
    """

    id: str
    name: str
    role: Role
    user_id: str
    prefix: str
    created_at: datetime.datetime
    key: str

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        name = self.name

        role = self.role.value

        user_id = self.user_id

        prefix = self.prefix

        created_at = self.created_at.isoformat()

        key = self.key

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "role": role,
                "user_id": user_id,
                "prefix": prefix,
                "created_at": created_at,
                "key": key,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        role = Role(d.pop("role"))

        user_id = d.pop("user_id")

        prefix = d.pop("prefix")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        key = d.pop("key")

        api_key_created = cls(
            id=id,
            name=name,
            role=role,
            user_id=user_id,
            prefix=prefix,
            created_at=created_at,
            key=key,
        )

        return api_key_created
