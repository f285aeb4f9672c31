from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.audit_verification_reason_type_1 import AuditVerificationReasonType1
from ..models.audit_verification_reason_type_2_type_1 import AuditVerificationReasonType2Type1
from ..models.audit_verification_reason_type_3_type_1 import AuditVerificationReasonType3Type1

T = TypeVar("T", bound="AuditVerification")


@_attrs_define
class AuditVerification:
    """
    Attributes:
        valid (bool):
        total_events (int): Events the stored chain head counts.
        first_tampered (int | None): The first sequence number that does not check out; null when the chain is valid.
        reason (AuditVerificationReasonType1 | AuditVerificationReasonType2Type1 | AuditVerificationReasonType3Type1 |
            None): `hash`: the event's content or stored hash was changed; `link`: its `prev_hash` is not the hash
            of the event before; `missing`: no event has this number (deleted); `head`: the stored chain
            head does not match the last event.
        chain_root_hash (str): A SHA-256 digest as 64 lowercase hexadecimal digits.
        verified_at (datetime.datetime):
    """

    valid: bool
    total_events: int
    first_tampered: int | None
    reason: AuditVerificationReasonType1 | AuditVerificationReasonType2Type1 | AuditVerificationReasonType3Type1 | None
    chain_root_hash: str
    verified_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        valid = self.valid

        total_events = self.total_events

        first_tampered: int | None
        first_tampered = self.first_tampered

        reason: None | str
        if isinstance(self.reason, AuditVerificationReasonType1):
            reason = self.reason.value
        elif isinstance(self.reason, AuditVerificationReasonType2Type1):
            reason = self.reason.value
        elif isinstance(self.reason, AuditVerificationReasonType3Type1):
            reason = self.reason.value
        else:
            reason = self.reason

        chain_root_hash = self.chain_root_hash

        verified_at = self.verified_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "valid": valid,
                "total_events": total_events,
                "first_tampered": first_tampered,
                "reason": reason,
                "chain_root_hash": chain_root_hash,
                "verified_at": verified_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        valid = d.pop("valid")

        total_events = d.pop("total_events")

        def _parse_first_tampered(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        first_tampered = _parse_first_tampered(d.pop("first_tampered"))

        def _parse_reason(
            data: object,
        ) -> (
            AuditVerificationReasonType1 | AuditVerificationReasonType2Type1 | AuditVerificationReasonType3Type1 | None
        ):
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_1 = AuditVerificationReasonType1(data)

                return reason_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_2_type_1 = AuditVerificationReasonType2Type1(data)

                return reason_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reason_type_3_type_1 = AuditVerificationReasonType3Type1(data)

                return reason_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                AuditVerificationReasonType1
                | AuditVerificationReasonType2Type1
                | AuditVerificationReasonType3Type1
                | None,
                data,
            )

        reason = _parse_reason(d.pop("reason"))

        chain_root_hash = d.pop("chain_root_hash")

        verified_at = datetime.datetime.fromisoformat(d.pop("verified_at"))

        audit_verification = cls(
            valid=valid,
            total_events=total_events,
            first_tampered=first_tampered,
            reason=reason,
            chain_root_hash=chain_root_hash,
            verified_at=verified_at,
        )

        return audit_verification
