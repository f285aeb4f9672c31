from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sweep_grid import SweepGrid
    from ..models.sweep_variation import SweepVariation
    from ..models.task_create import TaskCreate


T = TypeVar("T", bound="SweepCreate")


@_attrs_define
class SweepCreate:
    """A task template and the variations to run it with: give exactly one of `grid` or `variations`.
    The sweep has (number of variations) × `repeats` tasks, at most 10,000.

        Attributes:
            task (TaskCreate): What to run. Give `entrypoint` (with optional `args`) or `model_id` (with `inputs`).
            name (str | Unset): A name for the sweep (default the task's `job_name`).
            grid (SweepGrid | Unset): Parameter names to the values to try; the sweep runs every combination.
            variations (list[SweepVariation] | Unset):
            repeats (int | Unset): How often each variation runs, each time with its own derived seed (the run's `trial`).
                Default: 1.
            random_seed (int | Unset): The seed every task's seed is derived from (default the task's `random_seed`, else a
                random one,
                shown on the sweep).
    """

    task: TaskCreate
    name: str | Unset = UNSET
    grid: SweepGrid | Unset = UNSET
    variations: list[SweepVariation] | Unset = UNSET
    repeats: int | Unset = 1
    random_seed: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        task = self.task.to_dict()

        name = self.name

        grid: dict[str, Any] | Unset = UNSET
        if not isinstance(self.grid, Unset):
            grid = self.grid.to_dict()

        variations: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.variations, Unset):
            variations = []
            for variations_item_data in self.variations:
                variations_item = variations_item_data.to_dict()
                variations.append(variations_item)

        repeats = self.repeats

        random_seed = self.random_seed

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task": task,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if grid is not UNSET:
            field_dict["grid"] = grid
        if variations is not UNSET:
            field_dict["variations"] = variations
        if repeats is not UNSET:
            field_dict["repeats"] = repeats
        if random_seed is not UNSET:
            field_dict["random_seed"] = random_seed

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sweep_grid import SweepGrid  # noqa: PLC0415
        from ..models.sweep_variation import SweepVariation  # noqa: PLC0415
        from ..models.task_create import TaskCreate  # noqa: PLC0415

        d = dict(src_dict)
        task = TaskCreate.from_dict(d.pop("task"))

        name = d.pop("name", UNSET)

        _grid = d.pop("grid", UNSET)
        grid: SweepGrid | Unset
        if isinstance(_grid, Unset):
            grid = UNSET
        else:
            grid = SweepGrid.from_dict(_grid)

        _variations = d.pop("variations", UNSET)
        variations: list[SweepVariation] | Unset = UNSET
        if _variations is not UNSET:
            variations = []
            for variations_item_data in _variations:
                variations_item = SweepVariation.from_dict(variations_item_data)

                variations.append(variations_item)

        repeats = d.pop("repeats", UNSET)

        random_seed = d.pop("random_seed", UNSET)

        sweep_create = cls(
            task=task,
            name=name,
            grid=grid,
            variations=variations,
            repeats=repeats,
            random_seed=random_seed,
        )

        return sweep_create
