"""Multi-node (gang) tasks across real worker agents (issue 8, §3), on SQLite and PostgreSQL.

A real server (2 API processes) and real `runplane worker` processes, each its own node: a gang's ranks
run a small all-reduce over TCP through MASTER_ADDR:MASTER_PORT (rank 0 listens, the others connect, all
learn the sum), killing one part's worker fails the whole gang and leaves no part running, a gang the
fleet cannot run waits with a reason while small tasks run, and aging makes the fleet hold its workers
for the head gang until it runs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from tests.support.agents import System, running_system
from tests.support.live import module_database
from tests.support.snapshots import snapshot_archive
from tests.support.waiting import poll

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Rank 0 listens on MASTER_PORT; every other rank connects, sends its value and reads back the sum.
ALLREDUCE = """
import json, os, pathlib, socket, sys, time

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
# Only the first attempt lingers (so a retried gang's next attempt ends by itself).
first = os.environ["RUNPLANE_ATTEMPT"] == "1"
hold = float(sys.argv[1]) if len(sys.argv) > 1 and first else 0.0
value = (rank + 1) * 10
if rank == 0:
    server = socket.create_server(("", port))
    server.settimeout(300)
    peers, total = [], value
    for _ in range(world - 1):
        conn, _ = server.accept()
        peer_rank, peer_value = map(int, conn.makefile().readline().split())
        total += peer_value
        peers.append(conn)
    for conn in peers:
        conn.sendall(f"{total}\\n".encode())
        conn.close()
else:
    deadline = time.monotonic() + 300
    while True:
        try:
            conn = socket.create_connection((addr, port), timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    conn.sendall(f"{rank} {value}\\n".encode())
    total = int(conn.makefile().readline())
env = {name: os.environ[name] for name in (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT",
    "RUNPLANE_RANK", "RUNPLANE_WORLD_SIZE")}
out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
(out / "result.json").write_text(json.dumps({"rank": rank, "world_size": world, "sum": total, "env": env}))
print(f"rank {rank} of {world}: sum {total}", flush=True)
time.sleep(hold)
"""
NODE = ("--slots", "1", "--cores", "1", "--memory-gb", "2", "--poll-seconds", "0.2", "--address", "127.0.0.1")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    root = tmp_path_factory.mktemp(f"gang-{request.param}")
    env = {"RUNPLANE_AGING_RATE": "30", "RUNPLANE_AGING_MAX_BOOST": "100"}
    with (
        module_database(request, root) as database_url,
        running_system(request, root, database_url, env=env) as found,
    ):
        yield found


def upload(system: System, files: dict[str, str]) -> str:
    response = system.http.post(
        "/v1/snapshots",
        headers={**system.user, "Content-Type": "application/gzip"},
        content=snapshot_archive(files),
    )
    assert response.status_code == 201, response.text
    snapshot_id: str = response.json()["id"]
    return snapshot_id


def artifact(system: System, task_id: str, path: str) -> Any:
    response = system.http.get(f"/v1/tasks/{task_id}/artifacts/{path}", headers=system.user)
    assert response.status_code == 200, response.text
    return json.loads(response.content)


def task_processes(token: str) -> list[int]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        info = process.info
        if info["status"] != psutil.STATUS_ZOMBIE and token in (info["cmdline"] or []):
            found.append(process.pid)
    return found


def all_reduced(system: System, task_id: str, world: int) -> bool:
    """Whether every rank has printed the sum it learned (its log holds the line): the all-reduce is
    over, so killing a part's worker now loses a worker, not the sum a peer still waits for."""
    for rank in range(world):
        log = system.http.get(f"/v1/tasks/{task_id}/logs", headers=system.user, params={"rank": rank})
        if log.status_code != 200 or f"rank {rank} of {world}: sum" not in log.text:
            return False
    return True


def test_a_2_rank_and_a_3_rank_task_all_reduce_across_worker_agents(system: System) -> None:
    names = [f"w-gang-{n}" for n in range(3)]
    for name in names:
        system.start_agent(name, *NODE)
    snapshot_id = upload(system, {"allreduce.py": ALLREDUCE})
    pair = system.submit(entrypoint="allreduce.py", snapshot_id=snapshot_id, node_count=2, memory_gb=0.5)
    ended = system.wait_ended([pair], timeout=180)[pair]
    assert ended["status"] == "completed", ended
    trio = system.submit(entrypoint="allreduce.py", snapshot_id=snapshot_id, node_count=3, memory_gb=0.5)
    ended[trio] = system.wait_ended([trio], timeout=180)[trio]
    assert ended[trio]["status"] == "completed", ended[trio]

    for task_id, world in ((pair, 2), (trio, 3)):
        task = system.task(task_id)
        parts = task["node_assignments"]
        assert [part["rank"] for part in parts] == list(range(world))
        assert [part["node_id"] for part in parts] == list(range(world))
        assert len({part["worker_id"] for part in parts}) == world  # one part per worker
        assert {part["status"] for part in parts} == {"completed"}
        assert all(part["worker_name"] in names and part["slot_assigned"] for part in parts)
        expected_sum = sum((rank + 1) * 10 for rank in range(world))
        port = None
        for rank in range(world):
            result = artifact(system, task_id, f"rank-{rank}/result.json")
            assert result["rank"] == rank and result["world_size"] == world
            assert result["sum"] == expected_sum
            env = result["env"]
            assert env["RANK"] == env["RUNPLANE_RANK"] == env["NODE_RANK"] == str(rank)
            assert env["WORLD_SIZE"] == env["RUNPLANE_WORLD_SIZE"] == str(world)
            assert (env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("0", "1")
            assert env["MASTER_ADDR"] == "127.0.0.1"
            assert port in (None, env["MASTER_PORT"])
            port = env["MASTER_PORT"]
            log = system.http.get(f"/v1/tasks/{task_id}/logs", headers=system.user, params={"rank": rank})
            assert log.status_code == 200, log.text
            assert f"rank {rank} of {world}: sum {expected_sum}" in log.text
        status = system.http.get(f"/v1/tasks/{task_id}/status", headers=system.user).json()
        assert [part["rank"] for part in status["node_assignments"]] == list(range(world))
        missing = system.http.get(f"/v1/tasks/{task_id}/logs", headers=system.user, params={"rank": world})
        assert missing.status_code == 404, missing.text


def test_killing_one_parts_worker_fails_the_whole_gang_and_leaves_no_part_running(system: System) -> None:
    token = f"gang-{secrets.token_hex(6)}"
    agents = {name: system.start_agent(name, *NODE) for name in ("w-kill-a", "w-kill-b", "w-kill-c")}
    snapshot_id = upload(system, {"allreduce.py": ALLREDUCE})
    task_id = system.submit(
        entrypoint="allreduce.py", args=["600", token], snapshot_id=snapshot_id, node_count=3, memory_gb=0.5
    )

    seen: list[Any] = []

    def all_running() -> bool:
        task = system.task(task_id)
        seen[:] = [task.get("node_assignments"), task["status"], task.get("message"), task_processes(token)]
        # Each part shows as its process and the shim that started it; at least one per part.
        return (
            task["status"] == "running"
            and len(task_processes(token)) >= 3
            and all_reduced(system, task_id, 3)
        )

    try:
        poll(all_running, timeout=120, interval=0.3, what="all three parts to run")
    except pytest.fail.Exception:
        raise AssertionError(f"not all running: {seen}") from None
    parts = system.task(task_id)["node_assignments"]
    victim = next(part for part in parts if part["rank"] == 1)
    agents[victim["worker_name"]].kill()

    failed = system.wait_ended([task_id], timeout=120)[task_id]
    assert failed["status"] == "failed", failed
    assert failed["failure"]["reason"] == "worker_lost"
    assert failed["failure"]["message"].startswith(f"rank 1 (worker {victim['worker_name']}) was lost")
    by_rank = {part["rank"]: part for part in failed["node_assignments"]}
    assert by_rank[1]["status"] == "failed" and by_rank[1]["failure_reason"] == "worker_lost"
    assert {by_rank[0]["status"], by_rank[2]["status"]} <= {"cancelled", "failed"}
    poll(lambda: not task_processes(token), timeout=60, what="every part's process to end")


def test_an_unfittable_gang_waits_with_a_reason_while_small_tasks_run(system: System) -> None:
    for name in ("w-wait-a", "w-wait-b"):
        system.start_agent(name, *NODE)
    gang = system.submit(entrypoint="python -c 'print(1)'", node_count=3, memory_gb=0.5, priority=10)
    small = [system.submit(entrypoint="python -c 'print(2)'", memory_gb=0.5) for _ in range(3)]
    ended = system.wait_ended(small, timeout=120)
    assert {task["status"] for task in ended.values()} == {"completed"}

    def explained() -> str | None:
        message = system.task(gang).get("message") or ""
        return message if message.startswith("Waiting:") else None

    message = poll(explained, timeout=30, what="the gang's waiting reason")
    assert "needs 3 workers that can each take one part" in message and "2 of 2" in message
    assert system.task(gang)["status"] == "queued"
    assert "node_assignments" not in system.task(gang)


def test_aging_makes_the_fleet_hold_its_workers_for_the_head_gang(system: System) -> None:
    names = ("w-age-a", "w-age-b")
    for name in names:
        system.start_agent(name, *NODE)
    # Each worker has one slot: a stream of small, higher-priority tasks would keep one of them busy for
    # ever. Aging (30 points a minute here) makes the gang the head of the queue within seconds; then no
    # worker it needs takes a new small task, both empty, and the gang runs.
    filler = "python -c 'import time; time.sleep(1.5)'"
    small = [system.submit(entrypoint=filler, memory_gb=0.5, priority=10) for _ in range(2)]
    poll(lambda: all(system.task(t)["status"] != "queued" for t in small), timeout=60, what="small tasks")
    gang = system.submit(entrypoint="python -c 'print(3)'", node_count=2, memory_gb=0.5, priority=1)
    # Keep the queue full of fresh higher-priority small tasks while the gang waits.
    submitted = list(small)

    def gang_ran() -> bool:
        open_small = [t for t in submitted if system.task(t)["status"] == "queued"]
        if len(open_small) < 2:
            submitted.append(system.submit(entrypoint=filler, memory_gb=0.5, priority=10))
        return system.task(gang)["status"] in ("running", "completed")

    poll(gang_ran, timeout=180, interval=0.3, what="the aged gang to start")
    assert system.wait_ended([gang], timeout=120)[gang]["status"] == "completed"
    system.wait_ended(submitted, timeout=180)


def test_killing_one_parts_worker_requeues_the_whole_gang_when_its_policy_retries(system: System) -> None:
    token = f"gang-{secrets.token_hex(6)}"
    agents = {name: system.start_agent(name, *NODE) for name in ("w-retry-a", "w-retry-b", "w-retry-c")}
    snapshot_id = upload(system, {"allreduce.py": ALLREDUCE})
    task_id = system.submit(
        entrypoint="allreduce.py",
        args=["600", token],
        snapshot_id=snapshot_id,
        node_count=2,
        memory_gb=0.5,
        max_retries=1,
    )
    poll(
        lambda: (
            system.task(task_id)["status"] == "running"
            and len(task_processes(token)) >= 2
            and all_reduced(system, task_id, 2)
        ),
        timeout=120,
        interval=0.3,
        what="both parts to run and all-reduce",
    )
    first = system.task(task_id)["node_assignments"]
    victim = next(part for part in first if part["rank"] == 0)
    agents[victim["worker_name"]].kill()
    # The whole gang runs again as attempt 2, on the two workers left; attempt 1's parts all stop.
    ended = system.wait_ended([task_id], timeout=180)[task_id]
    assert (ended["status"], ended["attempt"]) == ("completed", 2), ended
    assert ended["attempts"][0]["failure_reason"] == "worker_lost"
    assert ended["attempts"][0]["failure_message"].startswith(f"rank 0 (worker {victim['worker_name']})")
    second = ended["node_assignments"]
    assert victim["worker_name"] not in {part["worker_name"] for part in second}
    assert {part["status"] for part in second} == {"completed"}
    assert artifact(system, task_id, "rank-1/result.json")["sum"] == 30
    poll(lambda: not task_processes(token), timeout=60, what="every part's process to end")


def test_a_gang_in_a_reservation_all_reduces_on_the_reservations_workers(system: System) -> None:
    names = ("w-res-a", "w-res-b", "w-res-c")
    for name in names:
        system.start_agent(name, *NODE)
    response = system.http.post(
        "/v1/scheduler/reservations",
        headers=system.user,
        json={"gpu_count": 0, "cpu": 1, "memory_gb": 1, "node_count": 2},
    )
    assert response.status_code == 201, response.text
    reservation = response.json()
    snapshot_id = upload(system, {"allreduce.py": ALLREDUCE})
    body = {"job_name": "job", "entrypoint": "allreduce.py", "snapshot_id": snapshot_id, "memory_gb": 0.5}
    too_wide = system.http.post(
        "/v1/tasks", headers=system.user, json={**body, "node_count": 3, "reservation_id": reservation["id"]}
    )
    assert too_wide.status_code == 422, too_wide.text
    assert too_wide.json()["details"] == {"field": "node_count", "reservation_id": reservation["id"]}

    # The workers outside the reservation take nothing of it: the gang runs on its two, whole.
    task_id = system.submit(**{**body, "node_count": 2, "reservation_id": reservation["id"]})
    ended = system.wait_ended([task_id], timeout=180)[task_id]
    assert ended["status"] == "completed", ended
    parts = ended["node_assignments"]
    assert sorted(part["worker_id"] for part in parts) == sorted(reservation["worker_ids"])
    assert {part["status"] for part in parts} == {"completed"}
    for rank in range(2):
        assert artifact(system, task_id, f"rank-{rank}/result.json")["sum"] == 30
