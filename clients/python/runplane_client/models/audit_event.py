from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.audit_event_type import AuditEventType

if TYPE_CHECKING:
    from ..models.audit_event_metadata import AuditEventMetadata


T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """One link of the audit chain. `event_hash` is SHA-256 over `prev_hash` followed by the canonical JSON
    of this object without `prev_hash` and `event_hash` (docs/audit.md).

        Attributes:
            sequence_num (int): Position in the chain; 1, 2, 3, … without gaps.
            timestamp (datetime.datetime): When it was recorded, UTC with microseconds (`2026-11-29T23:55:00.123456Z`).
            event_type (AuditEventType): What an audit event records. `job_*` follow a task's status (queued, requeued after
                its worker was
                lost, assigned to a worker, started, and its end); `auth_attempt` is a refused API key or role;
                `file_access` a download of an artifact or snapshot; `plugin_configured` an admin's change of a
                tracking plugin's configuration (setting names only); `jupyter_*` a Jupyter service's start and end.
            user_id (None | str): Who caused it (`system` for the server's own work; null for an unknown key).
            resource (None | str): What it acted on, e.g. `task/<id>`, `snapshot/<id>`, `key/<id>`.
            action (str): What was done, e.g. `submit`, `download`, `authenticate`.
            success (bool):
            ip_address (None | str): The client address of the request that caused it, when one did.
            error (None | str): Why it failed, when it did (secrets redacted).
            metadata (AuditEventMetadata): Context of the event; never a secret.
            prev_hash (str): A SHA-256 digest as 64 lowercase hexadecimal digits.
            event_hash (str): A SHA-256 digest as 64 lowercase hexadecimal digits.
    """

    sequence_num: int
    timestamp: datetime.datetime
    event_type: AuditEventType
    user_id: None | str
    resource: None | str
    action: str
    success: bool
    ip_address: None | str
    error: None | str
    metadata: AuditEventMetadata
    prev_hash: str
    event_hash: str

    def to_dict(self) -> dict[str, Any]:
        sequence_num = self.sequence_num

        timestamp = self.timestamp.isoformat()

        event_type = self.event_type.value

        user_id: None | str
        user_id = self.user_id

        resource: None | str
        resource = self.resource

        action = self.action

        success = self.success

        ip_address: None | str
        ip_address = self.ip_address

        error: None | str
        error = self.error

        metadata = self.metadata.to_dict()

        prev_hash = self.prev_hash

        event_hash = self.event_hash

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "sequence_num": sequence_num,
                "timestamp": timestamp,
                "event_type": event_type,
                "user_id": user_id,
                "resource": resource,
                "action": action,
                "success": success,
                "ip_address": ip_address,
                "error": error,
                "metadata": metadata,
                "prev_hash": prev_hash,
                "event_hash": event_hash,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_event_metadata import AuditEventMetadata  # noqa: PLC0415

        d = dict(src_dict)
        sequence_num = d.pop("sequence_num")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        event_type = AuditEventType(d.pop("event_type"))

        def _parse_user_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        user_id = _parse_user_id(d.pop("user_id"))

        def _parse_resource(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        resource = _parse_resource(d.pop("resource"))

        action = d.pop("action")

        success = d.pop("success")

        def _parse_ip_address(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        ip_address = _parse_ip_address(d.pop("ip_address"))

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        metadata = AuditEventMetadata.from_dict(d.pop("metadata"))

        prev_hash = d.pop("prev_hash")

        event_hash = d.pop("event_hash")

        audit_event = cls(
            sequence_num=sequence_num,
            timestamp=timestamp,
            event_type=event_type,
            user_id=user_id,
            resource=resource,
            action=action,
            success=success,
            ip_address=ip_address,
            error=error,
            metadata=metadata,
            prev_hash=prev_hash,
            event_hash=event_hash,
        )

        return audit_event
