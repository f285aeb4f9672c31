"""One log line per task transition (`runplane.tasks`), written once the change is committed."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "runplane.tasks"]


async def test_submit_and_cancel_each_log_one_line(client, user_key, caplog) -> None:
    caplog.set_level(logging.INFO, logger="runplane.tasks")
    body = {"job_name": "train", "entrypoint": "train.py"}
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=body)).json()
    assert _lines(caplog) == [f"task {task['id']} (train): queued"]
    assert (await client.delete(f"/v1/tasks/{task['id']}", headers=auth(user_key))).status_code in (202, 204)
    lines = _lines(caplog)
    assert len(lines) == 2
    assert lines[1].startswith(f"task {task['id']} (train): queued → cancelled")
    assert "Cancelled before it started" in lines[1]


async def test_a_refused_submission_logs_nothing(client, user_key, caplog) -> None:
    caplog.set_level(logging.INFO, logger="runplane.tasks")
    response = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "x", "entrypoint": "a", "args": "'open"}
    )
    assert response.status_code == 422
    assert _lines(caplog) == []
