from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.task_retry_secrets import TaskRetrySecrets


T = TypeVar("T", bound="TaskRetry")


@_attrs_define
class TaskRetry:
    """What a retry may give again; all optional.

    Attributes:
        secrets (TaskRetrySecrets | Unset): The values of the task's secrets (the names in its `secret_names`), erased
            when the task ended.
            Never returned, logged or stored in artifacts; erased again when the new attempt ends.
    """

    secrets: TaskRetrySecrets | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        secrets: dict[str, Any] | Unset = UNSET
        if not isinstance(self.secrets, Unset):
            secrets = self.secrets.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if secrets is not UNSET:
            field_dict["secrets"] = secrets

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.task_retry_secrets import TaskRetrySecrets  # noqa: PLC0415

        d = dict(src_dict)
        _secrets = d.pop("secrets", UNSET)
        secrets: TaskRetrySecrets | Unset
        if isinstance(_secrets, Unset):
            secrets = UNSET
        else:
            secrets = TaskRetrySecrets.from_dict(_secrets)

        task_retry = cls(
            secrets=secrets,
        )

        return task_retry
