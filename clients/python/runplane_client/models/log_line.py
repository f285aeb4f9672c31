from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.log_line_stream import LogLineStream

T = TypeVar("T", bound="LogLine")


@_attrs_define
class LogLine:
    """
    Attributes:
        stream (LogLineStream):
        text (str):
    """

    stream: LogLineStream
    text: str

    def to_dict(self) -> dict[str, Any]:
        stream = self.stream.value

        text = self.text

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "stream": stream,
                "text": text,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        stream = LogLineStream(d.pop("stream"))

        text = d.pop("text")

        log_line = cls(
            stream=stream,
            text=text,
        )

        return log_line
