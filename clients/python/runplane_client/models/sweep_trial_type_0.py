from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..models.sweep_goal import SweepGoal

if TYPE_CHECKING:
    from ..models.sweep_variation import SweepVariation


T = TypeVar("T", bound="SweepTrialType0")


@_attrs_define
class SweepTrialType0:
    """The best trial for the requested metric; null without `metric` or before any has it.

    Attributes:
        task_id (str): An opaque identifier.
        metric (str): A key of a task's results `summary`.
        goal (SweepGoal): `min` when lower values of the metric are better, `max` when higher are.
        value (float):
        variation_index (int):
        trial (int):
        variation (SweepVariation): Parameter names to the values one variation runs with.
    """

    task_id: str
    metric: str
    goal: SweepGoal
    value: float
    variation_index: int
    trial: int
    variation: SweepVariation

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        metric = self.metric

        goal = self.goal.value

        value = self.value

        variation_index = self.variation_index

        trial = self.trial

        variation = self.variation.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "metric": metric,
                "goal": goal,
                "value": value,
                "variation_index": variation_index,
                "trial": trial,
                "variation": variation,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sweep_variation import SweepVariation  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        metric = d.pop("metric")

        goal = SweepGoal(d.pop("goal"))

        value = d.pop("value")

        variation_index = d.pop("variation_index")

        trial = d.pop("trial")

        variation = SweepVariation.from_dict(d.pop("variation"))

        sweep_trial_type_0 = cls(
            task_id=task_id,
            metric=metric,
            goal=goal,
            value=value,
            variation_index=variation_index,
            trial=trial,
            variation=variation,
        )

        return sweep_trial_type_0
