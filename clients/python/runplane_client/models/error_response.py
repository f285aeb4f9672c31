from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.error_code import ErrorCode
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.error_response_details import ErrorResponseDetails


T = TypeVar("T", bound="ErrorResponse")


@_attrs_define
class ErrorResponse:
    """The one error body of every non-2xx answer.

    Attributes:
        error (str): A sanitized, human-readable message.
        code (ErrorCode): A machine-readable error code.
        trace_id (str): Correlates the answer with the server log.
        details (ErrorResponseDetails | Unset): Machine-readable context, such as the offending field.
    """

    error: str
    code: ErrorCode
    trace_id: str
    details: ErrorResponseDetails | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        error = self.error

        code = self.code.value

        trace_id = self.trace_id

        details: dict[str, Any] | Unset = UNSET
        if not isinstance(self.details, Unset):
            details = self.details.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "error": error,
                "code": code,
                "trace_id": trace_id,
            }
        )
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_response_details import ErrorResponseDetails  # noqa: PLC0415

        d = dict(src_dict)
        error = d.pop("error")

        code = ErrorCode(d.pop("code"))

        trace_id = d.pop("trace_id")

        _details = d.pop("details", UNSET)
        details: ErrorResponseDetails | Unset
        if isinstance(_details, Unset):
            details = UNSET
        else:
            details = ErrorResponseDetails.from_dict(_details)

        error_response = cls(
            error=error,
            code=code,
            trace_id=trace_id,
            details=details,
        )

        return error_response
