from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.log_line import LogLine


T = TypeVar("T", bound="LogBatch")


@_attrs_define
class LogBatch:
    """
    Attributes:
        attempt (int): The attempt whose output this is (the assignment's `attempt`).
        first_line (int): Index (from 0) of the batch's first line within this attempt's output. The server skips lines
            it already stored, which makes sending a batch again safe.
        lines (list[LogLine]):
    """

    attempt: int
    first_line: int
    lines: list[LogLine]

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt

        first_line = self.first_line

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "attempt": attempt,
                "first_line": first_line,
                "lines": lines,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.log_line import LogLine  # noqa: PLC0415

        d = dict(src_dict)
        attempt = d.pop("attempt")

        first_line = d.pop("first_line")

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = LogLine.from_dict(lines_item_data)

            lines.append(lines_item)

        log_batch = cls(
            attempt=attempt,
            first_line=first_line,
            lines=lines,
        )

        return log_batch
