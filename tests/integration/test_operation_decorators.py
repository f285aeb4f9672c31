"""connexion's handler call path is built once per operation (runplane/operations.py), not per request,
and still hands the handler its parameters, body and principal as connexion does."""

from __future__ import annotations

import pytest
from connexion.decorators import parameter

from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_handler_decorators_are_built_once_per_operation(client, user_key, monkeypatch):
    inspected: list[object] = []
    inspect = parameter.inspect_function_arguments

    def counted(function):
        inspected.append(function)
        return inspect(function)

    monkeypatch.setattr(parameter, "inspect_function_arguments", counted)
    headers = auth(user_key)
    body = {"job_name": "once", "entrypoint": "true", "priority": 3}
    first = await client.post("/v1/tasks", json=body, headers=headers)
    assert first.status_code == 201, first.text
    built = len(inspected)
    for index in range(3):
        created = await client.post("/v1/tasks", json={**body, "job_name": f"once-{index}"}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["job_name"] == f"once-{index}" and created.json()["priority"] == 3
        fetched = await client.get(f"/v1/tasks/{created.json()['id']}", headers=headers)
        assert fetched.status_code == 200 and fetched.json()["id"] == created.json()["id"]
    # Only the GET's first call builds its path; repeated calls of either operation build nothing.
    assert len(inspected) <= built + 1
    listed = await client.get("/v1/tasks", params={"limit": 2}, headers=headers)
    assert listed.status_code == 200 and len(listed.json()["tasks"]) == 2
