"""The generated Python SDK (clients/python, `runplane_client`) against a live server and a real worker.

Everything the test asks of the server goes through the SDK: keys, a snapshot up and down, tasks submitted,
listed page by page, run by a `runplane worker` process, their logs, results and artifacts (whole and by
Range, sha256 checked), cancel, experiments, and errors read as the contract's ErrorResponse.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from runplane_client import AuthenticatedClient
from runplane_client.api.experiments import create_experiment, get_experiment, list_experiments
from runplane_client.api.keys import create_key, list_keys, revoke_key
from runplane_client.api.results import (
    download_task_artifact,
    get_task_logs,
    get_task_results,
    list_task_artifacts,
)
from runplane_client.api.scheduler import list_workers
from runplane_client.api.snapshots import download_snapshot, get_snapshot, upload_snapshot
from runplane_client.api.tasks import cancel_task, create_task, get_task, get_task_status, list_tasks
from runplane_client.models import (
    ApiKeyCreate,
    ApiKeyCreated,
    ArtifactList,
    ErrorCode,
    ErrorResponse,
    Experiment,
    ExperimentCreate,
    ExperimentList,
    Role,
    Snapshot,
    StringMap,
    Task,
    TaskCreate,
    TaskList,
    TaskResults,
    TaskStatus,
    TaskStatusReport,
    WorkerList,
)
from runplane_client.types import File, Response

from tests.support.server import RunningServer, running_server
from tests.support.snapshots import snapshot_archive
from tests.support.waiting import poll
from tests.support.worker_process import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN = """
    import json, os, pathlib
    from runplane.task import progress

    out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
    print("mode", os.environ["MODE"], "seed", os.environ.get("RUNPLANE_RANDOM_SEED"))
    progress(50, "half way")
    (out / "model.bin").write_bytes(bytes(range(256)) * 40)
    (out / "results.json").write_text(json.dumps({"summary": {"accuracy": 0.9}, "rows": [{"epoch": 1}]}))
"""
T = TypeVar("T")
TERMINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}


def sdk(server: RunningServer, key: str) -> AuthenticatedClient:
    """The SDK's client as a user makes one: the key in `X-API-Key`, no prefix."""
    return AuthenticatedClient(
        base_url=server.base_url, token=key, prefix="", auth_header_name="X-API-Key", timeout=None
    )


def ok(response: Response[T | ErrorResponse]) -> T:
    """The parsed success answer; fails the test with the error body otherwise."""
    assert response.status_code < 400, response.content
    assert response.parsed is not None and not isinstance(response.parsed, ErrorResponse)
    return response.parsed


def error_of(response: Response[Any]) -> ErrorResponse:
    assert isinstance(response.parsed, ErrorResponse), (response.status_code, response.content)
    assert response.parsed.trace_id == response.headers["X-Trace-Id"]
    return response.parsed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"RUNPLANE_HEARTBEAT_SECONDS": "0.5", "RUNPLANE_RATE_LIMIT": "100000/minute"}
    with running_server(tmp_path_factory.mktemp("sdk"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: RunningServer) -> Iterator[AuthenticatedClient]:
    with sdk(server, server.admin_key) as client:
        yield client


def new_key(admin: AuthenticatedClient, name: str, role: Role) -> ApiKeyCreated:
    created = ok(create_key.sync_detailed(client=admin, body=ApiKeyCreate(name=name, role=role)))
    assert isinstance(created, ApiKeyCreated)
    return created


def test_keys_are_created_listed_and_revoked(server: RunningServer, admin: AuthenticatedClient) -> None:
    created = new_key(admin, "sdk-short-lived", Role.USER)
    assert created.key.startswith("rp_") and created.role == Role.USER
    names: set[str] = set()
    offset = 0
    while True:
        page = ok(list_keys.sync_detailed(client=admin, limit=1, offset=offset))
        names.update(key.name for key in page.keys)
        offset += len(page.keys)
        if not page.keys or offset >= page.total:
            break
    assert "sdk-short-lived" in names
    with sdk(server, created.key) as user:
        assert isinstance(ok(list_tasks.sync_detailed(client=user)), TaskList)
        revoked = revoke_key.sync_detailed(created.id, client=admin)
        assert revoked.status_code == 204, revoked.content
        refused = error_of(list_tasks.sync_detailed(client=user))
    assert refused.code == ErrorCode.UNAUTHORIZED
    # A user key is no admin.
    with sdk(server, new_key(admin, "sdk-plain-user", Role.USER).key) as user:
        forbidden = error_of(list_keys.sync_detailed(client=user))
    assert forbidden.code == ErrorCode.FORBIDDEN


def test_a_snapshot_task_runs_and_its_logs_results_and_artifacts_come_back(
    server: RunningServer, admin: AuthenticatedClient, tmp_path: Path
) -> None:
    worker_key = new_key(admin, "sdk-worker", Role.WORKER).key
    with sdk(server, new_key(admin, "sdk-user", Role.USER).key) as user:
        experiment = ok(create_experiment.sync_detailed(client=user, body=ExperimentCreate(name="sdk-exp")))
        assert isinstance(experiment, Experiment)
        archive = snapshot_archive({"train.py": TRAIN})
        snapshot = ok(upload_snapshot.sync_detailed(client=user, body=File(payload=io.BytesIO(archive))))
        assert isinstance(snapshot, Snapshot)
        assert snapshot.sha256 == hashlib.sha256(archive).hexdigest() and snapshot.size == len(archive)
        assert ok(get_snapshot.sync_detailed(snapshot.id, client=user)).sha256 == snapshot.sha256
        assert ok(download_snapshot.sync_detailed(snapshot.id, client=user)).payload.read() == archive

        env = StringMap()
        env["MODE"] = "sdk"
        body = TaskCreate(
            job_name="sdk-train",
            entrypoint="train.py",
            snapshot_id=snapshot.id,
            experiment_id=experiment.id,
            random_seed=11,
            env=env,
        )
        task = ok(create_task.sync_detailed(client=user, body=body))
        assert isinstance(task, Task) and task.status == TaskStatus.QUEUED
        assert ok(get_task.sync_detailed(task.id, client=user)).snapshot_id == snapshot.id

        def registered(name: str) -> bool:
            workers = ok(list_workers.sync_detailed(client=admin, limit=100))
            assert isinstance(workers, WorkerList)
            return any(w.name == name and w.status.value == "active" for w in workers.workers)

        with running_worker(server.base_url, worker_key, tmp_path, name="sdk-w", registered=registered):

            def ended() -> TaskStatusReport | None:
                report = ok(get_task_status.sync_detailed(task.id, client=user))
                assert isinstance(report, TaskStatusReport)
                return report if report.status in TERMINAL else None

            final = poll(ended, timeout=90, what="the task to end")
        assert final.status == TaskStatus.COMPLETED, final
        assert final.progress == 100

        logs = ok(get_task_logs.sync_detailed(task.id, client=user))
        assert "mode sdk seed 11" in logs
        assert ok(get_task_logs.sync_detailed(task.id, client=user, tail=1)).count("\n") <= 1
        results = ok(get_task_results.sync_detailed(task.id, client=user))
        assert isinstance(results, TaskResults)
        assert results.summary.to_dict() == {"accuracy": 0.9}

        listed = ok(list_task_artifacts.sync_detailed(task.id, client=user))
        assert isinstance(listed, ArtifactList)
        by_path = {artifact.path: artifact for artifact in listed.artifacts}
        assert {"model.bin", "results.json", "run.json"} <= set(by_path)
        for artifact in listed.artifacts:
            whole = download_task_artifact.sync_detailed(task.id, artifact.path, client=user)
            assert whole.status_code == 200
            data = ok(whole).payload.read()
            assert len(data) == artifact.size and hashlib.sha256(data).hexdigest() == artifact.sha256
        part = download_task_artifact.sync_detailed(task.id, "model.bin", client=user, range_="bytes=256-511")
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 256-511/{by_path['model.bin'].size}"
        assert ok(part).payload.read() == bytes(range(256))
        beyond = download_task_artifact.sync_detailed(
            task.id, "model.bin", client=user, range_="bytes=999999-"
        )
        assert error_of(beyond).code == ErrorCode.RANGE_NOT_SATISFIABLE

        # The experiment counts its task; the listing finds it.
        assert ok(get_experiment.sync_detailed(experiment.id, client=user)).task_count == 1
        experiments = ok(list_experiments.sync_detailed(client=user))
        assert isinstance(experiments, ExperimentList)
        assert [e.id for e in experiments.experiments] == [experiment.id]
        # A finished task cannot be cancelled.
        assert error_of(cancel_task.sync_detailed(task.id, client=user)).code == ErrorCode.CONFLICT


def test_tasks_page_cancel_and_errors_are_the_error_model(
    server: RunningServer, admin: AuthenticatedClient
) -> None:
    with sdk(server, new_key(admin, "sdk-pager", Role.USER).key) as user:
        # More GPUs than any worker has: these stay queued.
        submitted = [
            ok(
                create_task.sync_detailed(
                    client=user, body=TaskCreate(job_name=f"p{i}", entrypoint="x.py", gpu=64)
                )
            ).id
            for i in range(5)
        ]
        seen: list[str] = []
        offset = 0
        while True:
            page = ok(list_tasks.sync_detailed(client=user, limit=2, offset=offset))
            assert isinstance(page, TaskList) and page.total == 5 and len(page.tasks) <= 2
            seen += [task.id for task in page.tasks]
            offset += len(page.tasks)
            if offset >= page.total:
                break
        assert seen == list(reversed(submitted))  # newest first, each once
        queued = ok(list_tasks.sync_detailed(client=user, status=TaskStatus.QUEUED, limit=100))
        assert {task.id for task in queued.tasks} == set(submitted)

        cancelled = cancel_task.sync_detailed(submitted[0], client=user)
        assert cancelled.status_code == 204
        assert ok(get_task_status.sync_detailed(submitted[0], client=user)).status == TaskStatus.CANCELLED

        missing = error_of(get_task.sync_detailed("no-such-task", client=user))
        assert missing.code == ErrorCode.NOT_FOUND and missing.error
        bad = error_of(
            create_task.sync_detailed(
                client=user, body=TaskCreate(job_name="bad", entrypoint="x.py", priority=99)
            )
        )
        assert bad.code == ErrorCode.VALIDATION_ERROR
    with sdk(server, "rp_not-a-real-key") as stranger:
        assert error_of(list_tasks.sync_detailed(client=stranger)).code == ErrorCode.UNAUTHORIZED
