"""What a task produced: logs (tail, follow, masked), artifacts (list, download, Range, traversal-proof),
results (409 before completion, 200 after) and the run identity (``/run`` equal to ``run.json``).

Tasks are driven through their life with the worker API (register, claim, report, logs, artifacts) over
the in-process client, the way a worker agent does it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import quote

import anyio
import pytest

from tests.conftest import auth
from tests.support.asgi import open_response, request
from tests.support.errors import assert_error
from tests.support.worker_flow import FakeWorker, new_worker_key

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SECRET = "s3cr3t-token-value"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CSV = b"epoch,loss\n1,0.9\n2,0.5\n3,0.25\n"
RESULTS = {
    "summary": {"best_loss": 0.25, "epochs": 3},
    "rows": [{"epoch": 1, "loss": 0.9}, {"epoch": 3, "loss": 0.25}],
}
OUTSIDE = b"TOP-SECRET-CONTENT-OUTSIDE-THE-ARTIFACTS"


@pytest.fixture
async def worker(client: Any, worker_key: str) -> FakeWorker:
    return await FakeWorker(client, worker_key).register()


async def submit(client: Any, key: str, **extra: Any) -> dict[str, Any]:
    body = {
        "job_name": "train",
        "entrypoint": "python train.py --api-key sk-live-123",
        "args": ["--epochs", "3"],
    }
    response = await client.post("/v1/tasks", headers=auth(key), json={**body, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def running_task(client: Any, key: str, worker: FakeWorker, **extra: Any) -> str:
    task_id = str((await submit(client, key, **extra))["id"])
    await worker.start(task_id)
    return task_id


async def completed_task(client: Any, key: str, worker: FakeWorker, files: dict[str, bytes]) -> str:
    task_id = await running_task(client, key, worker)
    for path, data in files.items():
        assert (await worker.upload(task_id, path, data)).status_code == 201
    await worker.finish(task_id)
    return task_id


def not_completed(task_id: str, status: str) -> tuple[int, str, str, dict[str, Any]]:
    return (
        409,
        "CONFLICT",
        "Results are available once the task has completed",
        {"task_id": task_id, "status": status},
    )


# --- the whole life of a task ---------------------------------------------------------------------------


async def test_a_task_from_submission_to_results(client, user_key, worker):
    experiment = await client.post("/v1/experiments", headers=auth(user_key), json={"name": "sweep"})
    task = await submit(
        client,
        user_key,
        secrets={"API_TOKEN": SECRET},
        experiment_id=experiment.json()["id"],
        run_label="baseline",
        random_seed=7,
    )
    task_id = task["id"]
    results_url = f"/v1/tasks/{task_id}/results"

    assert_error(await client.get(results_url, headers=auth(user_key)), *not_completed(task_id, "queued"))
    queued_run = (await client.get(f"/v1/tasks/{task_id}/run", headers=auth(user_key))).json()
    assert queued_run["status"] == "queued"
    assert "worker_id" not in queued_run and "started_at" not in queued_run

    await worker.start(task_id)
    # The worker forgot to mask: the server masks the task's secret values before storing anything.
    assert (await worker.log(task_id, "epoch 1 loss 0.9", f"using token {SECRET}")).status_code == 204
    assert (await worker.log(task_id, "warning: slow disk", stream="stderr")).status_code == 204
    files = {
        "metrics.csv": CSV,
        "plots/loss.png": PNG,
        "notes.txt": b"all good\n",
        "results.json": json.dumps(RESULTS).encode(),
    }
    for path, data in files.items():
        uploaded = await worker.upload(task_id, path, data)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert_error(await client.get(results_url, headers=auth(user_key)), *not_completed(task_id, "running"))
    await worker.finish(task_id)

    logs = await client.get(f"/v1/tasks/{task_id}/logs", headers=auth(user_key))
    assert logs.status_code == 200
    assert logs.headers["content-type"] == "text/plain; charset=utf-8"
    assert logs.text == "epoch 1 loss 0.9\nusing token ***\nwarning: slow disk\n"

    listed = (await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))).json()
    assert listed["task_id"] == task_id
    assert listed["total"] == 5
    by_path = {artifact["path"]: artifact for artifact in listed["artifacts"]}
    assert list(by_path) == ["metrics.csv", "notes.txt", "plots/loss.png", "results.json", "run.json"]
    types = {path: artifact["content_type"] for path, artifact in by_path.items()}
    assert types == {
        "metrics.csv": "text/csv",
        "notes.txt": "text/plain",
        "plots/loss.png": "image/png",
        "results.json": "application/json",
        "run.json": "application/json",
    }
    for path, artifact in by_path.items():
        download = await client.get(f"/v1/tasks/{task_id}/artifacts/{path}", headers=auth(user_key))
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == artifact["sha256"]
        assert len(download.content) == artifact["size"]
        assert download.headers["content-type"].split(";")[0] == artifact["content_type"]
        name = path.rsplit("/", 1)[-1]
        assert download.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert download.headers["x-content-type-options"] == "nosniff"
        if path in files:
            assert download.content == files[path]

    results = await client.get(results_url, headers=auth(user_key))
    assert results.status_code == 200
    assert results.json() == {"task_id": task_id, **RESULTS}

    run = (await client.get(f"/v1/tasks/{task_id}/run", headers=auth(user_key))).json()
    run_json = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(user_key))
    assert json.loads(run_json.content) == run
    final = (await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))).json()
    assert run == {
        "task_id": task_id,
        "job_name": "train",
        "user_id": "alice",
        "experiment_id": experiment.json()["id"],
        "trial": 1,
        "attempt": 1,
        "random_seed": 7,
        "run_label": "baseline",
        "status": "completed",
        "worker_id": worker.worker_id,
        "command": ["python", "train.py", "--api-key", "<redacted>", "--epochs", "3"],
        "submitted_at": final["created_at"],
        "started_at": final["started_at"],
        "ended_at": final["ended_at"],
    }
    for body in (run_json.text, logs.text, json.dumps(listed)):
        assert SECRET not in body and "sk-live-123" not in body


async def test_trial_is_the_position_in_the_experiment(client, user_key, worker):
    experiment = (await client.post("/v1/experiments", headers=auth(user_key), json={"name": "e"})).json()
    first = await submit(client, user_key, experiment_id=experiment["id"])
    second = await submit(client, user_key, experiment_id=experiment["id"])
    alone = await submit(client, user_key)
    trials = []
    for task in (first, second, alone):
        run = (await client.get(f"/v1/tasks/{task['id']}/run", headers=auth(user_key))).json()
        trials.append((run.get("trial"), run["attempt"]))
    assert trials == [(1, 1), (2, 1), (None, 1)]


async def test_a_model_run_names_the_catalog_command(client, user_key):
    body = {"job_name": "ridge", "model_id": "linear_reg", "inputs": {}, "random_seed": 3}
    task = (await client.post("/v1/tasks", headers=auth(user_key), json=body)).json()
    run = (await client.get(f"/v1/tasks/{task['id']}/run", headers=auth(user_key))).json()
    assert run["command"] == ["python", "-m", "runplane.catalog", "linear_reg"]
    assert run["model_id"] == "linear_reg" and run["random_seed"] == 3


async def test_run_json_is_written_when_a_task_fails_too(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    await worker.report(task_id, status="failed", failure_reason="exit_code", exit_code=3)
    run = (await client.get(f"/v1/tasks/{task_id}/run", headers=auth(user_key))).json()
    stored = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(user_key))
    assert json.loads(stored.content) == run
    assert run["status"] == "failed"
    assert_error(
        await client.get(f"/v1/tasks/{task_id}/results", headers=auth(user_key)),
        *not_completed(task_id, "failed"),
    )


# --- results -------------------------------------------------------------------------------------------


async def test_results_of_an_unknown_task_is_404(client, user_key):
    response = await client.get("/v1/tasks/nope/results", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Task not found", {"task_id": "nope"})


async def test_completed_without_results_json_is_404(client, user_key, worker):
    task_id = await completed_task(client, user_key, worker, {"out.txt": b"x"})
    response = await client.get(f"/v1/tasks/{task_id}/results", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "This task wrote no results.json", {"task_id": task_id})


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON (JSONDecodeError)"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"rows": []}', "missing 'summary'"),
        (b'{"summary": {}, "rows": [1]}', "rows.0: Input should be a valid dictionary"),
    ],
)
async def test_invalid_results_json_is_409(client, user_key, worker, content, reason):
    task_id = await completed_task(client, user_key, worker, {"results.json": content})
    response = await client.get(f"/v1/tasks/{task_id}/results", headers=auth(user_key))
    assert_error(
        response,
        409,
        "CONFLICT",
        f"This task's results.json is not valid: {reason}",
        {"artifact": "results.json", "reason": reason},
    )


# --- tenancy -------------------------------------------------------------------------------------------


async def test_other_users_get_404_everywhere(client, user_key, other_user_key, admin_key, worker):
    task_id = await completed_task(client, user_key, worker, {"results.json": json.dumps(RESULTS).encode()})
    for suffix in ("logs", "artifacts", "artifacts/results.json", "results", "run", "logs?follow=true"):
        response = await client.get(f"/v1/tasks/{task_id}/{suffix}", headers=auth(other_user_key))
        assert_error(response, 404, "NOT_FOUND", "Task not found", {"task_id": task_id})
        assert (await client.get(f"/v1/tasks/{task_id}/{suffix}", headers=auth(admin_key))).status_code == 200


# --- logs ----------------------------------------------------------------------------------------------


async def test_logs_whole_and_tail(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    empty = await client.get(f"/v1/tasks/{task_id}/logs", headers=auth(user_key))
    assert empty.status_code == 200 and empty.text == ""
    assert (await client.get(f"/v1/tasks/{task_id}/logs?tail=5", headers=auth(user_key))).text == ""
    await worker.log(task_id, *(f"line {n}" for n in range(1, 11)))
    await worker.log(task_id, "crlf line\r\n", "newline line\n", "multi\nline")
    expected = [f"line {n}" for n in range(1, 11)] + ["crlf line", "newline line", "multi", "line"]
    whole = await client.get(f"/v1/tasks/{task_id}/logs", headers=auth(user_key))
    assert whole.text == "\n".join(expected) + "\n"
    for tail in (1, 3, 14, 100):
        response = await client.get(
            f"/v1/tasks/{task_id}/logs", params={"tail": tail}, headers=auth(user_key)
        )
        assert response.text == "".join(line + "\n" for line in expected[-tail:])


async def test_tail_reads_lines_longer_than_a_block(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    long_line = "x" * 60_000
    await worker.log(task_id, "first", long_line, long_line + "y", "last")
    response = await client.get(f"/v1/tasks/{task_id}/logs?tail=3", headers=auth(user_key))
    assert response.text == f"{long_line}\n{long_line}y\nlast\n"


async def test_secret_values_are_redacted_by_value_wherever_the_log_masks_them(client, user_key, worker):
    # Passed where no name gives them away: a positional argument, a neutral option, the entrypoint, env.
    task_id = await running_task(
        client,
        user_key,
        worker,
        entrypoint=f"python train.py {SECRET}",
        args=["--config-b64", "pw-42", f"prefix-{SECRET}"],
        env={"MODE": f"x{SECRET}x"},
        secrets={"A": SECRET, "B": "pw-42"},
    )
    await worker.report(task_id, progress=50, message=f"step with {SECRET}")
    await worker.report(
        task_id, status="failed", failure_reason="exit_code", exit_code=1, message=f"bad {SECRET}"
    )
    run = (await client.get(f"/v1/tasks/{task_id}/run", headers=auth(user_key))).json()
    assert run["command"] == [
        "python",
        "train.py",
        "<redacted>",
        "--config-b64",
        "<redacted>",
        "prefix-<redacted>",
    ]
    stored = await client.get(f"/v1/tasks/{task_id}/artifacts/run.json", headers=auth(user_key))
    assert json.loads(stored.content) == run
    task = await client.get(f"/v1/tasks/{task_id}", headers=auth(user_key))
    status = await client.get(f"/v1/tasks/{task_id}/status", headers=auth(user_key))
    for answer in (stored.text, task.text, status.text):
        assert SECRET not in answer and "pw-42" not in answer
    assert task.json()["entrypoint"] == "python train.py <redacted>"
    assert task.json()["env"] == {"MODE": "x<redacted>x"}
    assert task.json()["failure"]["message"] == "bad <redacted>"


async def test_secret_values_are_masked_in_logs(client, user_key, worker):
    task_id = await running_task(client, user_key, worker, secrets={"A": SECRET, "B": "pw-42"})
    await worker.log(task_id, f"{SECRET} and pw-42 and {SECRET}{SECRET}", stream="stderr")
    response = await client.get(f"/v1/tasks/{task_id}/logs", headers=auth(user_key))
    assert response.text == "*** and *** and ******\n"


async def test_follow_streams_new_lines_until_the_task_ends(app, client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    await worker.log(task_id, "old line", "first line")
    with anyio.fail_after(20):
        async with open_response(
            app, "GET", f"/v1/tasks/{task_id}/logs?follow=true&tail=1", auth(user_key)
        ) as response:
            assert response.status == 200
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert await response.next_chunk() == b"first line\n"
            await worker.log(task_id, "second line")
            assert await response.next_chunk() == b"second line\n"
            await worker.report(task_id, status="collecting")
            await worker.log(task_id, f"last line {SECRET}")
            await worker.report(task_id, status="completed")
            # Everything logged before the end arrives, then the answer ends by itself.
            assert await response.rest() == b"last line " + SECRET.encode() + b"\n"
            assert response.finished


async def test_follow_on_an_ended_task_answers_at_once(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    await worker.log(task_id, "only line")
    await worker.finish(task_id)
    response = await client.get(f"/v1/tasks/{task_id}/logs?follow=true", headers=auth(user_key))
    assert response.status_code == 200 and response.text == "only line\n"


# --- artifact downloads: Range -----------------------------------------------------------------------


async def test_range_requests(client, user_key, worker):
    data = bytes(range(100))
    task_id = await completed_task(client, user_key, worker, {"blob.bin": data})
    url = f"/v1/tasks/{task_id}/artifacts/blob.bin"

    async def get(range_header: str, **headers: str) -> Any:
        return await client.get(url, headers={**auth(user_key), "Range": range_header, **headers})

    for header, first, last in [
        ("bytes=0-9", 0, 9),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=98-500", 98, 99),
    ]:
        response = await get(header)
        assert response.status_code == 206, header
        assert response.content == data[first : last + 1]
        assert response.headers["content-range"] == f"bytes {first}-{last}/100"
        assert response.headers["content-type"] == "application/octet-stream"

    for header in ("bytes=100-", "bytes=500-600", "bytes=-0"):
        response = await get(header)
        assert_error(
            response,
            416,
            "RANGE_NOT_SATISFIABLE",
            "Range not satisfiable: the file has 100 bytes",
            {"size": 100, "range": header},
        )
        assert response.headers["content-range"] == "bytes */100"

    # An invalid Range header (RFC 9110 §14.2), several ranges, another unit, or a stale If-Range: the
    # whole file.
    for header, extra in [
        ("bytes", {}),
        ("bytes=abc", {}),
        ("bytes=5-2", {}),
        ("bytes=10-5", {}),
        ("bytes=-", {}),
        ("bytes=0-1,5-6", {}),
        ("items=0-1", {}),
        ("bytes=0-1", {"If-Range": '"stale"'}),
    ]:
        response = await get(header, **extra)
        assert response.status_code == 200 and response.content == data

    etag = (await client.get(url, headers=auth(user_key))).headers["etag"]
    matching = await get("bytes=0-1", **{"If-Range": etag})
    assert matching.status_code == 206 and matching.content == data[:2]


# --- artifact downloads: traversal --------------------------------------------------------------------


def unsafe(why: str) -> tuple[int, str, str, dict[str, Any]]:
    return (
        400,
        "VALIDATION_ERROR",
        f"Unsafe artifact path: it {why}",
        {"field": "artifactPath", "in": "path", "reason": why},
    )


ENCODED_ATTEMPTS = [
    ("%2e%2e/%2e%2e/secret.txt", "contains '..'"),
    ("..%2f..%2fsecret.txt", "contains '..'"),
    ("..%2F..%2F..%2Fsecret.txt", "contains '..'"),
    ("plots/%2e%2e/%2e%2e/%2e%2e/secret.txt", "contains '..'"),
    ("..%5c..%5csecret.txt", "contains '..'"),
    ("%2Fetc%2Fpasswd", "is absolute"),
    ("%5Cetc%5Cpasswd", "is absolute"),
    ("C:%5cWindows%5cwin.ini", "starts with a drive letter"),
    ("plots//loss.png", "has an empty segment"),
    ("%2e/results.json", "contains '.'"),
    ("a%00b", "contains a NUL byte"),
    ("a%09b", "contains a control character"),
]


@pytest.mark.parametrize(("raw", "why"), ENCODED_ATTEMPTS)
async def test_encoded_traversal_is_refused(client, settings, user_key, worker, raw, why):
    (settings.resolved_data_dir / "secret.txt").write_bytes(OUTSIDE)
    task_id = await completed_task(client, user_key, worker, {"results.json": b"{}"})
    response = await client.get(f"/v1/tasks/{task_id}/artifacts/{raw}", headers=auth(user_key))
    assert_error(response, *unsafe(why))
    assert OUTSIDE not in response.content


@pytest.mark.parametrize("raw", ["%252e%252e/%252e%252e/secret.txt", "%25252e%25252e%25252fsecret.txt"])
async def test_names_decoded_only_by_the_url_are_looked_up_as_they_are(
    client, settings, user_key, worker, raw
):
    """The URL is decoded once; the name that leaves (``%2e%2e/...``) is an artifact name like any other,
    never decoded again (that is how an artifact literally named ``%2e%2e`` stays downloadable): 404."""
    (settings.resolved_data_dir / "secret.txt").write_bytes(OUTSIDE)
    task_id = await completed_task(client, user_key, worker, {"results.json": b"{}"})
    response = await client.get(f"/v1/tasks/{task_id}/artifacts/{raw}", headers=auth(user_key))
    assert response.status_code == 404, response.text
    assert OUTSIDE not in response.content


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("../../secret.txt", "contains '..'"),
        ("plots/../../../secret.txt", "contains '..'"),
        ("..", "contains '..'"),
        ("/etc/passwd", "is absolute"),
        ("./results.json", "contains '.'"),
    ],
)
async def test_literal_traversal_is_refused(app, client, settings, user_key, worker, raw, why):
    """Sent as written (an HTTP client would normalise the dots away before sending)."""
    (settings.resolved_data_dir / "secret.txt").write_bytes(OUTSIDE)
    task_id = await completed_task(client, user_key, worker, {"results.json": b"{}"})
    status, headers, body = await request(app, "GET", f"/v1/tasks/{task_id}/artifacts/{raw}", auth(user_key))
    expected_status, code, error, details = unsafe(why)
    assert status == expected_status
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": error,
        "code": code,
        "trace_id": headers["x-trace-id"],
        "details": details,
    }
    assert OUTSIDE not in body


async def test_other_tasks_artifacts_are_not_reachable(client, user_key, worker, worker_key):
    mine = await completed_task(client, user_key, worker, {"mine.txt": b"mine"})
    other = await completed_task(
        client, user_key, await FakeWorker(client, worker_key).register("w2"), {"theirs.txt": b"theirs"}
    )
    response = await client.get(
        f"/v1/tasks/{mine}/artifacts/%2e%2e/{other}/theirs.txt", headers=auth(user_key)
    )
    assert_error(response, *unsafe("contains '..'"))
    response = await client.get(f"/v1/tasks/{mine}/artifacts/theirs.txt", headers=auth(user_key))
    assert_error(response, 404, "NOT_FOUND", "Artifact not found", {"task_id": mine, "path": "theirs.txt"})


async def test_symlinks_leading_out_are_refused(client, settings, user_key, worker):
    outside = settings.resolved_data_dir / "secret.txt"
    outside.write_bytes(OUTSIDE)
    outside_dir = settings.resolved_data_dir / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "inner.txt").write_bytes(OUTSIDE)
    task_id = await completed_task(
        client, user_key, worker, {"link.txt": b"harmless", "sub/inner.txt": b"harmless"}
    )
    task_dir = settings.resolved_data_dir / "artifacts" / task_id
    # Someone with access to the disk swaps the stored files for links out of the task's directory.
    (task_dir / "link.txt").unlink()
    os.symlink(outside, task_dir / "link.txt")
    (task_dir / "sub" / "inner.txt").unlink()
    (task_dir / "sub").rmdir()
    os.symlink(outside_dir, task_dir / "sub")
    for path in ("link.txt", "sub/inner.txt"):
        response = await client.get(f"/v1/tasks/{task_id}/artifacts/{path}", headers=auth(user_key))
        assert_error(response, *unsafe("leads outside its directory through a symlink"))
        assert OUTSIDE not in response.content


async def test_files_that_are_not_registered_artifacts_are_404(client, settings, user_key, worker):
    task_id = await completed_task(client, user_key, worker, {"a.txt": b"a"})
    task_dir = settings.resolved_data_dir / "artifacts" / task_id
    (task_dir / "planted.txt").write_bytes(OUTSIDE)
    (task_dir / "a.txt").unlink()
    for path in ("planted.txt", "a.txt", "missing.txt"):
        response = await client.get(f"/v1/tasks/{task_id}/artifacts/{path}", headers=auth(user_key))
        assert_error(response, 404, "NOT_FOUND", "Artifact not found", {"task_id": task_id, "path": path})


# --- uploads from workers ----------------------------------------------------------------------------


async def test_upload_with_a_wrong_sha256_stores_nothing(client, settings, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    wrong = "0" * 64
    response = await worker.upload(task_id, "model.bin", b"weights", sha256=wrong)
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        "The uploaded bytes do not match the given sha256",
        {
            "field": "sha256",
            "in": "query",
            "expected": wrong,
            "actual": hashlib.sha256(b"weights").hexdigest(),
        },
    )
    listed = (await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))).json()
    assert listed == {"task_id": task_id, "artifacts": [], "total": 0}
    task_dir = settings.resolved_data_dir / "artifacts" / task_id
    assert not task_dir.exists() or os.listdir(task_dir) == []


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../escape.txt", "contains '..'"),
        ("a/../../escape.txt", "contains '..'"),
        ("..\\escape.txt", "contains '..'"),
        ("%2e%2e/escape.txt", "contains '..'"),
        ("/etc/cron.d/evil", "is absolute"),
        ("a//b.txt", "has an empty segment"),
        ("a/./b.txt", "contains '.'"),
        ("a/", "has an empty segment"),
        ("bad\x00name", "contains a NUL byte"),
        ("x" * 300, "has a name longer than 255 bytes"),
        # Each segment is decoded exactly once, and the decoded name is the one checked.
        ("%01ctl", "contains a control character"),
        ("back%5Cslash", "contains a backslash"),
        ("a%2Fb", "has a '/' inside a segment"),
        ("%FF.bin", "is not UTF-8 once decoded"),
    ],
)
async def test_unsafe_upload_paths_are_refused(client, settings, user_key, worker, path, why):
    task_id = await running_task(client, user_key, worker)
    response = await worker.upload(task_id, path, b"data")
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        f"Unsafe artifact path: it {why}",
        {"field": "path", "in": "query", "reason": why},
    )
    assert not (settings.resolved_data_dir / "escape.txt").exists()
    assert (await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))).json()["total"] == 0


@pytest.mark.parametrize(
    ("wire", "name"),
    [("a%252fb", "a%2fb"), ("%252e%252e", "%2e%2e"), ("plots/%25", "plots/%"), ("caf%C3%A9.txt", "café.txt")],
)
async def test_an_uploaded_name_is_decoded_once_and_stored_and_served_as_decoded(
    client, settings, user_key, worker, wire, name
):
    """The fault: ``a%2fb`` was checked as ``a/b`` but stored as ``a%2fb``, and ``%2e%2e`` was refused."""
    task_id = await running_task(client, user_key, worker)
    response = await worker.upload(task_id, wire, b"payload")
    assert response.status_code == 201, response.text
    assert response.json()["path"] == name
    listed = (await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))).json()
    assert [a["path"] for a in listed["artifacts"]] == [name]
    url = f"/v1/tasks/{task_id}/artifacts/{'/'.join(quote(s, safe='') for s in name.split('/'))}"
    download = await client.get(url, headers=auth(user_key))
    assert download.status_code == 200, download.text
    assert download.content == b"payload"
    assert (settings.resolved_data_dir / "artifacts" / task_id / name).read_bytes() == b"payload"


async def test_same_path_again_replaces_and_collisions_are_409(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    assert (await worker.upload(task_id, "a.txt", b"first")).status_code == 201
    assert (await worker.upload(task_id, "a.txt", b"second, longer")).status_code == 201
    listed = (await client.get(f"/v1/tasks/{task_id}/artifacts", headers=auth(user_key))).json()
    assert [(a["path"], a["size"]) for a in listed["artifacts"]] == [("a.txt", 14)]
    download = await client.get(f"/v1/tasks/{task_id}/artifacts/a.txt", headers=auth(user_key))
    assert download.content == b"second, longer"
    for path in ("a.txt/b.txt",):
        response = await worker.upload(task_id, path, b"x")
        assert_error(
            response,
            409,
            "CONFLICT",
            "The artifact path collides with another artifact (a file where a folder is needed, or the reverse)",
            {"path": path},
        )
    assert (await worker.upload(task_id, "dir/b.txt", b"x")).status_code == 201
    response = await worker.upload(task_id, "dir", b"x")
    assert response.status_code == 409


async def test_only_the_assigned_worker_may_upload(client, user_key, worker, worker_key, settings):
    task_id = await running_task(client, user_key, worker)
    queued = (await submit(client, user_key))["id"]
    other_worker = await FakeWorker(client, worker_key).register("w2")

    # Another worker of the same key: the task is not its own.
    for response in (await other_worker.log(task_id, "x"), await other_worker.upload(task_id, "a.txt", b"a")):
        assert_error(
            response,
            409,
            "CONFLICT",
            "This task is not assigned to this worker",
            {"task_id": task_id, "worker_id": other_worker.worker_id},
        )
    # A task nobody claimed yet.
    response = await worker.log(queued, "x")
    assert_error(
        response,
        409,
        "CONFLICT",
        "This task is not assigned to this worker",
        {"task_id": queued, "worker_id": worker.worker_id},
    )
    # Unknown task, unknown worker.
    assert_error(await worker.log("nope", "x"), 404, "NOT_FOUND", "Task not found", {"task_id": "nope"})
    ghost = FakeWorker(client, worker.key, "ghost")
    assert_error(
        await ghost.upload(task_id, "a.txt", b"a"),
        404,
        "NOT_FOUND",
        "Worker not found",
        {"worker_id": "ghost"},
    )


async def test_another_worker_key_cannot_act_as_this_worker(client, settings, user_key, worker):
    other_key = await new_worker_key(settings, "worker-2")
    task_id = await running_task(client, user_key, worker)
    impostor = FakeWorker(client, other_key, worker.worker_id)
    for response in (await impostor.log(task_id, "x"), await impostor.upload(task_id, "a.txt", b"a")):
        assert_error(response, 404, "NOT_FOUND", "Worker not found", {"worker_id": worker.worker_id})


async def test_nothing_is_accepted_after_the_task_ended(client, user_key, worker):
    task_id = await completed_task(client, user_key, worker, {})
    for response in (await worker.log(task_id, "late"), await worker.upload(task_id, "late.txt", b"late")):
        assert_error(
            response,
            409,
            "CONFLICT",
            "This task is completed, not running",
            {"task_id": task_id, "status": "completed"},
        )


async def test_users_cannot_call_worker_uploads(client, user_key, worker):
    task_id = await running_task(client, user_key, worker)
    as_user = FakeWorker(client, user_key, worker.worker_id)
    response = await as_user.log(task_id, "x")
    assert_error(response, 403, "FORBIDDEN", "This operation needs the worker role", {"role": "user"})


class TestUploadLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"max_body_bytes": 2048, "max_upload_bytes": 32 * 1024}

    async def test_artifacts_get_the_upload_limit(self, client, user_key, worker):
        task_id = await running_task(client, user_key, worker)
        assert (await worker.upload(task_id, "ok.bin", os.urandom(16 * 1024))).status_code == 201
        response = await worker.upload(task_id, "big.bin", os.urandom(40 * 1024))
        assert_error(
            response, 413, "PAYLOAD_TOO_LARGE", "Request body exceeds 32768 bytes", {"limit_bytes": 32768}
        )
