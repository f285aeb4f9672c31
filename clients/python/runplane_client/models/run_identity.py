from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.run_identity_variation_values import RunIdentityVariationValues


T = TypeVar("T", bound="RunIdentity")


@_attrs_define
class RunIdentity:
    """What ran, as opposed to what was asked: served at `/v1/tasks/{taskId}/run` and written as `run.json`
    among the task's artifacts, the same model in both places.

        Attributes:
            task_id (str): An opaque identifier.
            job_name (str):
            user_id (str): The user a key acts for.
            attempt (int): 1 for the first run, one more for each retry after a lost worker.
            status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
            command (list[str]): The command line that ran, secret-looking values redacted.
            submitted_at (datetime.datetime):
            experiment_id (str | Unset):
            sweep_id (str | Unset): The sweep the task belongs to.
            trial (int | Unset): In a sweep, the repeat of its variation (1 to `repeats`); otherwise the task's position
                among its
                experiment's tasks (1 for the first submitted).
            variation_index (int | Unset): In a sweep, the variation's position (0-based).
            variation_label (str | Unset): In a sweep, the variation as `name=value` pairs joined by commas.
            variation_values (RunIdentityVariationValues | Unset): In a sweep, the variation's parameter values.
            random_seed (int | Unset):
            run_label (str | Unset):
            model_id (str | Unset):
            worker_id (str | Unset):
            started_at (datetime.datetime | Unset):
            ended_at (datetime.datetime | Unset):
    """

    task_id: str
    job_name: str
    user_id: str
    attempt: int
    status: TaskStatus
    command: list[str]
    submitted_at: datetime.datetime
    experiment_id: str | Unset = UNSET
    sweep_id: str | Unset = UNSET
    trial: int | Unset = UNSET
    variation_index: int | Unset = UNSET
    variation_label: str | Unset = UNSET
    variation_values: RunIdentityVariationValues | Unset = UNSET
    random_seed: int | Unset = UNSET
    run_label: str | Unset = UNSET
    model_id: str | Unset = UNSET
    worker_id: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        task_id = self.task_id

        job_name = self.job_name

        user_id = self.user_id

        attempt = self.attempt

        status = self.status.value

        command = self.command

        submitted_at = self.submitted_at.isoformat()

        experiment_id = self.experiment_id

        sweep_id = self.sweep_id

        trial = self.trial

        variation_index = self.variation_index

        variation_label = self.variation_label

        variation_values: dict[str, Any] | Unset = UNSET
        if not isinstance(self.variation_values, Unset):
            variation_values = self.variation_values.to_dict()

        random_seed = self.random_seed

        run_label = self.run_label

        model_id = self.model_id

        worker_id = self.worker_id

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        ended_at: str | Unset = UNSET
        if not isinstance(self.ended_at, Unset):
            ended_at = self.ended_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "job_name": job_name,
                "user_id": user_id,
                "attempt": attempt,
                "status": status,
                "command": command,
                "submitted_at": submitted_at,
            }
        )
        if experiment_id is not UNSET:
            field_dict["experiment_id"] = experiment_id
        if sweep_id is not UNSET:
            field_dict["sweep_id"] = sweep_id
        if trial is not UNSET:
            field_dict["trial"] = trial
        if variation_index is not UNSET:
            field_dict["variation_index"] = variation_index
        if variation_label is not UNSET:
            field_dict["variation_label"] = variation_label
        if variation_values is not UNSET:
            field_dict["variation_values"] = variation_values
        if random_seed is not UNSET:
            field_dict["random_seed"] = random_seed
        if run_label is not UNSET:
            field_dict["run_label"] = run_label
        if model_id is not UNSET:
            field_dict["model_id"] = model_id
        if worker_id is not UNSET:
            field_dict["worker_id"] = worker_id
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_identity_variation_values import RunIdentityVariationValues  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        job_name = d.pop("job_name")

        user_id = d.pop("user_id")

        attempt = d.pop("attempt")

        status = TaskStatus(d.pop("status"))

        command = cast(list[str], d.pop("command"))

        submitted_at = datetime.datetime.fromisoformat(d.pop("submitted_at"))

        experiment_id = d.pop("experiment_id", UNSET)

        sweep_id = d.pop("sweep_id", UNSET)

        trial = d.pop("trial", UNSET)

        variation_index = d.pop("variation_index", UNSET)

        variation_label = d.pop("variation_label", UNSET)

        _variation_values = d.pop("variation_values", UNSET)
        variation_values: RunIdentityVariationValues | Unset
        if isinstance(_variation_values, Unset):
            variation_values = UNSET
        else:
            variation_values = RunIdentityVariationValues.from_dict(_variation_values)

        random_seed = d.pop("random_seed", UNSET)

        run_label = d.pop("run_label", UNSET)

        model_id = d.pop("model_id", UNSET)

        worker_id = d.pop("worker_id", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        _ended_at = d.pop("ended_at", UNSET)
        ended_at: datetime.datetime | Unset
        if isinstance(_ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = datetime.datetime.fromisoformat(_ended_at)

        run_identity = cls(
            task_id=task_id,
            job_name=job_name,
            user_id=user_id,
            attempt=attempt,
            status=status,
            command=command,
            submitted_at=submitted_at,
            experiment_id=experiment_id,
            sweep_id=sweep_id,
            trial=trial,
            variation_index=variation_index,
            variation_label=variation_label,
            variation_values=variation_values,
            random_seed=random_seed,
            run_label=run_label,
            model_id=model_id,
            worker_id=worker_id,
            started_at=started_at,
            ended_at=ended_at,
        )

        return run_identity
