from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="DatasetSpec")


@_attrs_define
class DatasetSpec:
    """
    Attributes:
        name (str):
        source (str): A file path on the worker, a `file://` URL or an http(s) URL.
        sha256 (str):
        mount_path (str | Unset): Where the dataset appears, relative to the task's work directory.
    """

    name: str
    source: str
    sha256: str
    mount_path: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        source = self.source

        sha256 = self.sha256

        mount_path = self.mount_path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "source": source,
                "sha256": sha256,
            }
        )
        if mount_path is not UNSET:
            field_dict["mount_path"] = mount_path

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        source = d.pop("source")

        sha256 = d.pop("sha256")

        mount_path = d.pop("mount_path", UNSET)

        dataset_spec = cls(
            name=name,
            source=source,
            sha256=sha256,
            mount_path=mount_path,
        )

        return dataset_spec
