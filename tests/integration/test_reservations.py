"""Reservations over the API: binding, held capacity at claim time, expiry / cancel, 422 / 409 / 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from runplane.store.database import Database
from runplane.store.tables import ReservationRow
from tests.conftest import auth
from tests.support.errors import assert_error
from tests.support.workers import H100, claim, claimed_id, free, register, report, submit, task_of

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

H100_B = {**H100, "index": 1, "uuid": "GPU-2"}
PATH = "/v1/scheduler/reservations"


async def reserve(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post(PATH, headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    reservation: dict[str, Any] = response.json()
    return reservation


async def reservation_of(client: httpx.AsyncClient, key: str, reservation_id: str) -> dict[str, Any]:
    response = await client.get(f"{PATH}/{reservation_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def end_window(db: Database, reservation_id: str) -> None:
    """Makes a reservation's window end a second ago, as if its time had run out."""
    async with db.session() as session:
        await session.execute(
            update(ReservationRow)
            .where(ReservationRow.id == reservation_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_held_gpus_go_only_to_the_owners_tasks_that_name_the_reservation(
    client, worker_key, user_key, other_user_key, manager
):
    gpu_worker = await register(client, worker_key, "gpu-1", gpus=[H100, H100_B], cpu=8, memory_gb=32)
    reservation = await reserve(client, user_key, gpu_count=2, gpu_type="H100", cpu=4, memory_gb=8)
    assert reservation["status"] == "active"
    assert reservation["worker_ids"] == [gpu_worker]
    assert (reservation["gpu_count"], reservation["cpu"], reservation["memory_gb"]) == (2, 4, 8)

    others_gpu = await submit(client, other_user_key, "others-gpu", gpu=1, priority=9)
    owners_unnamed = await submit(client, user_key, "owners-unnamed", gpu=1, priority=9)
    whole = {"slots": 2, "cpu": 8, "memory_gb": 32, "gpus": 2}
    # Both GPUs are held: neither task may take one, whoever owns it.
    assert await claim(client, worker_key, gpu_worker, **whole) is None
    await manager.reap()
    held = "Waiting: the capacity it needs is held by reservations until they end"
    assert (await task_of(client, other_user_key, others_gpu))["message"] == held
    assert (await task_of(client, user_key, owners_unnamed))["message"] == held

    others_cpu = await submit(client, other_user_key, "others-cpu", cpu=4, memory_gb=24, priority=1)
    # What is not held (4 cores, 24 GB, one of two slots) still goes to anyone.
    assert await claimed_id(client, worker_key, gpu_worker, **whole) == others_cpu

    named = await submit(
        client, user_key, "named", gpu=2, gpu_type="H100", cpu=4, reservation_id=reservation["id"], priority=1
    )
    after_cpu_task = {"slots": 1, "cpu": 4, "memory_gb": 8, "gpus": 2}
    assert await claimed_id(client, worker_key, gpu_worker, **after_cpu_task) == named
    claimed = await reservation_of(client, user_key, reservation["id"])
    assert (claimed["status"], claimed["active_task_ids"]) == ("claimed", [named])

    # Cancelling frees it: the waiting GPU tasks can now be claimed.
    response = await client.delete(f"{PATH}/{reservation['id']}", headers=auth(user_key))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["ended_at"] is not None
    await manager.reap()
    assert (await task_of(client, other_user_key, others_gpu))["message"] == "Queued"
    assert await claimed_id(client, worker_key, gpu_worker, slots=1, gpus=1) == others_gpu
    assert await claimed_id(client, worker_key, gpu_worker, slots=1, gpus=1) == owners_unnamed
    again = await client.delete(f"{PATH}/{reservation['id']}", headers=auth(user_key))
    assert_error(
        again,
        409,
        "CONFLICT",
        "Reservation already cancelled",
        {"reservation_id": reservation["id"], "status": "cancelled"},
    )


async def test_cpu_slots_are_held_on_a_fleet_without_gpus_and_freed_by_expiry(
    client, worker_key, user_key, other_user_key, manager, db
):
    first = await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32, slots=2)
    second = await register(client, worker_key, "cpu-2", cpu=8, memory_gb=32, slots=2)
    reservation = await reserve(client, user_key, gpu_count=0, cpu=6, memory_gb=16, node_count=2)
    assert sorted(reservation["worker_ids"]) == sorted([first, second])

    others = await submit(client, other_user_key, "others", cpu=4)
    for worker_id in (first, second):  # 8 - 6 held = 2 cores left for others on each
        assert await claim(client, worker_key, worker_id, slots=2) is None
    named = await submit(client, user_key, "named", cpu=6, memory_gb=16, reservation_id=reservation["id"])
    assert await claimed_id(client, worker_key, second, slots=2) == named
    # The reservation's capacity on `second` is in use; another task of it waits, and says why.
    waiting = await submit(client, user_key, "more", cpu=6, memory_gb=16, reservation_id=reservation["id"])
    assert await claim(client, worker_key, second, slots=1, cpu=2, memory_gb=16) is None
    await manager.reap()
    assert (await task_of(client, user_key, waiting))["message"] == (
        f"Waiting: for capacity of reservation {reservation['id']}, in use by its other tasks"
    )

    await end_window(db, reservation["id"])
    await manager.reap()
    assert (await reservation_of(client, user_key, reservation["id"]))["status"] == "expired"
    ended = await task_of(client, user_key, waiting)
    assert ended["status"] == "cancelled"
    assert ended["failure"]["message"] == f"Cancelled: reservation {reservation['id']} expired"
    # Expired: its capacity is everyone's again.
    assert await claimed_id(client, worker_key, first, slots=2) == others
    response = await client.post(
        "/v1/tasks",
        headers=auth(user_key),
        json={"job_name": "late", "entrypoint": "x", "reservation_id": reservation["id"]},
    )
    assert_error(
        response,
        422,
        "VALIDATION_ERROR",
        f"Reservation {reservation['id']} is expired",
        {"field": "reservation_id"},
    )


async def test_a_task_in_a_reservation_runs_only_on_its_workers(client, worker_key, user_key):
    bound = await register(client, worker_key, "a-1", cpu=8, memory_gb=32)
    reservation = await reserve(client, user_key, gpu_count=0, cpu=2, memory_gb=2)
    other = await register(client, worker_key, "b-1", cpu=8, memory_gb=32)
    assert reservation["worker_ids"] == [bound]
    named = await submit(client, user_key, "named", cpu=2, memory_gb=2, reservation_id=reservation["id"])
    assert await claim(client, worker_key, other) is None
    assert await claimed_id(client, worker_key, bound) == named


async def test_a_future_reservation_holds_nothing_yet_and_its_tasks_wait_for_its_start(
    client, worker_key, user_key, other_user_key, manager
):
    worker_id = await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32)
    starts = datetime.now(UTC) + timedelta(hours=1)
    reservation = await reserve(
        client, user_key, gpu_count=0, cpu=8, memory_gb=32, starts_at=starts.isoformat(), expires_minutes=60
    )
    assert datetime.fromisoformat(reservation["expires_at"]) - datetime.fromisoformat(
        reservation["starts_at"]
    ) == timedelta(minutes=60)
    named = await submit(client, user_key, "named", reservation_id=reservation["id"])
    others = await submit(client, other_user_key, "others", cpu=8, memory_gb=32)
    assert await claimed_id(client, worker_key, worker_id) == others
    await manager.reap()
    message = (await task_of(client, user_key, named))["message"]
    assert message.startswith(f"Waiting: for reservation {reservation['id']} to start at ")


async def test_reservation_ids_a_task_may_not_use_are_422(client, worker_key, user_key, other_user_key):
    await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32)
    theirs = await reserve(client, other_user_key, gpu_count=0, cpu=1)
    mine = await reserve(client, user_key, gpu_count=0, cpu=2, memory_gb=2)

    async def submit_named(reservation_id: str, **extra: Any) -> httpx.Response:
        body = {"job_name": "j", "entrypoint": "x", "reservation_id": reservation_id, **extra}
        response: httpx.Response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
        return response

    unknown = {"field": "reservation_id"}
    assert_error(await submit_named("nope"), 422, "VALIDATION_ERROR", "Unknown reservation", unknown)
    assert_error(await submit_named(theirs["id"]), 422, "VALIDATION_ERROR", "Unknown reservation", unknown)
    assert_error(
        await submit_named(mine["id"], cpu=3),
        422,
        "VALIDATION_ERROR",
        f"The task needs more than reservation {mine['id']} holds per node (cpu)",
        {"field": "cpu", "reservation_id": mine["id"]},
    )
    assert (await client.delete(f"{PATH}/{mine['id']}", headers=auth(user_key))).status_code == 200
    assert_error(
        await submit_named(mine["id"]),
        422,
        "VALIDATION_ERROR",
        f"Reservation {mine['id']} is cancelled",
        {"field": "reservation_id"},
    )


async def test_a_reservation_the_fleet_cannot_hold_is_409_and_says_what_is_missing(
    client, worker_key, user_key, other_user_key
):
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 1})
    assert_error(
        response,
        409,
        "CONFLICT",
        "No active worker is registered to hold the reservation",
        {"node_count": 1, "workers_able": 0},
    )
    await register(client, worker_key, "gpu-1", gpus=[H100, H100_B], cpu=8, memory_gb=32)
    await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32)
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 4, "gpu_type": "H100"})
    assert_error(
        response,
        409,
        "CONFLICT",
        "Only 0 of the 1 worker(s) needed can hold 4 H100 GPU(s), 1 CPU core(s) and 1 GB each; "
        "workers lack 4 unreserved H100 GPU(s)",
        {"node_count": 1, "workers_able": 0, "workers_lacking": {"gpus": 2}},
    )
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 1, "node_count": 2})
    assert response.status_code == 409, response.text
    assert response.json()["details"] == {"node_count": 2, "workers_able": 1, "workers_lacking": {"gpus": 1}}
    # Held GPUs count: once another user holds both, a second overlapping reservation cannot have one.
    await reserve(client, other_user_key, gpu_count=2)
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 1})
    assert response.status_code == 409, response.text
    assert response.json()["details"]["workers_lacking"] == {"gpus": 2}
    # ... but one that starts after it ends can.
    later = datetime.now(UTC) + timedelta(hours=2)
    await reserve(client, user_key, gpu_count=1, starts_at=later.isoformat())
    bad = await client.post(
        PATH, headers=auth(user_key), json={"gpu_count": 0, "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert_error(
        bad,
        422,
        "VALIDATION_ERROR",
        "The reservation would end at 2020-01-01T00:00:00+00:00, which is in the past",
        {"field": "expires_at"},
    )
    window = await client.post(
        PATH,
        headers=auth(user_key),
        json={"gpu_count": 0, "starts_at": "2020-01-01T00:00:00Z", "expires_at": "2020-01-02T00:00:00Z"},
    )
    assert window.status_code == 422 and "in the past" in window.json()["error"]
    start = datetime.now(UTC) + timedelta(hours=3)
    backwards = await client.post(
        PATH,
        headers=auth(user_key),
        json={
            "gpu_count": 0,
            "starts_at": start.isoformat(),
            "expires_at": (start - timedelta(hours=1)).isoformat(),
        },
    )
    assert_error(
        backwards, 422, "VALIDATION_ERROR", "'expires_at' must be after the start", {"field": "expires_at"}
    )


async def test_users_see_their_own_reservations_and_admins_all(
    client, worker_key, user_key, other_user_key, admin_key
):
    await register(client, worker_key, "cpu-1", cpu=8, memory_gb=32, slots=4)
    mine = await reserve(client, user_key, gpu_count=0)
    theirs = await reserve(client, other_user_key, gpu_count=0)
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{PATH}/{theirs['id']}", headers=auth(user_key))
        assert_error(response, 404, "NOT_FOUND", "Reservation not found", {"reservation_id": theirs["id"]})
    listed = (await client.get(PATH, headers=auth(user_key))).json()
    assert ([item["id"] for item in listed["reservations"]], listed["total"]) == ([mine["id"]], 1)
    everyone = (await client.get(PATH, headers=auth(admin_key))).json()
    assert {item["id"] for item in everyone["reservations"]} == {mine["id"], theirs["id"]}
    only_theirs = (
        await client.get(PATH, headers=auth(admin_key), params={"user_id": theirs["user_id"]})
    ).json()
    assert [item["id"] for item in only_theirs["reservations"]] == [theirs["id"]]
    response = await client.get(PATH, headers=auth(user_key), params={"user_id": theirs["user_id"]})
    assert response.status_code == 403, response.text
    active = (await client.get(PATH, headers=auth(user_key), params={"status": "cancelled"})).json()
    assert active["total"] == 0


async def test_users_reservations_are_bounded_by_the_settings_and_admins_are_not(
    client, worker_key, user_key, admin_key
):
    # Defaults: RUNPLANE_RESERVATION_MAX_MINUTES=240, RUNPLANE_RESERVATION_MAX_NODES=2.
    for name in ("n1", "n2", "n3", "n4"):
        await register(client, worker_key, name, cpu=8, memory_gb=32, slots=4)
    whole_month = {"gpu_count": 0, "cpu": 2, "memory_gb": 23, "expires_minutes": 43200}
    response = await client.post(PATH, headers=auth(user_key), json=whole_month)
    assert_error(
        response,
        422,
        "VALIDATION_ERROR",
        "A user's reservation lasts at most 240 minutes (RUNPLANE_RESERVATION_MAX_MINUTES); "
        "this one would last 43200",
        {"field": "expires_minutes", "limit": "RUNPLANE_RESERVATION_MAX_MINUTES", "max_minutes": 240},
    )
    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    too_late = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 0, "expires_at": until})
    assert too_late.status_code == 422 and too_late.json()["details"]["field"] == "expires_at"
    await reserve(client, user_key, gpu_count=0, expires_minutes=240)  # at the limit: accepted

    await reserve(client, user_key, gpu_count=0, expires_minutes=60)  # 2 nodes held now
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 0, "expires_minutes": 60})
    assert_error(
        response,
        409,
        "CONFLICT",
        "A user may hold at most 2 worker(s) in reservations at once (RUNPLANE_RESERVATION_MAX_NODES); "
        "you already hold 2 in this window and this one asks for 1",
        {"limit": "RUNPLANE_RESERVATION_MAX_NODES", "max_nodes": 2, "held_nodes": 2, "node_count": 1},
    )
    # One whose window starts after both end does not overlap them.
    later = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    await reserve(client, user_key, gpu_count=0, starts_at=later, expires_minutes=60)
    # Admins are not bounded.
    await reserve(client, admin_key, **whole_month, node_count=2)


@pytest.mark.parametrize("settings_overrides", [{"reservation_max_minutes": 30, "reservation_max_nodes": 1}])
async def test_the_limits_come_from_the_settings(client, worker_key, user_key, settings_overrides):
    await register(client, worker_key, "n1", cpu=8, memory_gb=32, slots=4)
    await register(client, worker_key, "n2", cpu=8, memory_gb=32, slots=4)
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 0, "expires_minutes": 31})
    assert response.status_code == 422 and response.json()["details"]["max_minutes"] == 30
    response = await client.post(PATH, headers=auth(user_key), json={"gpu_count": 0, "node_count": 2})
    assert response.status_code == 409 and response.json()["details"]["max_nodes"] == 1


async def claimed_all(client: httpx.AsyncClient, key: str, worker_id: str, **resources: Any) -> list[Any]:
    """(task id, rank) of everything a claim hands the worker (parts placed by other claims included)."""
    response = await client.post(
        f"/v1/workers/{worker_id}/claim",
        headers=auth(key),
        json={**free(**resources), "max_tasks": 4, "master_port": 40000},
    )
    assert response.status_code == 200, response.text
    return [(found["task_id"], found.get("rank")) for found in response.json()["assignments"]]


async def test_a_gang_in_a_reservation_runs_on_its_workers_within_what_it_holds(
    client, worker_key, user_key, other_user_key, manager
):
    workers = [await register(client, worker_key, f"cpu-{n}", cpu=8, memory_gb=32, slots=2) for n in range(4)]
    reservation = await reserve(client, user_key, gpu_count=0, cpu=4, memory_gb=8, node_count=2)
    bound = sorted(reservation["worker_ids"])
    unbound = [worker_id for worker_id in workers if worker_id not in bound]
    rid = reservation["id"]

    async def submit_gang(**extra: Any) -> httpx.Response:
        body = {"job_name": "gang", "entrypoint": "python -c 'print(1)'", "reservation_id": rid, **extra}
        response: httpx.Response = await client.post("/v1/tasks", headers=auth(user_key), json=body)
        return response

    # Never fits: more parts than the reservation has workers, or a part bigger than it holds per node.
    assert_error(
        await submit_gang(node_count=3, cpu=1),
        422,
        "VALIDATION_ERROR",
        f"The task needs 3 nodes; reservation {rid} holds 2",
        {"field": "node_count", "reservation_id": rid},
    )
    assert_error(
        await submit_gang(node_count=2, cpu=5),
        422,
        "VALIDATION_ERROR",
        f"The task needs more than reservation {rid} holds per node (cpu)",
        {"field": "cpu", "reservation_id": rid},
    )

    first = await submit_gang(node_count=2, cpu=3, memory_gb=4)
    assert first.status_code == 201, first.text
    gang = first.json()["id"]
    # A worker outside the reservation never starts it, though it has room for a part.
    for worker_id in unbound:
        assert await claimed_all(client, worker_key, worker_id) == []
    assert (await task_of(client, user_key, gang))["status"] == "queued"
    assert await claimed_all(client, worker_key, bound[0]) == [(gang, 0)]
    assert await claimed_all(client, worker_key, bound[1]) == [(gang, 1)]
    placed = await task_of(client, user_key, gang)
    assert placed["status"] == "preparing"
    assert sorted(part["worker_id"] for part in placed["node_assignments"]) == bound
    assert (await reservation_of(client, user_key, rid))["status"] == "claimed"

    # A second gang fits the reservation (2 nodes, 1 core each) but not what it holds unused now (4 - 3):
    # the workers have 5 cores free, yet it waits, and says why.
    second = await submit_gang(node_count=2, cpu=2, memory_gb=1)
    assert second.status_code == 201, second.text
    waiting = second.json()["id"]
    for worker_id in workers:
        assert await claimed_all(client, worker_key, worker_id, cpu=5, memory_gb=28) == []
    await manager.reap()
    assert (await task_of(client, user_key, waiting))["message"] == (
        f"Waiting: for 2 workers of reservation {rid} with a part's resources free at once; 0 can take a "
        "part now, its other tasks use the rest"
    )
    # Another user's gang never takes what the reservation holds: it runs on the other two workers.
    theirs = await submit(client, other_user_key, "theirs", node_count=2, cpu=4, memory_gb=4)
    assert await claimed_all(client, worker_key, bound[0], cpu=5, memory_gb=28) == []
    placed_theirs = [await claimed_all(client, worker_key, worker_id) for worker_id in unbound]
    assert sorted(placed_theirs) == [[(theirs, 0)], [(theirs, 1)]]

    # The first gang ends: the second starts inside the reservation.
    for worker_id in bound:
        for status in ("running", "collecting", "completed"):
            assert (await report(client, worker_key, worker_id, gang, status=status)).status_code == 200
    assert (await task_of(client, user_key, gang))["status"] == "completed"
    got = [await claimed_all(client, worker_key, worker_id) for worker_id in bound]
    assert sorted(got) == [[(waiting, 0)], [(waiting, 1)]]
    assert (
        sorted(p["worker_id"] for p in (await task_of(client, user_key, waiting))["node_assignments"])
        == bound
    )


async def test_a_gangs_parts_count_against_what_its_reservation_holds_on_every_worker(
    client, worker_key, user_key
):
    for n in range(2):
        await register(client, worker_key, f"cpu-{n}", cpu=8, memory_gb=32, slots=2)
    reservation = await reserve(client, user_key, gpu_count=0, cpu=4, memory_gb=8, node_count=2)
    first, second = sorted(reservation["worker_ids"])
    rid = reservation["id"]
    gang = await submit(client, user_key, "gang", node_count=2, cpu=3, memory_gb=4, reservation_id=rid)
    assert await claimed_all(client, worker_key, first) == [(gang, 0)]
    assert await claimed_all(client, worker_key, second) == [(gang, 1)]
    # Rank 1 runs on `second` under the task's id on `first`: it still uses 3 of the 4 cores the
    # reservation holds there, so a 2-core task of the reservation fits on neither worker.
    single = await submit(client, user_key, "single", cpu=2, memory_gb=1, reservation_id=rid)
    for worker_id in (first, second):
        assert await claimed_all(client, worker_key, worker_id, cpu=5, memory_gb=28) == []
    one_core = await submit(client, user_key, "one", cpu=1, memory_gb=1, reservation_id=rid)
    assert await claimed_all(client, worker_key, second, cpu=5, memory_gb=28) == [(one_core, None)]
    assert (await task_of(client, user_key, single))["status"] == "queued"
