"""A task's own answer says which sweep it belongs to (`sweep_id`, `trial`, `variation_index`,
`variation_values`), as its run identity does, so that a task list or task view can link its sweep; a task
submitted on its own has none of them. On both databases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SWEEP_FIELDS = ("sweep_id", "trial", "variation_index", "variation_values")


async def test_a_sweep_task_names_its_sweep_trial_and_variation(client: Any, user_key: str) -> None:
    body = {
        "task": {"job_name": "ridge", "model_id": "linear_reg", "inputs": {"region": "north"}},
        "grid": {"alpha": [0.1, 10.0]},
        "repeats": 2,
    }
    created = await client.post("/v1/sweeps", headers=auth(user_key), json=body)
    assert created.status_code == 201, created.text
    sweep = created.json()
    listed = await client.get("/v1/tasks", headers=auth(user_key), params={"sweep_id": sweep["id"]})
    assert listed.status_code == 200, listed.text
    tasks = listed.json()["tasks"]
    seen = {(t["variation_index"], t["trial"]): t for t in tasks}
    assert set(seen) == {(0, 1), (0, 2), (1, 1), (1, 2)}
    for (index, trial), task in seen.items():
        assert task["sweep_id"] == sweep["id"]
        assert task["variation_values"] == {"alpha": [0.1, 10.0][index]}
        one = await client.get(f"/v1/tasks/{task['id']}", headers=auth(user_key))
        assert one.status_code == 200, one.text
        assert {name: one.json()[name] for name in SWEEP_FIELDS} == {
            name: task[name] for name in SWEEP_FIELDS
        }
        run = await client.get(f"/v1/tasks/{task['id']}/run", headers=auth(user_key))
        assert (run.json()["sweep_id"], run.json()["trial"], run.json()["variation_index"]) == (
            sweep["id"],
            trial,
            index,
        )


async def test_a_task_outside_a_sweep_has_no_sweep_fields(client: Any, user_key: str) -> None:
    created = await client.post(
        "/v1/tasks", headers=auth(user_key), json={"job_name": "alone", "model_id": "linear_reg"}
    )
    assert created.status_code == 201, created.text
    assert not set(SWEEP_FIELDS) & set(created.json())
    one = await client.get(f"/v1/tasks/{created.json()['id']}", headers=auth(user_key))
    assert not set(SWEEP_FIELDS) & set(one.json())
