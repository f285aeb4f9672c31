"""Jupyter services: a Jupyter server (``jupyter_server``) run on a worker as a long-running task.

A service is a task of kind ``service`` and nothing else: it is queued, claimed, run in its own process
group under its resource limits, and stopped by cancelling it, through the same machinery as any task.
Its command is ``python -m jupyter_server`` with its root directory the task's working directory (the
snapshot's files when one is given); the worker appends ``--ip`` and ``--port`` (a free port), waits until
``/api/status`` answers and reports the address as the task's ``service_url``.

The token is made here (``secrets.token_urlsafe``, 32 bytes) and handed to the server as the task secret
``JUPYTER_TOKEN``, which ``jupyter_server`` reads from its environment: it is never on a command line (which
``ps`` shows), the worker masks it in the task's log like every secret, task answers and events carry only
secret names, and only the service's owner or an admin reading that one service gets it back.

Status, from the task's (``JupyterServiceStatus`` in the contract): queued or preparing, or running before
the server answers, is ``starting``; running once it answers is ``running``; a stop asked for while it is
active, or collecting its outputs after the server exited, is ``stopping``; cancelled, completed (the
server shut itself down) or stopped by its ``timeout_seconds`` is ``stopped``; failed otherwise is ``error``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from generated.models import TaskCreate
from runplane.errors import Conflict, NotFound
from runplane.lifecycle import TERMINAL, FailureReason, TaskStatus
from runplane.security import Principal
from runplane.store.tables import TaskRow
from runplane.tasks import new_task_row

if TYPE_CHECKING:
    from generated.models import JupyterServiceCreate
    from runplane.tasks import TaskManager

SERVICE_KIND = "service"
TOKEN_ENV = "JUPYTER_TOKEN"  # noqa: S105 - the variable's name, not a token
TOKEN_BYTES = 32

# `python` is the worker's interpreter (runplane.worker.launch puts it first on PATH), which has
# jupyter_server. port_retries=0: a taken port must fail the start, not move the server to an address
# nobody reports. allow_remote_access: the worker may bind an address other than localhost. allow_root:
# Jupyter refuses to start as root, but a service runs with the worker's privileges like any task's
# entrypoint (workers in containers often run as root); the token, not the user id, guards it.
SERVER_COMMAND = (
    "python -m jupyter_server --no-browser --ServerApp.root_dir=. --ServerApp.port_retries=0"
    " --ServerApp.allow_remote_access=True --ServerApp.allow_root=True"
)
# Jupyter's runtime files (one holds the token) stay inside the task's work directory, removed at its end.
SERVER_ENV = {"JUPYTER_RUNTIME_DIR": ".jupyter/runtime"}


def service_status(row: TaskRow) -> str:
    """The service's status from its task's (see the module's docstring)."""
    if row.status in (TaskStatus.queued, TaskStatus.preparing):
        return "starting"
    if row.status == TaskStatus.running:
        if row.cancel_requested:
            return "stopping"
        return "running" if row.service_url else "starting"
    if row.status == TaskStatus.collecting:
        return "stopping"
    if row.status == TaskStatus.failed and row.failure_reason != FailureReason.timeout:
        return "error"
    return "stopped"  # cancelled, completed, or its timeout_seconds ran out


def may_see_token(principal: Principal, row: TaskRow) -> bool:
    """Only the service's owner and admins ever get its token."""
    return principal.is_admin or row.user_id == principal.user_id


def token_of(row: TaskRow) -> str | None:
    token = row.secrets.get(TOKEN_ENV)
    return token if isinstance(token, str) else None


class JupyterManager:
    """Start, find, list and stop Jupyter services, on top of :class:`runplane.tasks.TaskManager`."""

    def __init__(self, tasks: TaskManager) -> None:
        self.tasks = tasks

    async def start(self, principal: Principal, request: JupyterServiceCreate) -> TaskRow:
        """Queues the service's task. Raises Unprocessable (422) for a snapshot the caller cannot see."""
        task_request = TaskCreate.model_validate(
            {
                "job_name": request.name,
                "entrypoint": SERVER_COMMAND,
                "snapshot_id": request.snapshot_id.root if request.snapshot_id else None,
                "cpu": request.cpu,
                "memory_gb": request.memory_gb,
                "gpu": request.gpu,
                "gpu_type": request.gpu_type,
                "timeout_seconds": request.timeout_seconds,
                "env": SERVER_ENV,
                "secrets": {TOKEN_ENV: secrets.token_urlsafe(TOKEN_BYTES)},
                "max_retries": 0,
            }
        )
        await self.tasks.check_references(principal, task_request)
        row = new_task_row(principal.user_id, task_request)
        row.kind = SERVICE_KIND
        row.message = "Starting"
        await self.tasks.store.insert(row)
        return row

    async def visible(self, principal: Principal, service_id: str) -> TaskRow:
        """The service, if the caller owns it or is an admin; NotFound (404) otherwise, or for a plain task."""
        try:
            row = await self.tasks.visible(principal, service_id)
        except NotFound:
            row = None
        if row is None or row.kind != SERVICE_KIND:
            raise NotFound("Jupyter service not found", details={"service_id": service_id})
        return row

    async def page(self, principal: Principal, *, limit: int, offset: int) -> tuple[Sequence[TaskRow], int]:
        """The caller's services (everyone's for an admin), newest first, and their total."""
        filters: dict[str, str | None] = {
            "kind": SERVICE_KIND,
            "user_id": None if principal.is_admin else principal.user_id,
        }
        return await self.tasks.store.page(filters=filters, limit=limit, offset=offset)

    async def stop(self, principal: Principal, service_id: str) -> tuple[TaskRow, bool]:
        """Stops the service by cancelling its task: (the service now, True while its worker stops it).

        Raises NotFound (404) as :meth:`visible` and Conflict (409) when it already ended.
        """
        await self.visible(principal, service_id)
        try:
            stopping = await self.tasks.cancel(principal, service_id)
        except Conflict as exc:
            current = await self.visible(principal, service_id)
            if current.status not in TERMINAL:
                raise
            # Said in the service's terms, not its task's ("Task already cancelled").
            status = service_status(current)
            raise Conflict(
                f"Jupyter service already {status}", details={"service_id": service_id, "status": status}
            ) from exc
        return await self.visible(principal, service_id), stopping
