"""Faults a new user's trial of sweeps found, each held as a kind, on both databases: secret values in the
sweep's views, task-written summaries beyond the contract's bounds, cancelled_at on a finished sweep, large
integers reported rounded, and the catalog's inputs read one way by tasks, sweeps and the model listings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runplane.catalog import CATALOG
from runplane.store.sweeps import SweepStore
from tests.conftest import auth
from tests.support.worker_flow import FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRET = "hf_SuperSecret_4242"


@pytest.fixture
async def worker(client: Any, worker_key: str) -> FakeWorker:
    return await FakeWorker(client, worker_key).register()


async def create(client: Any, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/sweeps", headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def get(client: Any, key: str, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_refused(response: Any, words: str) -> None:
    assert response.status_code == 422, response.text
    assert words in response.json()["error"], response.text


# --- 1. secret values ----------------------------------------------------------------------------------


def assert_hidden(document: Any) -> None:
    assert SECRET not in json.dumps(document), document


async def test_a_secret_value_swept_is_redacted_in_results_and_best_before_and_after_the_end(
    client, user_key, worker
):
    task = {"job_name": "secm", "model_id": "linear_reg", "secrets": {"HF_TOKEN": SECRET}}
    sweep = await create(client, user_key, {"task": task, "grid": {"region": [SECRET, "north"]}})
    assert_hidden(sweep)
    path = f"/v1/sweeps/{sweep['id']}"
    # Queued: the task holds its secret values, the views hide them by value.
    queued = await get(client, user_key, f"{path}/results")
    assert [row["variation"] for row in queued["rows"]] == [{"region": "<redacted>"}, {"region": "north"}]

    # Ended: the values are erased, the views show the redacted copy kept then.
    first = await worker.complete_next({"rmse": 1.0})
    await worker.complete_next({"rmse": 2.0})
    ended = await get(client, user_key, f"{path}/results")
    assert_hidden(ended)
    assert ended["rows"][0]["variation"] == {"region": "<redacted>"}
    assert ended["rows"][1]["variation"] == {"region": "north"}
    best = await get(client, user_key, path, metric="rmse")
    assert_hidden(best)
    assert best["best"]["task_id"] == first and best["best"]["variation"] == {"region": "<redacted>"}
    # The same as the task's own run identity shows.
    run = await get(client, user_key, f"/v1/tasks/{first}/run")
    assert run["variation_values"] == best["best"]["variation"]
    assert_hidden(await get(client, user_key, "/v1/sweeps"))


async def test_a_command_sweep_hides_a_secret_inside_a_value_and_in_its_texts(client, user_key, worker):
    task = {
        "job_name": f"job-{SECRET}",
        "entrypoint": "python train.py",
        "args": ["--lr", "{lr}", "--wd", "{wd}"],
        "secrets": {"HF_TOKEN": SECRET},
    }
    body = {"task": task, "name": f"sweep {SECRET}", "grid": {"wd": ["0", f"0.{SECRET}"], "lr": [0.1]}}
    sweep = await create(client, user_key, body)
    assert_hidden(sweep)
    assert sweep["name"] == "sweep <redacted>" and sweep["job_name"] == "job-<redacted>"
    await worker.complete_next({"loss": 2.0})
    second = await worker.complete_next({"loss": 1.0})
    results = await get(client, user_key, f"/v1/sweeps/{sweep['id']}/results")
    assert [row["variation"] for row in results["rows"]] == [
        {"wd": "0", "lr": 0.1},
        {"wd": "0.<redacted>", "lr": 0.1},
    ]
    best = await get(client, user_key, f"/v1/sweeps/{sweep['id']}", metric="loss")
    assert best["best"]["task_id"] == second and best["best"]["variation"]["wd"] == "0.<redacted>"
    assert_hidden(await get(client, user_key, f"/v1/sweeps/{sweep['id']}"))


async def test_a_redaction_that_lengthens_a_value_stays_within_its_bound(client, user_key):
    # A 1024-character value of 4-character secrets becomes longer once redacted: cut to the bound.
    task = {"job_name": "long", "entrypoint": "echo", "args": ["{v}"], "secrets": {"K": "abcd"}}
    sweep = await create(client, user_key, {"task": task, "grid": {"v": ["abcd" * 256]}})
    results = await get(client, user_key, f"/v1/sweeps/{sweep['id']}/results")
    shown = results["rows"][0]["variation"]["v"]
    assert "abcd" not in shown and len(shown) == 1024


async def test_a_parameter_name_holding_a_secret_value_is_refused(client, user_key):
    task = {"job_name": "n", "entrypoint": "echo", "args": ["{x_abcd1}"], "secrets": {"K": "abcd1"}}
    response = await client.post(
        "/v1/sweeps", headers=auth(user_key), json={"task": task, "grid": {"x_abcd1": [1]}}
    )
    assert_refused(response, "secret value")
    assert "abcd1" not in response.text


# --- 2. what tasks wrote, within the contract's bounds -------------------------------------------------


async def test_results_stay_within_bounds_whatever_the_tasks_wrote(client, user_key, worker):
    task = {"job_name": "wide", "entrypoint": "echo", "args": ["{i}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"i": [0, 1, 2]}})
    path = f"/v1/sweeps/{sweep['id']}"
    long_key = "k" * 200
    await worker.complete_next(
        {
            long_key: 1.0,
            "": 2.0,
            "rmse": 0.5,
            "nan": float("nan"),
            "inf": float("inf"),
            "huge": 1e301,
            "huge_int": 10**400,
            "text": "x",
            "flag": True,
            **{f"a{n}": n for n in range(200)},
        },
    )
    await worker.complete_next({"rmse": 0.25, **{f"b{n}": n for n in range(200)}})
    await worker.complete_next({"rmse": float("-inf")})

    results = await get(client, user_key, f"{path}/results")
    metrics = results["metrics"]
    # 401 names written (rmse in two rows, 200 + 200 others in one each): rmse and the next 255 by name.
    assert len(metrics) == 256 and results["metrics_omitted"] == 401 - 256
    assert metrics == sorted(metrics) and "rmse" in metrics
    assert not {long_key, "", "nan", "inf", "huge", "huge_int", "text", "flag"} & set(metrics)
    for row in results["rows"]:
        assert set(row["summary"]) <= set(metrics)
    assert results["rows"][2]["summary"] == {}

    best = await get(client, user_key, path, metric="rmse")
    assert best["best"]["value"] == 0.25 and best["best"]["variation"] == {"i": 1}
    for metric in ("nan", "inf", "huge", "huge_int", "text", "flag"):
        assert "best" not in await get(client, user_key, path, metric=metric)


async def test_summaries_stored_beyond_the_bounds_are_held_to_them_when_read(client, user_key, worker, db):
    # A summary stored before these bounds existed (or by another path) is held to them when read.
    task = {"job_name": "old", "entrypoint": "echo", "args": ["{i}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"i": [0, 1]}})
    first = await worker.complete_next(None)
    second = await worker.complete_next(None)
    store = SweepStore(db)
    await store.set_summaries(
        {
            first: {"k" * 200: 1, "loss": "low", "big": 10**400, "ok": 3},
            second: {"loss": 0.5, "ok": 2, **{f"m{n}": n for n in range(300)}},
        }
    )
    results = await get(client, user_key, f"/v1/sweeps/{sweep['id']}/results")
    assert len(results["metrics"]) == 256 and results["metrics_omitted"] == 302 - 256
    assert results["rows"][0]["summary"] == {"ok": 3}
    best = await get(client, user_key, f"/v1/sweeps/{sweep['id']}", metric="loss")
    assert best["best"]["task_id"] == second and best["best"]["value"] == 0.5
    assert "best" not in await get(client, user_key, f"/v1/sweeps/{sweep['id']}", metric="big")


# --- 3. cancelled_at -----------------------------------------------------------------------------------


async def test_cancelling_a_finished_sweep_does_not_mark_it_cancelled(client, user_key, worker):
    task = {"job_name": "done", "entrypoint": "echo", "args": ["{i}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"i": [0, 1]}})
    for _ in range(2):
        await worker.complete_next({"loss": 1.0})
    for _ in range(2):  # a repeated cancel too
        response = await client.delete(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))
        assert response.json() == {"sweep_id": sweep["id"], "cancelled": 0, "stopping": 0}
        view = await get(client, user_key, f"/v1/sweeps/{sweep['id']}")
        assert "cancelled_at" not in view and view["finished"] is True


async def test_cancelled_at_is_the_first_cancel_that_stopped_something(client, user_key, worker):
    task = {"job_name": "half", "entrypoint": "echo", "args": ["{i}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"i": [0, 1]}})
    await worker.complete_next({"loss": 1.0})
    response = await client.delete(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))
    assert response.json()["cancelled"] == 1
    first = (await get(client, user_key, f"/v1/sweeps/{sweep['id']}"))["cancelled_at"]
    again = await client.delete(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))
    assert again.json()["cancelled"] == 0
    assert (await get(client, user_key, f"/v1/sweeps/{sweep['id']}"))["cancelled_at"] == first


# --- 4. integers exact end to end ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [9007199254740993, 12345678901234567890123, 10**20, -9007199254740992], ids=str
)
async def test_an_integer_no_json_client_holds_exactly_is_refused(client, user_key, value):
    for body in (
        {"task": {"job_name": "x", "entrypoint": "echo", "args": ["{x}"]}, "grid": {"x": [1, value]}},
        {"task": {"job_name": "x", "entrypoint": "echo", "args": ["{x}"]}, "variations": [{"x": value}]},
    ):
        response = await client.post("/v1/sweeps", headers=auth(user_key), json=body)
        assert_refused(response, "give it as a string")


async def test_integers_within_the_bound_are_reported_as_they_ran(client, user_key, worker):
    values = [9007199254740991, -9007199254740991, 10**15 + 1, 1.0, 2.5, "12345678901234567890123"]
    task = {"job_name": "ints", "entrypoint": "echo", "args": ["{x}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"x": values}})
    results = await get(client, user_key, f"/v1/sweeps/{sweep['id']}/results")
    reported = [row["variation"]["x"] for row in results["rows"]]
    assert reported == values
    assert [type(value) for value in reported] == [type(value) for value in values]
    task_id = await worker.complete_next(None)
    tasks = await get(client, user_key, "/v1/tasks", sweep_id=sweep["id"], limit=100)
    ran = {t["id"]: t["args"] for t in tasks["tasks"]}
    assert ran[task_id] == ["9007199254740991"]
    run = await get(client, user_key, f"/v1/tasks/{task_id}/run")
    assert run["variation_values"] == {"x": 9007199254740991}
    written = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(user_key))
    assert json.loads(written.content)["variation_values"] == {"x": 9007199254740991}
    assert '"x": 9007199254740991' in written.text


# --- 5. a model's inputs: one list, listed and accepted alike -----------------------------------------

VALID = {"parameter_set": "baseline", "region": "NA", "year": 2024, "seed": 7}


@pytest.mark.parametrize("model_id", sorted(CATALOG))
async def test_every_listed_input_is_accepted_by_tasks_and_sweeps(client, user_key, model_id):
    spec = CATALOG[model_id]
    listed_v1 = await get(client, user_key, f"/v1/models/{model_id}")
    listed_api = next(
        m for m in (await get(client, user_key, "/api/models"))["models"] if m["id"] == model_id
    )
    names = [item["name"] for item in listed_v1["inputs"]]
    assert names == [item["name"] for item in listed_api["inputs"]] == spec.input_names()
    assert {"parameter_set", "seed"} <= set(names)
    for name in names:
        value = spec.params[name][0] if name in spec.params else VALID[name]
        task = {"job_name": "in", "model_id": model_id, "inputs": {name: value}}
        response = await client.post("/v1/tasks", headers=auth(user_key), json=task)
        assert response.status_code == 201, (name, response.text)
        grid = {name: [value]}
        sweep = await client.post(
            "/v1/sweeps", headers=auth(user_key), json={"task": {**task, "inputs": {}}, "grid": grid}
        )
        assert sweep.status_code == 201, (name, sweep.text)


async def test_a_sweep_over_parameter_set(client, user_key):
    task = {"job_name": "xgb", "model_id": "xgb_forecast", "inputs": {"region": "NA"}}
    sweep = await create(client, user_key, {"task": task, "grid": {"parameter_set": ["shallow", "deep"]}})
    tasks = await get(client, user_key, "/v1/tasks", sweep_id=sweep["id"], limit=10)
    assert sorted(t["inputs"]["parameter_set"] for t in tasks["tasks"]) == ["deep", "shallow"]
    response = await client.post(
        "/v1/sweeps", headers=auth(user_key), json={"task": task, "grid": {"parameter_set": ["nope"]}}
    )
    assert_refused(response, "invalid input 'parameter_set'")


async def test_the_seed_input_is_the_tasks_random_seed(client, user_key):
    task = {"job_name": "sim", "model_id": "simulator", "inputs": {"seed": 7}}
    created = await client.post("/v1/tasks", headers=auth(user_key), json=task)
    assert created.status_code == 201, created.text
    assert created.json()["random_seed"] == 7 and created.json()["inputs"] == {"seed": 7}
    same = await client.post("/v1/tasks", headers=auth(user_key), json={**task, "random_seed": 7})
    assert same.status_code == 201, same.text
    other = await client.post("/v1/tasks", headers=auth(user_key), json={**task, "random_seed": 8})
    assert_refused(other, "random_seed")
    for bad in (-1, 2**32, True, "7", 1.5):
        response = await client.post(
            "/v1/tasks", headers=auth(user_key), json={**task, "inputs": {"seed": bad}}
        )
        assert_refused(response, "Invalid input 'seed'")
    # Swept, each task runs with its own seed rather than a derived one.
    sweep = await create(client, user_key, {"task": {**task, "inputs": {}}, "grid": {"seed": [3, 5]}})
    tasks = await get(client, user_key, "/v1/tasks", sweep_id=sweep["id"], limit=10)
    assert sorted(t["random_seed"] for t in tasks["tasks"]) == [3, 5]
