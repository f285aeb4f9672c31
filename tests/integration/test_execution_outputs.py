"""Real agents (`runplane serve` and `runplane worker` processes): what a task's output file names become,
and that an ended task's secret values leave the SQLite database file and its write-ahead log.

The names are the ones a new-user trial found: the command exited 0 but the task ended failed (a name the
server decoded to ``..``), and two files ended up in one artifact. Both databases for the names (the
artifact rows are SQL); the write-ahead log is SQLite's only.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.integration.test_execution import SERVER_ENV, Stack
from tests.support.live import module_database
from tests.support.openapi import validate_read
from tests.support.server import running_server
from tests.support.waiting import poll

pytestmark = pytest.mark.integration

CHECKPOINT_SECONDS = 1


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"outputs-{request.param}")
    env = {**SERVER_ENV, "RUNPLANE_WAL_CHECKPOINT_SECONDS": str(CHECKPOINT_SECONDS)}
    with (
        module_database(request, root) as database_url,
        running_server(
            root / "server", env={**env, "RUNPLANE_DATABASE_URL": database_url}, ready_timeout=180
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=30, event_hooks={"response": [validate_read]}) as http,
    ):
        admin = {"X-API-Key": server.admin_key}
        keys = {}
        for role in ("worker", "user"):
            created = http.post("/v1/keys", headers=admin, json={"name": f"out-{role}", "role": role})
            assert created.status_code == 201, created.text
            keys[role] = created.json()["key"]
        yield Stack(server, root, http, keys["user"], keys["worker"], database_url, request.param)


NAMES = r"""
    import os
    os.chdir(os.environ["RUNPLANE_OUTPUT_DIR"])
    def put(name, data):
        with open(name, "wb") as fh:
            fh.write(data)
    put(b"a%2fb", b"A")
    put(b"%2e%2e", b"B")
    put(b"back\\slash", b"E")
    os.mkdir(b"back")
    put(b"back/slash", b"F")
    put(b"\x01ctl", b"C")
    put(b"dup\x01", b"H")
    put(b"dup%01", b"I")
"""


def download(stack: Stack, task_id: str, name: str) -> httpx.Response:
    url = "/".join(quote(segment, safe="") for segment in name.split("/"))
    return stack.http.get(f"/v1/tasks/{task_id}/artifacts/{url}", headers=stack.user)


@pytest.mark.slow
def test_odd_output_names_never_fail_the_task_share_an_artifact_or_vanish(stack: Stack) -> None:
    task_id = stack.submit(entrypoint="names.py", snapshot_id=stack.upload({"names.py": NAMES}))
    with stack.workers("w-names"):
        final = stack.wait_status(task_id, {"completed", "failed", "cancelled"}, timeout=60)
    assert final["status"] == "completed", final
    listed = stack.http.get(f"/v1/tasks/{task_id}/artifacts", headers=stack.user).json()["artifacts"]
    expected = {
        "a%2fb": b"A",
        "%2e%2e": b"B",
        "back%5Cslash": b"E",
        "back/slash": b"F",
        "%01ctl": b"C",
        "dup%01": b"I",
    }
    assert {a["path"] for a in listed} == {*expected, "run.json"}
    for name, data in expected.items():
        response = download(stack, task_id, name)
        assert response.status_code == 200, (name, response.text)
        assert response.content == data, name
    # The one file left out (its escaped name is another file's) is said so, in the log and the message.
    message = stack.task(task_id)["message"]
    assert "'dup\\x01' not uploaded" in message, message
    assert "'back\\\\slash' uploaded as artifact 'back%5Cslash'" in message, message
    logs = poll(
        lambda: (
            (text := stack.http.get(f"/v1/tasks/{task_id}/logs", headers=stack.user).text)
            and "not uploaded" in text
            and text
        ),
        timeout=10,
        what="the warning in the task's log",
    )
    assert "[runplane] output 'dup\\x01' not uploaded" in logs


SECRET_TASK = """
    import os
    print("token length", len(os.environ["API_TOKEN"]))
"""


@pytest.mark.slow
def test_an_ended_task_s_secret_value_leaves_the_sqlite_file_and_its_wal(stack: Stack) -> None:
    if stack.backend != "sqlite":
        pytest.skip("the write-ahead log is SQLite's")
    secret = "wal-secret-7f3a9c1e5b2d"
    task_id = stack.submit(
        entrypoint="s.py", snapshot_id=stack.upload({"s.py": SECRET_TASK}), secrets={"API_TOKEN": secret}
    )
    with stack.workers("w-secret"):
        final = stack.wait_status(task_id, {"completed", "failed", "cancelled"}, timeout=60)
    assert final["status"] == "completed", final
    database = stack.database_url.split("///", 1)[1]
    files = [database, database + "-wal"]

    def clean() -> bool:
        found = []
        for path in files:
            try:
                with open(path, "rb") as fh:
                    found.append(secret.encode() in fh.read())
            except FileNotFoundError:
                found.append(False)
        return not any(found)

    # The bound: one checkpoint interval, plus slack for a pass that found the log busy.
    poll(clean, timeout=CHECKPOINT_SECONDS * 10, what="the secret value to leave the database and its WAL")
