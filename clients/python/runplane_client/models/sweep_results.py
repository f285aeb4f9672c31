from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.sweep_result_row import SweepResultRow


T = TypeVar("T", bound="SweepResults")


@_attrs_define
class SweepResults:
    """
    Attributes:
        sweep_id (str): An opaque identifier.
        parameters (list[str]):
        metrics (list[str]): The metric names of the rows' `summary`, sorted: the numeric summary keys of 1..128
            characters
            (other keys are never kept), at most 256 of them; when the tasks wrote more, the 256 found in
            most rows (ties by name), and `metrics_omitted` says how many were left out of the table.
        metrics_omitted (int): How many other metric names the tasks wrote beyond the 256 listed in `metrics`; their
            values are
            left out of every row's `summary`. 0 when none were.
        rows (list[SweepResultRow]):
    """

    sweep_id: str
    parameters: list[str]
    metrics: list[str]
    metrics_omitted: int
    rows: list[SweepResultRow]

    def to_dict(self) -> dict[str, Any]:
        sweep_id = self.sweep_id

        parameters = self.parameters

        metrics = self.metrics

        metrics_omitted = self.metrics_omitted

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "sweep_id": sweep_id,
                "parameters": parameters,
                "metrics": metrics,
                "metrics_omitted": metrics_omitted,
                "rows": rows,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sweep_result_row import SweepResultRow  # noqa: PLC0415

        d = dict(src_dict)
        sweep_id = d.pop("sweep_id")

        parameters = cast(list[str], d.pop("parameters"))

        metrics = cast(list[str], d.pop("metrics"))

        metrics_omitted = d.pop("metrics_omitted")

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = SweepResultRow.from_dict(rows_item_data)

            rows.append(rows_item)

        sweep_results = cls(
            sweep_id=sweep_id,
            parameters=parameters,
            metrics=metrics,
            metrics_omitted=metrics_omitted,
            rows=rows,
        )

        return sweep_results
