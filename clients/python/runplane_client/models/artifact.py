from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="Artifact")


@_attrs_define
class Artifact:
    """
    Attributes:
        path (str): Relative to the task's output directory.
        size (int):
        sha256 (str):
        content_type (str):
        created_at (datetime.datetime):
    """

    path: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        path = self.path

        size = self.size

        sha256 = self.sha256

        content_type = self.content_type

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "path": path,
                "size": size,
                "sha256": sha256,
                "content_type": content_type,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        path = d.pop("path")

        size = d.pop("size")

        sha256 = d.pop("sha256")

        content_type = d.pop("content_type")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        artifact = cls(
            path=path,
            size=size,
            sha256=sha256,
            content_type=content_type,
            created_at=created_at,
        )

        return artifact
