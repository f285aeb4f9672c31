"""The worker agent's pure pieces: command lines, environments, log batching, local resources, the client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from generated.models import ClaimRequest, Heartbeat, TaskAssignment, TaskReport, WorkerRegistration
from runplane.worker import client as api
from runplane.worker.agent import _Outgoing
from runplane.worker.capabilities import GpuInfo, MachineCapabilities
from runplane.worker.launch import LaunchError, TaskDirs, base_env, build_argv, build_env
from runplane.worker.logship import LogBatcher, encoded_size
from runplane.worker.resources import InsufficientResources, LocalResources
from tests.support.workers import assignment_body

pytestmark = pytest.mark.unit

PY = "/opt/venv/bin/python"
CODE = Path("/w/t1-1/code")


def assignment(**overrides: Any) -> TaskAssignment:
    return TaskAssignment.model_validate(assignment_body(**overrides))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- argv ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "args", "expected"),
    [
        ("train.py", ["--epochs", "3"], [PY, str(CODE / "train.py"), "--epochs", "3"]),
        ("src/train.py --lr 0.1", [], [PY, str(CODE / "src/train.py"), "--lr", "0.1"]),
        ("/abs/run.py", [], [PY, "/abs/run.py"]),
        ("run.sh a", ["b c"], ["/bin/sh", str(CODE / "run.sh"), "a", "b c"]),
        ("python train.py", [], ["python", "train.py"]),
        ('/bin/bash -c "echo hello; exit 3"', [], ["/bin/bash", "-c", "echo hello; exit 3"]),
        ("true", [], ["true"]),
    ],
)
def test_argv_for_an_entrypoint(entrypoint: str, args: list[str], expected: list[str]) -> None:
    assert build_argv(assignment(entrypoint=entrypoint, args=args), CODE, python=PY) == expected


def test_argv_for_a_model_ignores_entrypoint_and_args() -> None:
    task = assignment(model_id="linear_reg", entrypoint=None, args=["x"], inputs={"alpha": 1.0})
    assert build_argv(task, CODE, python=PY) == [PY, "-m", "runplane.catalog", "linear_reg"]


@pytest.mark.parametrize("entrypoint", [None, "   ", 'python "unbalanced'])
def test_argv_refuses_what_cannot_run(entrypoint: str | None) -> None:
    with pytest.raises(LaunchError):
        build_argv(assignment(entrypoint=entrypoint), CODE, python=PY)


# -- environment --------------------------------------------------------------------------------------


WORKER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/w",
    "RUNPLANE_WORKER_KEY": "rp_worker-secret",
    "RUNPLANE_DATABASE_URL": "postgresql://u:pw@db/x",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
}


def test_env_is_built_from_nothing_but_harmless_worker_variables(tmp_path: Path) -> None:
    dirs = TaskDirs.for_task(tmp_path, "t1", 2)
    env = build_env(assignment(attempt=2), dirs, [], worker_env=WORKER_ENV, python=PY)
    assert "RUNPLANE_WORKER_KEY" not in env
    assert "RUNPLANE_DATABASE_URL" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "PYTHONPATH" not in env
    assert env["HOME"] == "/home/w"
    assert env["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64"
    assert env["PATH"] == "/opt/venv/bin:/usr/bin:/bin"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LANG"] == "C.UTF-8"
    assert env["TMPDIR"] == str(dirs.tmp)
    assert env["RUNPLANE_TASK_ID"] == "t1"
    assert env["RUNPLANE_ATTEMPT"] == "2"
    assert env["RUNPLANE_OUTPUT_DIR"] == str(tmp_path / "t1-2" / "output")
    # A CPU task sees no GPU at all.
    assert env["CUDA_VISIBLE_DEVICES"] == ""
    assert "RUNPLANE_RANDOM_SEED" not in env
    assert "RUNPLANE_MODEL_INPUTS" not in env


def test_env_layers_task_env_then_secrets_then_runplane(tmp_path: Path) -> None:
    task = assignment(
        env={
            "MODE": "fast",
            "SHARED": "from-env",
            "RUNPLANE_TASK_ID": "forged",
            "CUDA_VISIBLE_DEVICES": "0,1",
        },
        secrets={"SHARED": "from-secret", "TOKEN": "s3cr3t"},
        random_seed=42,
        model_id="simulator",
        inputs={"trials": 100, "region": "eu"},
    )
    env = build_env(task, TaskDirs.for_task(tmp_path, "t1", 1), [3], worker_env=WORKER_ENV, python=PY)
    assert env["MODE"] == "fast"
    assert env["SHARED"] == "from-secret"
    assert env["TOKEN"] == "s3cr3t"
    assert env["RUNPLANE_TASK_ID"] == "t1"
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["RUNPLANE_RANDOM_SEED"] == "42"
    assert json.loads(env["RUNPLANE_MODEL_INPUTS"]) == {"trials": 100, "region": "eu"}


def test_output_env_directories_are_made_inside_the_output_dir(tmp_path: Path) -> None:
    dirs = TaskDirs.for_task(tmp_path, "t1", 1)
    task = assignment(output_env={"TENSORBOARD_LOGDIR": "tensorboard", "WANDB_DIR": "."})
    env = build_env(task, dirs, [], worker_env=WORKER_ENV, python=PY)
    assert env["TENSORBOARD_LOGDIR"] == str((dirs.output / "tensorboard").resolve())
    assert env["WANDB_DIR"] == str(dirs.output.resolve())
    assert (dirs.output / "tensorboard").is_dir()
    for outside in ("..", "../code", "/etc", "a/../../x"):
        with pytest.raises(LaunchError, match="leaves the output directory"):
            build_env(assignment(output_env={"X": outside}), dirs, [], worker_env=WORKER_ENV, python=PY)


def test_path_is_not_doubled_when_the_interpreter_already_leads_it() -> None:
    env = base_env({"PATH": "/opt/venv/bin:/usr/bin"}, python=PY)
    assert env["PATH"] == "/opt/venv/bin:/usr/bin"
    assert base_env({}, python=PY)["PATH"].startswith("/opt/venv/bin:")


def test_the_real_interpreter_can_import_the_progress_helper(tmp_path: Path) -> None:
    # No PYTHONPATH is set for tasks: the worker's own interpreter must find runplane.task from anywhere.
    env = build_env(assignment(), TaskDirs.for_task(tmp_path, "t1", 1), [])
    done = subprocess.run(
        ["python", "-c", "import runplane.task, sys; print(sys.executable)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == Path(sys.executable).parent


# -- log batching -------------------------------------------------------------------------------------


def test_batcher_fills_by_count_and_keeps_order() -> None:
    batcher = LogBatcher(max_lines=3, max_bytes=10**6, clock=FakeClock())
    assert batcher.add("stdout", "a") is False
    assert batcher.add("stderr", "b") is False
    assert batcher.add("stdout", "c") is True
    batcher.add("stdout", "d")
    first = batcher.take()
    assert first is not None
    assert [(line.stream.value, line.text) for line in first.lines] == [
        ("stdout", "a"),
        ("stderr", "b"),
        ("stdout", "c"),
    ]
    second = batcher.take()
    assert second is not None and [line.text for line in second.lines] == ["d"]
    assert batcher.take() is None


def test_batcher_fills_by_encoded_size_and_never_splits_below_one_line() -> None:
    line = "x" * 100
    batcher = LogBatcher(max_lines=1000, max_bytes=3 * encoded_size(line), clock=FakeClock())
    assert not batcher.add("stdout", line)
    assert not batcher.add("stdout", line)
    assert batcher.add("stdout", line)
    huge = "\x01" * 70000  # escapes to 6 bytes a character, and is cut to the contract's 65536 characters
    batcher.add("stderr", huge)
    sizes = []
    while (batch := batcher.take()) is not None:
        sizes.append(len(batch.lines))
        assert sum(encoded_size(item.text) for item in batch.lines) <= max(
            3 * encoded_size(line), encoded_size(batch.lines[0].text)
        )
    assert sizes == [3, 1]


def test_long_lines_are_cut_to_the_contract_limit() -> None:
    batcher = LogBatcher(clock=FakeClock())
    batcher.add("stdout", "y" * 70000)
    batch = batcher.take()
    assert batch is not None and len(batch.lines[0].text) == 65536


def test_batcher_is_due_after_the_delay_of_its_oldest_line() -> None:
    clock = FakeClock()
    batcher = LogBatcher(max_delay_seconds=0.5, clock=clock)
    assert batcher.seconds_until_due() is None
    batcher.add("stdout", "a")
    clock.now += 0.3
    batcher.add("stdout", "b")
    assert batcher.seconds_until_due() == pytest.approx(0.2)
    clock.now += 0.25
    assert batcher.seconds_until_due() == 0.0
    assert batcher.take() is not None
    assert batcher.seconds_until_due() is None


# -- local resources ----------------------------------------------------------------------------------


def test_resources_pin_least_used_cores_and_account_for_claims() -> None:
    pool = LocalResources(cores=4, cpu_ids=[0, 1, 2, 3], memory_gb=8, gpu_indices=[0, 1], slots=3)
    first = pool.allocate(cpu=2, memory_gb=3, gpu=1)
    second = pool.allocate(cpu=1, memory_gb=1, gpu=0)
    assert first.cpu_ids == (0, 1) and first.gpu_indices == (0,)
    assert second.cpu_ids == (2,)
    assert pool.claim_request() == ClaimRequest(free_slots=1, free_cpu=1, free_memory_gb=4, free_gpus=1)
    with pytest.raises(InsufficientResources):
        pool.allocate(cpu=1, memory_gb=1, gpu=2)
    pool.release(first)
    assert pool.claim_request() == ClaimRequest(free_slots=2, free_cpu=3, free_memory_gb=7, free_gpus=2)
    third = pool.allocate(cpu=2, memory_gb=1, gpu=0)
    assert third.cpu_ids == (0, 1)


def test_more_cores_than_cpus_share_the_least_used() -> None:
    pool = LocalResources(cores=4, cpu_ids=[0, 1], memory_gb=4, gpu_indices=[], slots=4)
    assert pool.allocate(cpu=3, memory_gb=1, gpu=0).cpu_ids == (0, 1)
    assert pool.allocate(cpu=1, memory_gb=1, gpu=0).cpu_ids == (0,)
    assert pool.allocate(cpu=1, memory_gb=1, gpu=0).cpu_ids == (1,)
    assert pool.free_cpu == 0


def test_worker_spec_applies_the_options() -> None:
    from runplane.worker.agent import AgentOptions, WorkerSpec

    machine = MachineCapabilities(
        cpu_cores=8, memory_gb=31.5, gpus=[GpuInfo(0, "NVIDIA H100", 81559, "GPU-1")]
    )
    spec = WorkerSpec.resolve(AgentOptions(api_url="http://x", api_key="k"), machine)
    assert (spec.cores, spec.memory_gb, spec.slots, len(spec.gpus)) == (8, 31.5, 8, 1)
    assert spec.gpus[0].name == "NVIDIA H100"
    spec = WorkerSpec.resolve(
        AgentOptions(api_url="http://x", api_key="k", cores=2, slots=1, memory_gb=4, gpus=0), machine
    )
    assert (spec.cores, spec.memory_gb, spec.slots, spec.gpus) == (2, 4, 1, ())
    with pytest.raises(ValueError, match="GPU"):
        WorkerSpec.resolve(AgentOptions(api_url="http://x", api_key="k", gpus=2), machine)
    registration = spec.registration("w-1")
    assert registration.capabilities.cpu_cores == 2 and registration.slots == 1


# -- the client ---------------------------------------------------------------------------------------


def error_body(status: int, code: str, message: str = "no") -> httpx.Response:
    return httpx.Response(
        status, json={"error": message, "code": code, "trace_id": "tr-1"}, headers={"X-Trace-Id": "tr-1"}
    )


def make_client(handler: Any, sleeps: list[float]) -> api.WorkerClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return api.WorkerClient(
        "http://api.test/",
        "rp_key",
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        retry=api.RetryPolicy(
            attempts=4, base_delay_seconds=0.01, max_delay_seconds=0.02, deadline_seconds=30
        ),
    )


LEASE = {
    "worker_id": "w1",
    "lease_seconds": 30,
    "heartbeat_seconds": 5,
    "lease_expires_at": "2030-01-01T00:00:00Z",
}
REPLY = {"status": "active", "lease_expires_at": "2030-01-01T00:00:00Z", "cancel_task_ids": []}


@pytest.mark.anyio
async def test_client_sends_the_key_and_contract_bodies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/report"):
            return httpx.Response(200, json={"status": "running", "progress": 40, "cancel_requested": True})
        return httpx.Response(200, json=REPLY)

    async with make_client(handler, []) as client:
        reply = await client.report("w1", "t/1", TaskReport(progress=40))
        assert reply.cancel_requested is True
        await client.heartbeat("w1", Heartbeat(running_task_ids=[]))
    assert seen[0].headers["x-api-key"] == "rp_key"
    assert seen[0].url.raw_path == b"/v1/workers/w1/tasks/t%2F1/report"
    # Unset optional fields stay out of the body: no "status": null.
    assert json.loads(seen[0].content) == {"progress": 40.0}
    assert json.loads(seen[1].content) == {"running_task_ids": []}


@pytest.mark.anyio
async def test_client_retries_503_and_honours_retry_after_on_429() -> None:
    answers = [
        httpx.Response(503, json={"error": "db", "code": "SERVICE_UNAVAILABLE", "trace_id": "a"}),
        httpx.Response(
            429, headers={"Retry-After": "3"}, json={"error": "slow", "code": "RATE_LIMITED", "trace_id": "b"}
        ),
        httpx.Response(201, json=LEASE),
    ]
    sleeps: list[float] = []
    async with make_client(lambda request: answers.pop(0), sleeps) as client:
        lease = await client.register(
            WorkerRegistration.model_validate(
                {
                    "name": "w",
                    "hostname": "h",
                    "version": "1",
                    "slots": 1,
                    "capabilities": {"cpu_cores": 1, "memory_gb": 1, "gpus": []},
                }
            )
        )
    assert lease.worker_id.root == "w1"
    assert len(sleeps) == 2 and sleeps[0] <= 0.02 and sleeps[1] == 3.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (401, "UNAUTHORIZED", api.Unauthorized),
        (403, "FORBIDDEN", api.Forbidden),
        (404, "NOT_FOUND", api.NotFound),
        (409, "CONFLICT", api.Conflict),
        (400, "VALIDATION_ERROR", api.BadRequest),
        (500, "INTERNAL_ERROR", api.ServerError),
    ],
)
async def test_client_errors_are_typed_and_carry_the_error_body(
    status: int, code: str, exc: type[Exception]
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return error_body(status, code, "nope")

    async with make_client(handler, []) as client:
        with pytest.raises(exc) as raised:
            await client.heartbeat("w1", Heartbeat(running_task_ids=[]))
    error = raised.value
    assert isinstance(error, api.ApiError)
    assert (error.status, error.code, error.trace_id, error.message) == (status, code, "tr-1", "nope")
    assert calls == 1  # none of these is retried


@pytest.mark.anyio
async def test_a_claim_is_retried_only_when_it_cannot_have_reached_the_server() -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append("x")
        if len(attempts) == 1:
            raise httpx.ConnectError("refused", request=request)
        raise httpx.ReadTimeout("lost answer", request=request)

    request = ClaimRequest(free_slots=1, free_cpu=1, free_memory_gb=1, free_gpus=0)
    async with make_client(handler, []) as client:
        with pytest.raises(api.ApiUnavailable):
            await client.claim("w1", request)
    # Connect error: retried; read timeout: the server may have assigned a task, so not retried.
    assert len(attempts) == 2


@pytest.mark.anyio
async def test_heartbeats_are_retried_after_a_lost_answer_until_the_budget_ends() -> None:
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ReadTimeout("lost", request=request)

    async with make_client(handler, []) as client:
        with pytest.raises(api.ApiUnavailable):
            await client.heartbeat("w1", Heartbeat(running_task_ids=[]))
    assert attempts == 4


@pytest.mark.anyio
async def test_upload_streams_the_file_with_path_and_sha256(tmp_path: Path) -> None:
    file = tmp_path / "model.bin"
    file.write_bytes(b"abc" * 1000)
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        seen.append(request)
        if len(seen) == 1:
            return error_body(503, "SERVICE_UNAVAILABLE")
        return httpx.Response(
            201,
            json={
                "path": "m/model.bin",
                "size": 3000,
                "sha256": "0" * 64,
                "content_type": "application/octet-stream",
                "created_at": "2030-01-01T00:00:00Z",
            },
        )

    async with make_client(handler, []) as client:
        artifact = await client.upload_artifact(
            "w1", "t1", path="m/model.bin", sha256="0" * 64, file=file, size=3000
        )
    assert artifact.size == 3000
    assert len(seen) == 2  # the retry streams the file afresh
    for request in seen:
        assert request.content == b"abc" * 1000
        assert request.url.params["path"] == "m/model.bin"
        assert request.headers["content-type"] == "application/octet-stream"


@pytest.mark.anyio
async def test_snapshot_download_writes_the_bytes_and_maps_404(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/snapshots/s1/content":
            return httpx.Response(
                200, content=b"\x1f\x8b archive", headers={"Content-Type": "application/gzip"}
            )
        return error_body(404, "NOT_FOUND")

    async with make_client(handler, []) as client:
        assert await client.download_snapshot("s1", tmp_path / "a.tar.gz") == 10
        with pytest.raises(api.NotFound):
            await client.download_snapshot("s2", tmp_path / "b.tar.gz")
    assert (tmp_path / "a.tar.gz").read_bytes() == b"\x1f\x8b archive"


def test_retry_after_reads_seconds_and_dates() -> None:
    assert api.retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert api.retry_after_seconds(httpx.Response(429)) is None
    assert api.retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    dated = api.retry_after_seconds(
        httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    assert dated == 0.0


def test_the_worker_never_loads_the_server_or_its_database_layer() -> None:
    # `python -m runplane.worker` imports this module: the worker talks HTTP only.
    code = (
        "import sys, runplane.worker.command\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('connexion', 'sqlalchemy', 'handlers')\n"
        "          or m.startswith(('runplane.store', 'runplane.app', 'runplane.security'))]\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_task_dirs_remove_if_empty_removes_only_an_empty_layout(tmp_path: Path) -> None:
    dirs = TaskDirs.for_task(tmp_path, "t1", 1)
    dirs.create()
    assert dirs.remove_if_empty()
    assert not dirs.root.exists()
    assert dirs.remove_if_empty()  # already gone counts as removed
    # A file left behind: not removed here (the caller's rmtree does it), and nothing is lost meanwhile.
    dirs.create()
    (dirs.code / "train.py").write_text("print(1)")
    assert not dirs.remove_if_empty()
    assert (dirs.code / "train.py").read_text() == "print(1)"
    # A directory the task replaced by a symlink is never followed: its target survives.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (dirs.code / "train.py").unlink()
    dirs.tmp.rmdir()
    dirs.tmp.symlink_to(elsewhere)
    assert not dirs.remove_if_empty()
    assert elsewhere.is_dir()


def test_a_report_that_waited_in_the_outbox_says_the_process_ran_that_much_longer() -> None:
    """The server takes a start as the report's arrival less `run_seconds`: a report that waited for a
    claim to carry it adds its wait, or the start would look later than it was (and a report without
    `run_seconds` leaves unchanged)."""
    folded = TaskReport.model_validate({"attempt": 1, "status": "completed", "run_seconds": 0.1})
    item = _Outgoing(SimpleNamespace(), folded, None, time.monotonic() - 0.2)  # type: ignore[arg-type]
    sent = item.sent_now()
    assert sent.run_seconds is not None and 0.3 <= sent.run_seconds < 5
    assert folded.run_seconds == 0.1  # the waiting report itself is not changed (it may be sent again)
    plain = TaskReport.model_validate({"attempt": 1, "status": "completed"})
    assert _Outgoing(SimpleNamespace(), plain, None, 0.0).sent_now() is plain  # type: ignore[arg-type]
