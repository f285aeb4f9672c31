from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.sweep_status_counts import SweepStatusCounts
    from ..models.sweep_trial_type_0 import SweepTrialType0


T = TypeVar("T", bound="Sweep")


@_attrs_define
class Sweep:
    """
    Attributes:
        id (str): An opaque identifier.
        name (str):
        user_id (str): The user a key acts for.
        job_name (str):
        parameters (list[str]): The swept parameters' names, in the order given.
        variation_count (int):
        repeats (int):
        random_seed (int):
        task_count (int):
        counts (SweepStatusCounts): The sweep's tasks by status.
        progress (float): Percent of the sweep's work done (finished tasks count whole, running ones by their progress).
        finished (bool): True once every task has completed, failed or been cancelled.
        created_at (datetime.datetime):
        model_id (str | Unset): The catalog model every task runs; absent for a sweep of a command.
        cancelled_at (datetime.datetime | Unset): When the sweep was cancelled: the time of the first cancel that found
            at least one unfinished
            task (queued ones cancelled, started ones asked to stop). Absent until then, and for good when
            every task had already finished (a cancel then changes nothing, and a repeated cancel keeps the
            first time).
        best (None | SweepTrialType0 | Unset): The best trial for the requested metric; null without `metric` or before
            any has it.
    """

    id: str
    name: str
    user_id: str
    job_name: str
    parameters: list[str]
    variation_count: int
    repeats: int
    random_seed: int
    task_count: int
    counts: SweepStatusCounts
    progress: float
    finished: bool
    created_at: datetime.datetime
    model_id: str | Unset = UNSET
    cancelled_at: datetime.datetime | Unset = UNSET
    best: None | SweepTrialType0 | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.sweep_trial_type_0 import SweepTrialType0  # noqa: PLC0415

        id = self.id

        name = self.name

        user_id = self.user_id

        job_name = self.job_name

        parameters = self.parameters

        variation_count = self.variation_count

        repeats = self.repeats

        random_seed = self.random_seed

        task_count = self.task_count

        counts = self.counts.to_dict()

        progress = self.progress

        finished = self.finished

        created_at = self.created_at.isoformat()

        model_id = self.model_id

        cancelled_at: str | Unset = UNSET
        if not isinstance(self.cancelled_at, Unset):
            cancelled_at = self.cancelled_at.isoformat()

        best: dict[str, Any] | None | Unset
        if isinstance(self.best, Unset):
            best = UNSET
        elif isinstance(self.best, SweepTrialType0):
            best = self.best.to_dict()
        else:
            best = self.best

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "name": name,
                "user_id": user_id,
                "job_name": job_name,
                "parameters": parameters,
                "variation_count": variation_count,
                "repeats": repeats,
                "random_seed": random_seed,
                "task_count": task_count,
                "counts": counts,
                "progress": progress,
                "finished": finished,
                "created_at": created_at,
            }
        )
        if model_id is not UNSET:
            field_dict["model_id"] = model_id
        if cancelled_at is not UNSET:
            field_dict["cancelled_at"] = cancelled_at
        if best is not UNSET:
            field_dict["best"] = best

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.sweep_status_counts import SweepStatusCounts  # noqa: PLC0415
        from ..models.sweep_trial_type_0 import SweepTrialType0  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        user_id = d.pop("user_id")

        job_name = d.pop("job_name")

        parameters = cast(list[str], d.pop("parameters"))

        variation_count = d.pop("variation_count")

        repeats = d.pop("repeats")

        random_seed = d.pop("random_seed")

        task_count = d.pop("task_count")

        counts = SweepStatusCounts.from_dict(d.pop("counts"))

        progress = d.pop("progress")

        finished = d.pop("finished")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        model_id = d.pop("model_id", UNSET)

        _cancelled_at = d.pop("cancelled_at", UNSET)
        cancelled_at: datetime.datetime | Unset
        if isinstance(_cancelled_at, Unset):
            cancelled_at = UNSET
        else:
            cancelled_at = datetime.datetime.fromisoformat(_cancelled_at)

        def _parse_best(data: object) -> None | SweepTrialType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_sweep_trial_type_0 = SweepTrialType0.from_dict(data)

                return componentsschemas_sweep_trial_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SweepTrialType0 | Unset, data)

        best = _parse_best(d.pop("best", UNSET))

        sweep = cls(
            id=id,
            name=name,
            user_id=user_id,
            job_name=job_name,
            parameters=parameters,
            variation_count=variation_count,
            repeats=repeats,
            random_seed=random_seed,
            task_count=task_count,
            counts=counts,
            progress=progress,
            finished=finished,
            created_at=created_at,
            model_id=model_id,
            cancelled_at=cancelled_at,
            best=best,
        )

        return sweep
