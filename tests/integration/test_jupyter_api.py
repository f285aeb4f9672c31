"""The Jupyter services API on both databases: validation, ownership, lists without tokens, and the
service's status following its task through a worker's claim and reports (workers played over HTTP)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runplane.settings import Settings
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.snapshots import snapshot_archive
from tests.support.workers import claim, register, report, submit

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"reaper_seconds": 0}


async def start(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/jupyter/services", headers=auth(key), json={"name": "nb", **body})
    assert response.status_code == 201, response.text
    service: dict[str, Any] = response.json()
    return service


async def get(client: httpx.AsyncClient, key: str, service_id: str) -> httpx.Response:
    return await client.get(f"/v1/jupyter/services/{service_id}", headers=auth(key))


async def test_start_answers_a_starting_service_with_its_token(client, user_key):
    service = await start(client, user_key, cpu=2, memory_gb=4, gpu=0)
    assert service["status"] == "starting"
    assert (service["name"], service["user_id"], service["cpu"], service["memory_gb"]) == (
        "nb",
        "alice",
        2,
        4,
    )
    assert "url" not in service and "started_at" not in service and "stopped_at" not in service
    assert service["task_id"] == service["id"]
    token = service["token"]
    assert isinstance(token, str) and len(token) >= 40
    again = await get(client, user_key, service["id"])
    assert again.status_code == 200 and again.json()["token"] == token
    other = await start(client, user_key)
    assert other["token"] != token


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "has space"},
        {"name": "x" * 65},
        {"name": "nb", "memory_gb": 0.1},
        {"name": "nb", "cpu": 0},
        {"name": "nb", "gpu": 65},
        {"name": "nb", "timeout_seconds": 5},
        {"name": "nb", "image": "jupyter/pytorch:latest"},
        {"name": "nb", "token": "mine"},
    ],
)
async def test_invalid_requests_are_400(client, user_key, body):
    response = await client.post("/v1/jupyter/services", headers=auth(user_key), json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_a_snapshot_must_be_the_callers(client, user_key, other_user_key):
    upload = await client.post(
        "/v1/snapshots",
        headers={**auth(other_user_key), "Content-Type": "application/gzip"},
        content=snapshot_archive({"nb.ipynb": "{}"}),
    )
    assert upload.status_code == 201, upload.text
    response = await client.post(
        "/v1/jupyter/services",
        headers=auth(user_key),
        json={"name": "nb", "snapshot_id": upload.json()["id"]},
    )
    assert_error(response, 422, "VALIDATION_ERROR", "Unknown snapshot", {"field": "snapshot_id"})
    own = await start(client, other_user_key, snapshot_id=upload.json()["id"])
    assert own["snapshot_id"] == upload.json()["id"]


async def test_only_the_owner_and_admins_see_a_service(client, user_key, other_user_key, admin_key):
    service = await start(client, user_key)
    service_id, token = service["id"], service["token"]
    for response in (
        await get(client, other_user_key, service_id),
        await client.delete(f"/v1/jupyter/services/{service_id}", headers=auth(other_user_key)),
    ):
        assert_error(response, 404, "NOT_FOUND", "Jupyter service not found", {"service_id": service_id})
    admin_view = await get(client, admin_key, service_id)
    assert admin_view.status_code == 200 and admin_view.json()["token"] == token
    # A plain task is no service, even to its owner.
    task_id = await submit(client, user_key)
    assert (await get(client, user_key, task_id)).status_code == 404
    # The service's task shows the secret's name, never its value.
    task = await client.get(f"/v1/tasks/{service_id}", headers=auth(user_key))
    assert task.json()["secret_names"] == ["JUPYTER_TOKEN"] and token not in task.text


async def test_lists_are_the_callers_paged_and_never_carry_tokens(
    client, user_key, other_user_key, admin_key
):
    mine = [await start(client, user_key, name=f"nb{i}") for i in range(3)]
    theirs = await start(client, other_user_key, name="bobs")
    await submit(client, user_key)  # a plain task is not listed
    tokens = [s["token"] for s in [*mine, theirs]]

    page = await client.get("/v1/jupyter/services", headers=auth(user_key), params={"limit": 2})
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
    assert [s["id"] for s in body["services"]] == [mine[2]["id"], mine[1]["id"]]
    rest = (await client.get("/v1/jupyter/services", headers=auth(user_key), params={"offset": 2})).json()
    assert [s["id"] for s in rest["services"]] == [mine[0]["id"]]
    everyone = await client.get("/v1/jupyter/services", headers=auth(admin_key))
    assert everyone.json()["total"] == 4
    for response in (page, everyone):
        assert all("token" not in s for s in response.json()["services"])
        assert not any(token in response.text for token in tokens)


async def test_status_follows_the_task_from_claim_to_stop(client, user_key, worker_key):
    service = await start(client, user_key)
    service_id, token = service["id"], service["token"]
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == service_id
    assert assignment["kind"] == "service"
    assert assignment["secrets"] == {"JUPYTER_TOKEN": token}
    assert assignment["entrypoint"].startswith("python -m jupyter_server ")
    assert token not in assignment["entrypoint"]

    assert (await get(client, user_key, service_id)).json()["status"] == "starting"
    assert (await report(client, worker_key, worker_id, service_id, status="running")).status_code == 200
    assert (await get(client, user_key, service_id)).json()["status"] == "starting"
    url = "http://10.0.0.7:41234/"
    answered = await report(client, worker_key, worker_id, service_id, service_url=url, message="serving")
    assert answered.status_code == 200, answered.text
    running = (await get(client, user_key, service_id)).json()
    assert (running["status"], running["url"]) == ("running", url)
    assert running["started_at"] is not None

    stop = await client.delete(f"/v1/jupyter/services/{service_id}", headers=auth(user_key))
    assert stop.status_code == 202, stop.text
    assert stop.json()["status"] == "stopping" and "url" not in stop.json()
    assert (await report(client, worker_key, worker_id, service_id, status="cancelled")).status_code == 200
    stopped = (await get(client, user_key, service_id)).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"] is not None
    again = await client.delete(f"/v1/jupyter/services/{service_id}", headers=auth(user_key))
    assert_error(
        again,
        409,
        "CONFLICT",
        "Jupyter service already stopped",
        {"service_id": service_id, "status": "stopped"},
    )


async def test_a_service_stopped_before_it_starts_is_stopped_at_once(client, user_key):
    service = await start(client, user_key)
    stop = await client.delete(f"/v1/jupyter/services/{service['id']}", headers=auth(user_key))
    assert stop.status_code == 200, stop.text
    assert stop.json()["status"] == "stopped"


async def test_starting_and_stopping_a_service_are_audited_without_its_token(client, user_key, admin_key):
    service = await start(client, user_key)
    assert (
        await client.delete(f"/v1/jupyter/services/{service['id']}", headers=auth(user_key))
    ).status_code == 200
    answer = await client.get("/v1/audit/events", headers=auth(admin_key), params={"limit": 500})
    assert answer.status_code == 200, answer.text
    events = [e for e in answer.json()["events"] if e["resource"] == f"task/{service['id']}"]
    assert [(e["event_type"], e["user_id"]) for e in events] == [
        ("jupyter_started", "alice"),
        ("jupyter_stopped", "alice"),
    ]
    assert service["token"] not in answer.text


async def test_a_failed_server_is_an_error(client, user_key, worker_key):
    service = await start(client, user_key)
    worker_id = await register(client, worker_key)
    assert await claim(client, worker_key, worker_id) is not None
    await report(client, worker_key, worker_id, service["id"], status="running")
    failed = await report(client, worker_key, worker_id, service["id"], status="failed", exit_code=1)
    assert failed.status_code == 200, failed.text
    found = (await get(client, user_key, service["id"])).json()
    assert found["status"] == "error" and found["message"].startswith("Failed")


async def test_only_a_service_task_reports_a_service_url(client, user_key, worker_key, settings: Settings):
    task_id = await submit(client, user_key)
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["kind"] == "task"
    response = await report(client, worker_key, worker_id, task_id, service_url="http://127.0.0.1:1/")
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        "Only a task of kind 'service' has a service_url",
        {"field": "service_url"},
    )


async def test_a_service_ended_by_its_timeout_is_stopped_not_an_error(client, user_key, worker_key):
    service = await start(client, user_key, timeout_seconds=60)
    worker_id = await register(client, worker_key)
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["timeout_seconds"] == 60
    await report(client, worker_key, worker_id, service["id"], status="running")
    ended = await report(
        client, worker_key, worker_id, service["id"], status="failed", failure_reason="timeout", exit_code=-9
    )
    assert ended.status_code == 200, ended.text
    found = (await get(client, user_key, service["id"])).json()
    assert found["status"] == "stopped" and found["message"].startswith("Failed: timed out")


async def test_a_retried_service_starts_again_without_the_old_url_and_with_a_new_token(
    client, user_key, worker_key
):
    service = await start(client, user_key)
    service_id, token = service["id"], service["token"]
    worker_id = await register(client, worker_key)
    await claim(client, worker_key, worker_id)
    await report(client, worker_key, worker_id, service_id, status="running")
    old_url = "http://127.0.0.1:37337/"
    await report(client, worker_key, worker_id, service_id, service_url=old_url)
    await client.delete(f"/v1/jupyter/services/{service_id}", headers=auth(user_key))
    await report(client, worker_key, worker_id, service_id, status="cancelled")

    retried = await client.post(f"/v1/tasks/{service_id}/retry", headers=auth(user_key))
    assert retried.status_code == 200, retried.text
    queued = (await get(client, user_key, service_id)).json()
    assert queued["status"] == "starting" and "url" not in queued
    assignment = await claim(client, worker_key, worker_id)
    assert assignment is not None and assignment["task_id"] == service_id
    new_token = assignment["secrets"]["JUPYTER_TOKEN"]
    assert new_token and new_token != token  # the old token was erased when the service stopped
    await report(client, worker_key, worker_id, service_id, status="running")
    running = (await get(client, user_key, service_id)).json()
    assert running["status"] == "starting" and "url" not in running  # not attempt 1's dead port
    assert running["token"] == new_token
    new_url = "http://127.0.0.1:40000/"
    await report(client, worker_key, worker_id, service_id, service_url=new_url)
    serving = (await get(client, user_key, service_id)).json()
    assert (serving["status"], serving["url"]) == ("running", new_url)
