"""The sweeps API: grid and variations, templates, derived seeds, the 10,000-task bound and all-or-nothing
creation, idempotency, progress, the results table, best trial, cancel and tenancy; on both databases."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from generated.models import TaskCreate
from runplane.store.sweeps import SweepStore
from runplane.store.tables import SweepRow
from runplane.sweeps import task_columns
from runplane.tasks import new_task_row
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.worker_flow import FREE, FakeWorker

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MODEL_TASK = {"job_name": "ridge", "model_id": "linear_reg", "inputs": {"region": "north"}}
COMMAND_TASK = {
    "job_name": "train",
    "entrypoint": "python train.py",
    "args": ["--lr", "{lr}", "--batch={batch}", "--literal={{lr}}"],
    "env": {"BATCH": "{batch}", "MODE": "fast"},
}


@pytest.fixture
async def worker(client: Any, worker_key: str) -> FakeWorker:
    return await FakeWorker(client, worker_key).register()


async def create(client: Any, key: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await client.post("/v1/sweeps", headers={**auth(key), **headers}, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def tasks_of(client: Any, key: str, sweep_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(
        "/v1/tasks", headers=auth(key), params={"sweep_id": sweep_id, "limit": 1000, **params}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def run_identity(client: Any, key: str, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/tasks/{task_id}/run", headers=auth(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_grid_over_a_catalog_model_with_repeats(client, user_key):
    body = {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0, 10.0]}, "repeats": 2, "random_seed": 11}
    sweep = await create(client, user_key, body)
    assert sweep["task_count"] == 6 and sweep["variation_count"] == 3 and sweep["repeats"] == 2
    assert sweep["parameters"] == ["alpha"] and sweep["random_seed"] == 11 and sweep["name"] == "ridge"
    assert sweep["counts"]["queued"] == 6 and sweep["progress"] == 0 and sweep["finished"] is False
    assert "best" not in sweep

    listed = await tasks_of(client, user_key, sweep["id"])
    assert listed["total"] == 6
    identities = [await run_identity(client, user_key, task["id"]) for task in listed["tasks"]]
    by_place = {(run["variation_index"], run["trial"]): run for run in identities}
    assert sorted(by_place) == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    for (index, _), run in by_place.items():
        assert run["sweep_id"] == sweep["id"]
        assert run["variation_values"] == {"alpha": [0.1, 1.0, 10.0][index]}
        assert run["variation_label"] == f"alpha={[0.1, 1.0, 10.0][index]}"
    seeds = [run["random_seed"] for run in identities]
    assert len(set(seeds)) == 6, seeds
    tasks = {task["id"]: task for task in listed["tasks"]}
    for run in identities:
        assert tasks[run["task_id"]]["inputs"] == {"region": "north", **run["variation_values"]}

    # The same seed reproduces every run's seed; another seed gives others.
    again = await create(client, user_key, body)
    again_seeds = {
        (run["variation_index"], run["trial"]): run["random_seed"]
        for run in [
            await run_identity(client, user_key, task["id"])
            for task in (await tasks_of(client, user_key, again["id"]))["tasks"]
        ]
    }
    assert again_seeds == {place: run["random_seed"] for place, run in by_place.items()}
    other = await create(client, user_key, {**body, "random_seed": 12})
    other_tasks = (await tasks_of(client, user_key, other["id"]))["tasks"]
    assert not {task["random_seed"] for task in other_tasks} & set(seeds)


async def test_a_grid_is_the_cartesian_product_first_parameter_slowest(client, user_key):
    task = {**COMMAND_TASK, "args": ["{lr}", "{batch}"], "env": {}}
    sweep = await create(
        client, user_key, {"task": task, "grid": {"lr": [0.1, 0.01], "batch": [32, 64, 128]}}
    )
    assert sweep["task_count"] == 6
    results = (await client.get(f"/v1/sweeps/{sweep['id']}/results", headers=auth(user_key))).json()
    assert [row["variation"] for row in results["rows"]] == [
        {"lr": lr, "batch": batch} for lr in (0.1, 0.01) for batch in (32, 64, 128)
    ]
    args = {tuple(t["args"]) for t in (await tasks_of(client, user_key, sweep["id"]))["tasks"]}
    assert args == {(str(lr), str(batch)) for lr in (0.1, 0.01) for batch in (32, 64, 128)}


async def test_tasks_are_claimed_trial_by_trial_so_a_cut_sweep_covers_its_grid(client, user_key, worker):
    task = {**COMMAND_TASK, "args": ["{lr}"], "env": {}}
    sweep = await create(client, user_key, {"task": task, "grid": {"lr": [0.1, 0.2, 0.3]}, "repeats": 2})
    order = []
    for _ in range(sweep["task_count"]):
        task_id = await worker.complete_next(None)
        identity = await run_identity(client, user_key, task_id)
        order.append((identity["trial"], identity["variation_index"]))
    assert order == [(trial, index) for trial in (1, 2) for index in range(3)]


async def test_variations_fill_the_command_template(client, user_key):
    variations = [{"lr": 0.1, "batch": 32}, {"lr": "1e-3", "batch": 64}, {"lr": True, "batch": 8}]
    sweep = await create(client, user_key, {"task": COMMAND_TASK, "variations": variations})
    assert sweep["parameters"] == ["lr", "batch"] and sweep["task_count"] == 3
    tasks = (await tasks_of(client, user_key, sweep["id"]))["tasks"]
    seen = set()
    for task in tasks:
        run = await run_identity(client, user_key, task["id"])
        lr, batch = {0: ("0.1", "32"), 1: ("1e-3", "64"), 2: ("true", "8")}[run["variation_index"]]
        assert task["args"] == ["--lr", lr, f"--batch={batch}", "--literal={lr}"]
        assert task["env"] == {"BATCH": batch, "MODE": "fast"}
        assert run["command"] == ["python", "train.py", *task["args"]]
        assert run["trial"] == 1
        seen.add(run["variation_index"])
    assert seen == {0, 1, 2}


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        (
            {"task": COMMAND_TASK, "variations": [{"lr": 1, "batch": 2, "epochs": 3}]},
            "Parameter 'epochs' is used by no '{epochs}' placeholder in task.args or task.env",
            {"field": "parameters.epochs"},
        ),
        (
            {"task": {**COMMAND_TASK, "args": ["{lr}", "{seed}"]}, "variations": [{"lr": 1, "batch": 2}]},
            "Placeholder '{seed}' in task.args.1 names no swept parameter (write '{{' and '}}' for literal braces)",
            {"field": "task.args.1", "parameters": ["lr", "batch"]},
        ),
        (
            {"task": COMMAND_TASK, "variations": [{"lr": 1, "batch": 2}, {"lr": 1}]},
            "Variation 1 gives no value for parameter 'batch'",
            {"field": "variations.1", "variation_index": 1},
        ),
        (
            {"task": MODEL_TASK, "grid": {"depth": [1, 2]}},
            "Model 'linear_reg' does not read parameter 'depth'",
            {"field": "parameters.depth", "reads": ["alpha", "parameter_set", "region", "year", "seed"]},
        ),
        (
            {"task": MODEL_TASK, "variations": [{"alpha": 0.1}, {"alpha": 0.5}]},
            "Variation 1: invalid input 'alpha': must be one of [0.1, 1.0, 10.0]; got 0.5",
            {
                "field": "inputs.alpha",
                "variation_index": 1,
                "errors": {"alpha": "must be one of [0.1, 1.0, 10.0]; got 0.5"},
            },
        ),
        (
            {"task": MODEL_TASK, "grid": {"alpha": [0.1]}, "variations": [{"alpha": 0.1}]},
            "Give exactly one of 'grid' or 'variations'",
            {"field": "variations"},
        ),
        (
            {"task": MODEL_TASK},
            "Give exactly one of 'grid' or 'variations'",
            {"field": "grid"},
        ),
        (
            {
                "task": MODEL_TASK,
                "grid": {"alpha": [0.1, 1.0, 10.0], "year": list(range(1667))},
                "repeats": 2,
            },
            "A sweep has at most 10000 tasks; this one would have 10002 (5001 variations x 2 repeats)",
            {"field": "repeats", "tasks": 10002, "limit": 10000},
        ),
        (
            {"task": {**COMMAND_TASK, "args": ["{lr-x}"], "env": {}}, "grid": {"lr-x": [1]}},
            "Parameter name 'lr-x' must be a letter or '_' followed by letters, digits or '_' (at most 64)",
            {"field": "grid.lr-x"},
        ),
        (
            {"task": {"job_name": "x", "model_id": "nope"}, "grid": {"alpha": [1]}},
            "Unknown model 'nope'",
            {"field": "model_id"},
        ),
        (
            {"task": {**MODEL_TASK, "node_count": 2}, "grid": {"alpha": [0.1]}},
            "A catalog model runs on one node: 'node_count' must be 1 with 'model_id'",
            {"field": "node_count"},
        ),
    ],
)
async def test_a_sweep_that_cannot_run_as_asked_is_422(client, user_key, body, message, details):
    response = await client.post("/v1/sweeps", headers=auth(user_key), json=body)
    assert_error(response, 422, "VALIDATION_ERROR", message, details)
    assert (await client.get("/v1/sweeps", headers=auth(user_key))).json()["total"] == 0
    assert (await client.get("/v1/tasks", headers=auth(user_key))).json()["total"] == 0


async def test_a_thousand_tasks_in_one_request_and_all_or_nothing(client, user_key, db):
    task = {"job_name": "scan", "entrypoint": "python scan.py", "args": ["--shard", "{shard}"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"shard": list(range(1000))}})
    assert sweep["task_count"] == 1000 and sweep["counts"]["queued"] == 1000
    assert (await tasks_of(client, user_key, sweep["id"], limit=1))["total"] == 1000
    results = (await client.get(f"/v1/sweeps/{sweep['id']}/results", headers=auth(user_key))).json()
    assert [row["variation"]["shard"] for row in results["rows"]] == list(range(1000))

    # One bad variation among a thousand: nothing of that sweep is created.
    variations = [{"alpha": 0.1}] * 999 + [{"alpha": 3}]
    response = await client.post(
        "/v1/sweeps", headers=auth(user_key), json={"task": MODEL_TASK, "variations": variations}
    )
    assert response.status_code == 422 and response.json()["details"]["variation_index"] == 999
    assert (await client.get("/v1/sweeps", headers=auth(user_key))).json()["total"] == 1
    assert (await client.get("/v1/tasks", headers=auth(user_key), params={"limit": 1})).json()[
        "total"
    ] == 1000


async def test_a_failed_insert_leaves_nothing(client, user_key, db):
    """The tasks go in with the sweep in one transaction: a task row the database refuses (here a
    duplicate primary key, the last of 300) rolls back the sweep and every task before it."""
    template = task_columns(new_task_row("alice", TaskCreate.model_validate(MODEL_TASK)))
    sweep = SweepRow(
        id=uuid.uuid4().hex,
        user_id="alice",
        name="broken",
        job_name="ridge",
        model_id="linear_reg",
        parameters=["alpha"],
        variation_count=300,
        repeats=1,
        random_seed=1,
        task_count=300,
        idempotency_key=None,
        request_hash=None,
        created_at=template["created_at"],
        cancelled_at=None,
    )
    rows = [{**template, "id": uuid.uuid4().hex, "sweep_id": sweep.id} for _ in range(299)]
    rows.append({**rows[0]})
    with pytest.raises(IntegrityError):
        await SweepStore(db).insert(sweep, rows)
    assert (await client.get("/v1/sweeps", headers=auth(user_key))).json()["total"] == 0
    assert (await client.get("/v1/tasks", headers=auth(user_key))).json()["total"] == 0


async def test_idempotent_submission(client, user_key, other_user_key):
    body = {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0]}}
    first = await create(client, user_key, body, **{"Idempotency-Key": "sweep-1"})
    again = await create(client, user_key, body, **{"Idempotency-Key": "sweep-1"})
    assert again["id"] == first["id"]
    assert (await client.get("/v1/tasks", headers=auth(user_key))).json()["total"] == 2
    different = await client.post(
        "/v1/sweeps",
        headers={**auth(user_key), "Idempotency-Key": "sweep-1"},
        json={**body, "repeats": 2},
    )
    assert_error(
        different,
        409,
        "CONFLICT",
        "This Idempotency-Key was used with a different request body",
        {"idempotency_key": "sweep-1", "sweep_id": first["id"]},
    )
    # Keys are per user.
    theirs = await create(client, other_user_key, body, **{"Idempotency-Key": "sweep-1"})
    assert theirs["id"] != first["id"]


async def test_cancel_stops_every_unfinished_task(client, user_key, worker):
    sweep = await create(
        client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0, 10.0]}, "repeats": 2}
    )
    done = await worker.complete_next({"rmse": 1.0})
    running = await client.post(f"{worker.base}/claim", headers=auth(worker.key), json=FREE)
    running_id = running.json()["assignment"]["task_id"]
    await worker.report(running_id, status="running")

    response = await client.delete(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))
    assert response.status_code == 200
    assert response.json() == {"sweep_id": sweep["id"], "cancelled": 4, "stopping": 1}
    tasks = {t["id"]: t for t in (await tasks_of(client, user_key, sweep["id"]))["tasks"]}
    assert tasks[done]["status"] == "completed"
    assert tasks[running_id]["status"] == "running"
    cancelled = [t for t in tasks.values() if t["status"] == "cancelled"]
    assert len(cancelled) == 4
    assert all(
        t["failure"]["reason"] == "cancelled" and t["failure"]["cancelled_by"] == "alice" for t in cancelled
    )
    view = (await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))).json()
    assert view["counts"] == {
        "queued": 0,
        "preparing": 0,
        "running": 1,
        "collecting": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 4,
    }
    assert view["cancelled_at"] is not None and view["finished"] is False

    # The worker learns of the cancel as for a single task, and the task ends cancelled.
    await worker.report(running_id, status="cancelled")
    view = (await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))).json()
    assert view["finished"] is True and view["progress"] == 100
    again = await client.delete(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))
    assert again.json() == {"sweep_id": sweep["id"], "cancelled": 0, "stopping": 0}


async def test_results_table_progress_and_best_trial(client, user_key, worker):
    sweep = await create(client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0, 10.0]}})
    summaries: list[dict[str, Any] | None] = [
        {"rmse": 2.5, "r2": 0.5, "model": "ridge"},
        {"rmse": 1.5, "r2": 0.75},
        None,
    ]
    finished = [await worker.complete_next(summary) for summary in summaries]

    results = (await client.get(f"/v1/sweeps/{sweep['id']}/results", headers=auth(user_key))).json()
    assert results["sweep_id"] == sweep["id"] and results["parameters"] == ["alpha"]
    assert results["metrics"] == ["r2", "rmse"]
    rows = results["rows"]
    assert [row["variation"] for row in rows] == [{"alpha": 0.1}, {"alpha": 1.0}, {"alpha": 10.0}]
    assert [row["task_id"] for row in rows] == finished  # claimed in the sweep's order
    assert [row["summary"] for row in rows] == [{"rmse": 2.5, "r2": 0.5}, {"rmse": 1.5, "r2": 0.75}, {}]
    assert all(row["status"] == "completed" and row["trial"] == 1 for row in rows)
    # run.json, written when the task ended, carries the sweep's identity exactly as /run serves it.
    run = await run_identity(client, user_key, finished[1])
    written = await client.get(f"/v1/tasks/{finished[1]}/artifacts/run.json", headers=auth(user_key))
    assert json.loads(written.content) == run
    assert (run["sweep_id"], run["trial"], run["variation_index"]) == (sweep["id"], 1, 1)

    assert (run["variation_label"], run["variation_values"]) == ("alpha=1.0", {"alpha": 1.0})

    lowest = (
        await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key), params={"metric": "rmse"})
    ).json()
    assert lowest["progress"] == 100 and lowest["finished"] is True
    assert lowest["best"] == {
        "task_id": finished[1],
        "metric": "rmse",
        "goal": "min",
        "value": 1.5,
        "variation_index": 1,
        "trial": 1,
        "variation": {"alpha": 1.0},
    }
    highest = (
        await client.get(
            f"/v1/sweeps/{sweep['id']}", headers=auth(user_key), params={"metric": "rmse", "goal": "max"}
        )
    ).json()
    assert highest["best"]["task_id"] == finished[0] and highest["best"]["value"] == 2.5
    unknown = (
        await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key), params={"metric": "nope"})
    ).json()
    assert "best" not in unknown


async def test_a_retried_trial_keeps_the_summary_of_the_attempt_that_completed(client, user_key, worker):
    # Each attempt keeps its own artifacts: the summary is read from the completing attempt's results.json.
    task = {**MODEL_TASK, "max_retries": 1, "retry_on": ["exit_code"]}
    sweep = await create(client, user_key, {"task": task, "grid": {"alpha": [0.1]}})
    (task_id,) = [t["id"] for t in (await tasks_of(client, user_key, sweep["id"]))["tasks"]]
    for attempt, rmse in ((1, 9.0), (2, 1.0)):
        assert (await worker.claim(task_id))["attempt"] == attempt
        await worker.report(task_id, status="running")
        document = json.dumps({"summary": {"rmse": rmse}, "rows": []}).encode()
        assert (await worker.upload(task_id, "results.json", document)).status_code == 201
        if attempt == 1:
            await worker.report(task_id, status="failed", failure_reason="exit_code", exit_code=1)
    await worker.finish(task_id)
    results = (await client.get(f"/v1/sweeps/{sweep['id']}/results", headers=auth(user_key))).json()
    assert [(row["status"], row["summary"]) for row in results["rows"]] == [("completed", {"rmse": 1.0})]


async def test_trials_whose_ends_ride_on_one_claim_each_keep_their_summary(client, user_key, worker_key):
    worker = await FakeWorker(client, worker_key).register("w-batch")
    sweep = await create(client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0, 10.0]}})
    two = {**FREE, "free_slots": 2, "max_tasks": 2}
    claimed = await client.post(f"{worker.base}/claim", headers=auth(worker_key), json=two)
    ids = [a["task_id"] for a in claimed.json()["assignments"]]
    assert len(ids) == 2
    for n, task_id in enumerate(ids):
        document = json.dumps({"summary": {"rmse": float(n)}, "rows": []}).encode()
        assert (await worker.upload(task_id, "results.json", document)).status_code == 201
    # Both ends (folded starts) on the next claim, which takes the third task.
    reports = [
        {"task_id": i, "report": {"status": "completed", "attempt": 1, "run_seconds": 0.1}} for i in ids
    ]
    answer = await client.post(
        f"{worker.base}/claim", headers=auth(worker_key), json={**two, "reports": reports}
    )
    assert [r["status"] for r in answer.json()["reports"]] == [200, 200], answer.text
    results = (await client.get(f"/v1/sweeps/{sweep['id']}/results", headers=auth(user_key))).json()
    summaries = {row["task_id"]: row["summary"] for row in results["rows"]}
    assert summaries == {
        ids[0]: {"rmse": 0.0},
        ids[1]: {"rmse": 1.0},
        answer.json()["assignments"][0]["task_id"]: {},
    }


async def test_progress_counts_running_tasks_by_their_progress(client, user_key, worker):
    sweep = await create(client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1, 1.0]}})
    claimed = await client.post(f"{worker.base}/claim", headers=auth(worker.key), json=FREE)
    task_id = claimed.json()["assignment"]["task_id"]
    await worker.report(task_id, status="running", progress=50)
    view = (await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(user_key))).json()
    assert view["progress"] == 25 and view["counts"]["running"] == 1 and view["counts"]["queued"] == 1


async def test_another_users_sweep_is_404_and_admins_see_all(client, user_key, other_user_key, admin_key):
    sweep = await create(client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1]}})
    for method, suffix in (("GET", ""), ("GET", "/results"), ("DELETE", "")):
        response = await client.request(
            method, f"/v1/sweeps/{sweep['id']}{suffix}", headers=auth(other_user_key)
        )
        assert_error(response, 404, "NOT_FOUND", "Sweep not found", {"sweep_id": sweep["id"]})
    assert (await client.get("/v1/sweeps", headers=auth(other_user_key))).json()["total"] == 0
    assert (await tasks_of(client, other_user_key, sweep["id"]))["total"] == 0
    mine = (await client.get("/v1/sweeps", headers=auth(user_key))).json()
    assert [s["id"] for s in mine["sweeps"]] == [sweep["id"]]
    every = (await client.get("/v1/sweeps", headers=auth(admin_key))).json()
    assert every["total"] == 1 and every["sweeps"][0]["user_id"] == "alice"
    assert (await client.get(f"/v1/sweeps/{sweep['id']}", headers=auth(admin_key))).status_code == 200


async def test_sweeps_list_is_paged_newest_first(client, user_key):
    ids = [
        (await create(client, user_key, {"task": MODEL_TASK, "grid": {"alpha": [0.1]}}))["id"]
        for _ in range(3)
    ]
    page = (await client.get("/v1/sweeps", headers=auth(user_key), params={"limit": 2})).json()
    assert page["total"] == 3 and [s["id"] for s in page["sweeps"]] == ids[::-1][:2]
    rest = (await client.get("/v1/sweeps", headers=auth(user_key), params={"limit": 2, "offset": 2})).json()
    assert [s["id"] for s in rest["sweeps"]] == [ids[0]]
