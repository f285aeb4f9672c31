from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.failure_reason import FailureReason
from ..models.reported_status import ReportedStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="TaskReport")


@_attrs_define
class TaskReport:
    """
    Attributes:
        attempt (int | Unset): The attempt reported on (the assignment's `attempt`). When given, a report for an attempt
            that is
            no longer the task's current one is 409. A report for the current attempt is accepted even after
            the worker's lease ran out, as long as no other worker has taken the task since.
        status (ReportedStatus | Unset):
        progress (float | Unset):
        message (str | Unset):
        failure_reason (FailureReason | Unset): Why a task failed or was cancelled. `entrypoint_not_found`: the script
            the entrypoint runs (its
            first word ending in `.py`/`.sh`, or the first argument of `python`/`sh`/`bash`) is not in the
            task's code.
        exit_code (int | Unset):
        service_url (str | Unset): Where a task of kind `service` answers, once it does (`http://host:port/`).
        run_seconds (float | Unset): How long the task's process had run when this report was sent, in seconds (a
            duration on the
            worker's clock, so a difference between the worker's and the server's clocks does not matter).
            It says the process started: the task's `started_at` becomes the report's arrival minus
            `run_seconds`, kept between the attempt's claim and now. Sent with the report of
            a task still `preparing`: with status `running`, it makes `started_at` exact; with an end
            (`collecting`, `completed`, `failed`, `cancelled`) it folds the `running` report into it (a
            task that ended within moments sends one report): the server records the task's `running`
            (its event and audit entry) and then the end, in one transaction, exactly as two reports
            would have. 400 without a status or with status `preparing`; 409 when the task is no longer
            `preparing` (unless the report repeats its status), or is a multi-node task's part. Without
            it, a `preparing` task cannot be reported `completed` or `collecting`.
             Example: 0.042.
    """

    attempt: int | Unset = UNSET
    status: ReportedStatus | Unset = UNSET
    progress: float | Unset = UNSET
    message: str | Unset = UNSET
    failure_reason: FailureReason | Unset = UNSET
    exit_code: int | Unset = UNSET
    service_url: str | Unset = UNSET
    run_seconds: float | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        progress = self.progress

        message = self.message

        failure_reason: str | Unset = UNSET
        if not isinstance(self.failure_reason, Unset):
            failure_reason = self.failure_reason.value

        exit_code = self.exit_code

        service_url = self.service_url

        run_seconds = self.run_seconds

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if attempt is not UNSET:
            field_dict["attempt"] = attempt
        if status is not UNSET:
            field_dict["status"] = status
        if progress is not UNSET:
            field_dict["progress"] = progress
        if message is not UNSET:
            field_dict["message"] = message
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if exit_code is not UNSET:
            field_dict["exit_code"] = exit_code
        if service_url is not UNSET:
            field_dict["service_url"] = service_url
        if run_seconds is not UNSET:
            field_dict["run_seconds"] = run_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempt = d.pop("attempt", UNSET)

        _status = d.pop("status", UNSET)
        status: ReportedStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = ReportedStatus(_status)

        progress = d.pop("progress", UNSET)

        message = d.pop("message", UNSET)

        _failure_reason = d.pop("failure_reason", UNSET)
        failure_reason: FailureReason | Unset
        if isinstance(_failure_reason, Unset):
            failure_reason = UNSET
        else:
            failure_reason = FailureReason(_failure_reason)

        exit_code = d.pop("exit_code", UNSET)

        service_url = d.pop("service_url", UNSET)

        run_seconds = d.pop("run_seconds", UNSET)

        task_report = cls(
            attempt=attempt,
            status=status,
            progress=progress,
            message=message,
            failure_reason=failure_reason,
            exit_code=exit_code,
            service_url=service_url,
            run_seconds=run_seconds,
        )

        return task_report
