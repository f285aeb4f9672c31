from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

if TYPE_CHECKING:
    from ..models.run_identity_variation_values_type_0 import RunIdentityVariationValuesType0


T = TypeVar("T", bound="RunIdentity")


@_attrs_define
class RunIdentity:
    """What ran, as opposed to what was asked: served at `/v1/tasks/{taskId}/run` and written as `run.json`
    among the task's artifacts, the same model in both places.

        Attributes:
            task_id (str): An opaque identifier.
            job_name (str):
            user_id (str): The user a key acts for.
            experiment_id (None | str):
            sweep_id (None | str): The sweep the task belongs to.
            trial (int | None): In a sweep, the repeat of its variation (1 to `repeats`); otherwise the task's position
                among its
                experiment's tasks (1 for the first submitted).
            variation_index (int | None): In a sweep, the variation's position (0-based).
            variation_label (None | str): In a sweep, the variation as `name=value` pairs joined by commas.
            variation_values (None | RunIdentityVariationValuesType0): In a sweep, the variation's parameter values.
            attempt (int): 1 for the first run, one more for each retry after a lost worker.
            random_seed (int | None):
            run_label (None | str):
            model_id (None | str):
            status (TaskStatus): queued → preparing → running → collecting → completed | failed | cancelled.
            worker_id (None | str):
            command (list[str]): The command line that ran, secret-looking values redacted.
            submitted_at (datetime.datetime):
            started_at (datetime.datetime | None):
            ended_at (datetime.datetime | None):
    """

    task_id: str
    job_name: str
    user_id: str
    experiment_id: None | str
    sweep_id: None | str
    trial: int | None
    variation_index: int | None
    variation_label: None | str
    variation_values: None | RunIdentityVariationValuesType0
    attempt: int
    random_seed: int | None
    run_label: None | str
    model_id: None | str
    status: TaskStatus
    worker_id: None | str
    command: list[str]
    submitted_at: datetime.datetime
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None

    def to_dict(self) -> dict[str, Any]:
        from ..models.run_identity_variation_values_type_0 import RunIdentityVariationValuesType0  # noqa: PLC0415

        task_id = self.task_id

        job_name = self.job_name

        user_id = self.user_id

        experiment_id: None | str
        experiment_id = self.experiment_id

        sweep_id: None | str
        sweep_id = self.sweep_id

        trial: int | None
        trial = self.trial

        variation_index: int | None
        variation_index = self.variation_index

        variation_label: None | str
        variation_label = self.variation_label

        variation_values: dict[str, Any] | None
        if isinstance(self.variation_values, RunIdentityVariationValuesType0):
            variation_values = self.variation_values.to_dict()
        else:
            variation_values = self.variation_values

        attempt = self.attempt

        random_seed: int | None
        random_seed = self.random_seed

        run_label: None | str
        run_label = self.run_label

        model_id: None | str
        model_id = self.model_id

        status = self.status.value

        worker_id: None | str
        worker_id = self.worker_id

        command = self.command

        submitted_at = self.submitted_at.isoformat()

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        ended_at: None | str
        if isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "task_id": task_id,
                "job_name": job_name,
                "user_id": user_id,
                "experiment_id": experiment_id,
                "sweep_id": sweep_id,
                "trial": trial,
                "variation_index": variation_index,
                "variation_label": variation_label,
                "variation_values": variation_values,
                "attempt": attempt,
                "random_seed": random_seed,
                "run_label": run_label,
                "model_id": model_id,
                "status": status,
                "worker_id": worker_id,
                "command": command,
                "submitted_at": submitted_at,
                "started_at": started_at,
                "ended_at": ended_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_identity_variation_values_type_0 import RunIdentityVariationValuesType0  # noqa: PLC0415

        d = dict(src_dict)
        task_id = d.pop("task_id")

        job_name = d.pop("job_name")

        user_id = d.pop("user_id")

        def _parse_experiment_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        experiment_id = _parse_experiment_id(d.pop("experiment_id"))

        def _parse_sweep_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        sweep_id = _parse_sweep_id(d.pop("sweep_id"))

        def _parse_trial(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        trial = _parse_trial(d.pop("trial"))

        def _parse_variation_index(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        variation_index = _parse_variation_index(d.pop("variation_index"))

        def _parse_variation_label(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        variation_label = _parse_variation_label(d.pop("variation_label"))

        def _parse_variation_values(data: object) -> None | RunIdentityVariationValuesType0:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                variation_values_type_0 = RunIdentityVariationValuesType0.from_dict(data)

                return variation_values_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunIdentityVariationValuesType0, data)

        variation_values = _parse_variation_values(d.pop("variation_values"))

        attempt = d.pop("attempt")

        def _parse_random_seed(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        random_seed = _parse_random_seed(d.pop("random_seed"))

        def _parse_run_label(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        run_label = _parse_run_label(d.pop("run_label"))

        def _parse_model_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        model_id = _parse_model_id(d.pop("model_id"))

        status = TaskStatus(d.pop("status"))

        def _parse_worker_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        worker_id = _parse_worker_id(d.pop("worker_id"))

        command = cast(list[str], d.pop("command"))

        submitted_at = datetime.datetime.fromisoformat(d.pop("submitted_at"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        def _parse_ended_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        ended_at = _parse_ended_at(d.pop("ended_at"))

        run_identity = cls(
            task_id=task_id,
            job_name=job_name,
            user_id=user_id,
            experiment_id=experiment_id,
            sweep_id=sweep_id,
            trial=trial,
            variation_index=variation_index,
            variation_label=variation_label,
            variation_values=variation_values,
            attempt=attempt,
            random_seed=random_seed,
            run_label=run_label,
            model_id=model_id,
            status=status,
            worker_id=worker_id,
            command=command,
            submitted_at=submitted_at,
            started_at=started_at,
            ended_at=ended_at,
        )

        return run_identity
