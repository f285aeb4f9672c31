from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.result_row import ResultRow
    from ..models.result_summary import ResultSummary


T = TypeVar("T", bound="RunResults")


@_attrs_define
class RunResults:
    """
    Attributes:
        run_id (str): An opaque identifier.
        summary (ResultSummary): A run's headline figures.
        rows (list[ResultRow]):
    """

    run_id: str
    summary: ResultSummary
    rows: list[ResultRow]

    def to_dict(self) -> dict[str, Any]:
        run_id = self.run_id

        summary = self.summary.to_dict()

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "run_id": run_id,
                "summary": summary,
                "rows": rows,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.result_row import ResultRow  # noqa: PLC0415
        from ..models.result_summary import ResultSummary  # noqa: PLC0415

        d = dict(src_dict)
        run_id = d.pop("run_id")

        summary = ResultSummary.from_dict(d.pop("summary"))

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = ResultRow.from_dict(rows_item_data)

            rows.append(rows_item)

        run_results = cls(
            run_id=run_id,
            summary=summary,
            rows=rows,
        )

        return run_results
