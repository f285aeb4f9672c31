from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.task_status import TaskStatus

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
            trial (int | None): The task's position among its experiment's tasks (1 for the first submitted).
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
    trial: int | None
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
        task_id = self.task_id

        job_name = self.job_name

        user_id = self.user_id

        experiment_id: None | str
        experiment_id = self.experiment_id

        trial: int | None
        trial = self.trial

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
                "trial": trial,
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
        d = dict(src_dict)
        task_id = d.pop("task_id")

        job_name = d.pop("job_name")

        user_id = d.pop("user_id")

        def _parse_experiment_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        experiment_id = _parse_experiment_id(d.pop("experiment_id"))

        def _parse_trial(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        trial = _parse_trial(d.pop("trial"))

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
            trial=trial,
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
