from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

if TYPE_CHECKING:
    from ..models.result_summary import ResultSummary
    from ..models.sweep_variation import SweepVariation


T = TypeVar("T", bound="SweepResultRow")


@_attrs_define
class SweepResultRow:
    """
    Attributes:
        task_id (str): An opaque identifier.
        status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
        variation_index (int):
        trial (int):
        random_seed (int):
        variation (SweepVariation): Parameter names to the values one variation runs with.
        summary (ResultSummary): A run's headline figures.
    """

    task_id: str
    status: TaskStatus
    variation_index: int
    trial: int
    random_seed: int
    variation: SweepVariation
    summary: ResultSummary

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        status = self.status.value

        variation_index = self.variation_index

        trial = self.trial

        random_seed = self.random_seed

        variation = self.variation.to_dict()

        summary = self.summary.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "status": status,
                "variation_index": variation_index,
                "trial": trial,
                "random_seed": random_seed,
                "variation": variation,
                "summary": summary,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.result_summary import ResultSummary  # noqa: PLC0415
        from ..models.sweep_variation import SweepVariation  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        status = TaskStatus(d.pop("status"))

        variation_index = d.pop("variation_index")

        trial = d.pop("trial")

        random_seed = d.pop("random_seed")

        variation = SweepVariation.from_dict(d.pop("variation"))

        summary = ResultSummary.from_dict(d.pop("summary"))

        sweep_result_row = cls(
            task_id=task_id,
            status=status,
            variation_index=variation_index,
            trial=trial,
            random_seed=random_seed,
            variation=variation,
            summary=summary,
        )

        return sweep_result_row
