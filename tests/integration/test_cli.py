"""The `runplane` command line against a real server and a real worker for the client commands.

Most commands run in this process through typer's CliRunner (`Stack.cli`, `local`), with the environment
and working directory a subprocess would get: a new interpreter per command cost 1-5 s on a loaded 2-core
machine, about 45 of them here. The main paths also run as a user runs them, a `python -m runplane.cli`
subprocess each (`Stack.process`, `runplane`): creating keys, `submit --watch`, `logs -f`, `login` and a
profile read by a later command, a one-line error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runplane_client import AuthenticatedClient
from runplane_client.api.scheduler import list_workers
from runplane_client.models import WorkerList
from typer.testing import CliRunner

from runplane.cli import app as cli_app
from runplane.store.database import migrate
from tests.support.server import REPO_ROOT, RunningServer, running_server
from tests.support.worker_process import running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def in_process(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`runplane ARGS` run in this process by typer's CliRunner, answered as `subprocess.run` would.

    `env` is the whole environment the command sees (the test process's variables that it lacks are unset
    while it runs, then everything is put back); `cwd` is its working directory. An exception the CLI does
    not turn into an exit status propagates (a subprocess would print a traceback and exit 1).
    """
    overrides: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    overrides.update(env)
    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(cli_app, args, env=overrides, catch_exceptions=False)
    return subprocess.CompletedProcess(["runplane", *args], result.exit_code, result.stdout, result.stderr)


def local_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "RUNPLANE_DATA_DIR": str(data_dir)}
    env.pop("RUNPLANE_DATABASE_URL", None)
    return env


def local(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`runplane ARGS` with the data dir `data_dir`, in this process."""
    return in_process(list(args), local_env(data_dir), REPO_ROOT)


def runplane(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`runplane ARGS` with the data dir `data_dir`, as a subprocess (as a user runs it)."""
    env = local_env(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "runplane.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_local_never_creates_a_database_and_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lost-admin-key path run in the wrong directory: a key in a new database is one the server rejects.
    # In process (CliRunner): the refusal needs no server, and a subprocess per command is slow.
    monkeypatch.setenv("RUNPLANE_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("RUNPLANE_DATABASE_URL", raising=False)
    runner = CliRunner()
    for args in (
        ["keys", "create", "--role", "admin", "--name", "x"],
        ["keys", "list"],
        ["keys", "revoke", "k"],
    ):
        refused = runner.invoke(cli_app, [*args, "--local"])
        assert refused.exit_code == 1 and refused.stdout == "", refused.output
        line = refused.stderr.strip()
        assert "\n" not in line and "Traceback" not in refused.stderr, refused.stderr
        expected = (
            f"no runplane database at sqlite+aiosqlite:///{tmp_path / 'elsewhere' / 'runplane.sqlite3'}"
        )
        assert line.startswith("error: ") and expected in line, line
        assert "--database-url" in line and "RUNPLANE_DATABASE_URL" in line, line
    assert not (tmp_path / "elsewhere").exists()
    # A database that exists but holds no runplane schema is refused too, and left as it was.
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    refused = runner.invoke(cli_app, ["keys", "list", "--local", "--database-url", f"sqlite:///{empty}"])
    assert refused.exit_code == 1 and "no runplane database at sqlite" in refused.stderr, refused.output
    assert empty.stat().st_size == 0
    # PostgreSQL: a database without runplane's schema is refused the same way.
    postgres = os.environ.get("RUNPLANE_TEST_POSTGRES_URL")
    if postgres:
        bare = postgres.rsplit("/", 1)[0] + "/template1"
        refused = runner.invoke(cli_app, ["keys", "list", "--local", "--database-url", bare])
        assert refused.exit_code == 1 and "no runplane database at postgresql" in refused.stderr, (
            refused.output
        )


def test_keys_create_prints_the_key_alone_and_stores_only_its_hash(tmp_path: Path) -> None:
    migrate(f"sqlite+aiosqlite:///{tmp_path / 'runplane.sqlite3'}")  # what the server does on its first start
    created = runplane("keys", "create", "--local", "--role", "admin", "--name", "ops", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    assert key.startswith("rp_") and len(key) > 40
    listed = local("keys", "list", "--local", data_dir=tmp_path)
    assert "ops" in listed.stdout and key not in listed.stdout
    for database_file in tmp_path.glob("runplane.sqlite3*"):  # the database, its WAL and shared memory
        assert key.encode() not in database_file.read_bytes()
    again = local("keys", "create", "--local", "--role", "admin", "--name", "ops", data_dir=tmp_path)
    assert again.returncode != 0
    assert again.stdout == ""


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    result = local("keys", "create", "--local", "--role", "root", "--name", "x", data_dir=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""


# -- against a real server and worker ------------------------------------------------------------------

# Each epoch takes 0.3 s: the run outlasts the worker's start-report delay (0.5 s), so its progress is
# reported as it goes (a task that ends sooner is reported once, at its end: docs/lifecycle.md).
TRAIN = """\
import json, os, pathlib, sys, time
from runplane.task import progress

out = pathlib.Path(os.environ["RUNPLANE_OUTPUT_DIR"])
epochs = int(sys.argv[sys.argv.index("--epochs") + 1])
print("token", os.environ["TOKEN"], "mode", os.environ["MODE"], "has data", pathlib.Path("data").exists())
for epoch in range(1, epochs + 1):
    progress(100 * epoch / epochs, f"epoch {epoch}/{epochs}")
    print(f"epoch {epoch} done", flush=True)
    time.sleep(0.3)
(out / "model.bin").write_bytes(bytes(range(256)) * 300)
(out / "results.json").write_text(json.dumps({"summary": {"loss": 0.25}, "rows": [{"epoch": 1}]}))
"""
SLEEPER = """\
import time
print("started", flush=True)
time.sleep(2.5)
print("still here", flush=True)
time.sleep(300)
"""
FAIL = "raise SystemExit('no luck')\n"
SECRET = "tok-cli-secret-7788"


@dataclass
class Stack:
    server: RunningServer
    root: Path
    user_key: str
    project: Path
    worker_key: str = ""

    def cli(
        self, *args: str, key: str | None = None, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`runplane ARGS` in this process, with what `process` gives a subprocess (environment, cwd)."""
        return in_process(list(args), self.env(key, **env), cwd or self.project)

    def process(
        self, *args: str, key: str | None = None, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`runplane ARGS` as a user runs it: the API and key from the environment, its own config dir."""
        return subprocess.run(
            [sys.executable, "-m", "runplane.cli", *args],
            cwd=cwd or self.project,
            env=self.env(key, **env),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def env(self, key: str | None = None, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("RUNPLANE_")}
        env.update(
            RUNPLANE_API_URL=self.server.base_url,
            RUNPLANE_API_KEY=key or self.user_key,
            XDG_CONFIG_HOME=str(self.root / "config"),
            COLUMNS="200",
        )
        env.update(extra)
        return env


def invoke(stack: Stack, *args: str, key: str | None = None, **env: str | None) -> Any:
    """`runplane ARGS` in process (typer's CliRunner): quicker than a subprocess, for checks of the CLI's
    own behaviour; `stack.cli` remains how a user runs it."""
    # Every variable the root options set is named, so CliRunner puts it back afterwards.
    return CliRunner().invoke(cli_app, list(args), env={"RUNPLANE_PROFILE": None, **stack.env(key), **env})


def one_line_error(result: subprocess.CompletedProcess[str], code: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in result.stderr, result.stderr
    assert line.startswith("error: ") and code in line and "trace_id" in line, line
    return line


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("cli")
    env = {
        "RUNPLANE_HEARTBEAT_SECONDS": "0.5",
        "RUNPLANE_RATE_LIMIT": "100000/minute",
        # Long-lived answers (the SSE stream, a followed log) end after a second: `watch` and `logs -f`
        # must resume them without losing or repeating anything.
        "RUNPLANE_STREAM_MAX_SECONDS": "1",
    }
    with (
        running_server(root / "server", env=env) as server,
        AuthenticatedClient(
            base_url=server.base_url, token=server.admin_key, prefix="", auth_header_name="X-API-Key"
        ) as admin,
    ):
        project = root / "project"
        project.mkdir()
        bare = Stack(server, root, server.admin_key, project)
        # Keys over the API with the admin key (no --local): the key alone on stdout.
        keys = {}
        for role in ("user", "worker"):
            made = bare.process(
                "keys", "create", "--name", f"cli-{role}", "--role", role, key=server.admin_key
            )
            assert made.returncode == 0, made.stderr
            keys[role] = made.stdout.strip()
            assert made.stdout == keys[role] + "\n" and keys[role].startswith("rp_")

        def registered(name: str) -> bool:
            found = list_workers.sync_detailed(client=admin, limit=100).parsed
            assert isinstance(found, WorkerList)
            return any(w.name == name and w.status.value == "active" for w in found.workers)

        with running_worker(server.base_url, keys["worker"], root, name="cli-w", registered=registered):
            yield Stack(server, root, keys["user"], project, keys["worker"])


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_submit_watch_logs_results_artifacts_and_download(stack: Stack, tmp_path: Path) -> None:
    (stack.project / "train.py").write_text(TRAIN)
    (stack.project / "data").mkdir()
    (stack.project / "data" / "big.bin").write_bytes(b"x" * 1000)
    (stack.project / ".runplaneignore").write_text("# not sent\ndata/\n*.tmp\n")
    (stack.project / "scratch.tmp").write_text("not sent either")
    submitted = stack.process(
        "submit", ".", "--watch", "--secret", "TOKEN", "--env", "MODE=cli", "--seed", "3",
        "--label", "cli-run", "--cpu", "1", "--memory-gb", "0.5", "--timeout", "300", "--priority", "7",
        "--", "python", "train.py", "--epochs", "3",
        TOKEN=SECRET,
    )  # fmt: skip
    assert submitted.returncode == 0, (submitted.stdout, submitted.stderr)
    task_id = submitted.stdout.splitlines()[0]
    assert "uploaded 2 files" in submitted.stderr  # train.py and .runplaneignore: nothing ignored
    # The bar ends on the task's final message, which says how it ended (not its last progress text).
    assert "100%" in submitted.stdout and "Completed" in submitted.stdout
    assert f"task {task_id} completed" in submitted.stdout
    assert SECRET not in submitted.stdout + submitted.stderr

    # The same tree again: same sha256, so no second upload.
    again = stack.cli("submit", "--priority", "1", "--", "python", "train.py", "--epochs", "1", TOKEN="t")
    assert again.returncode == 0, again.stderr
    assert "already on the server" in again.stderr

    status = json.loads(stack.cli("status", task_id, "--json").stdout)
    assert (status["status"], status["priority"], status["run_label"], status["random_seed"]) == (
        "completed", 7, "cli-run", 3,
    )  # fmt: skip
    assert status["entrypoint"] == "python" and status["args"] == ["train.py", "--epochs", "3"]
    assert status["env"] == {"MODE": "cli"} and status["secret_names"] == ["TOKEN"]
    assert status["timeout_seconds"] == 300 and status["memory_gb"] == 0.5

    logs = stack.cli("logs", task_id)
    assert logs.returncode == 0, logs.stderr
    assert "token *** mode cli has data False" in logs.stdout and SECRET not in logs.stdout
    assert "epoch 3 done" in logs.stdout
    assert stack.cli("logs", task_id, "--tail", "1").stdout.strip() == "epoch 3 done"
    # --json: one object per line, the same lines.
    lines = [json.loads(line) for line in stack.cli("logs", task_id, "--json").stdout.splitlines()]
    assert [line["text"] for line in lines] == logs.stdout.splitlines()
    assert {line["task_id"] for line in lines} == {task_id}
    assert [
        json.loads(line) for line in stack.cli("logs", task_id, "--json", "--tail", "1").stdout.splitlines()
    ] == [{"task_id": task_id, "text": "epoch 3 done"}]
    # watch --json on the ended task: its events replayed, one StreamEvent per line, and exit 0.
    watched = stack.cli("watch", task_id, "--json")
    assert watched.returncode == 0, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert {e["data"]["task_id"] for e in events} == {task_id}
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # in order, none twice
    progress = [e["data"]["progress"] for e in events if e["type"] == "task_progress"]
    assert progress and progress == sorted(progress)
    assert (events[-1]["type"], events[-1]["data"]["status"]) == ("task_complete", "completed")
    assert "running" in [e["data"]["status"] for e in events if e["type"] == "task_update"]

    results = json.loads(stack.cli("results", task_id, "--json").stdout)
    assert results["summary"] == {"loss": 0.25}
    assert "loss" in stack.cli("results", task_id).stdout

    # An artifact the task does not have: the API's own error line, code and trace id.
    missing = invoke(stack, "download", task_id, "nope.bin")
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1, missing.output
    assert "NOT_FOUND" in missing.stderr and "trace_id" in missing.stderr, missing.stderr
    # Bad arguments are refused before anything is packed or uploaded.
    for bad in (["--env", "1BAD=x"], ["--secret", "A-B"], ["--env", "NOEQUALS"]):
        refused = invoke(stack, "submit", *bad, "--", "python", "train.py", A_B="x")
        assert refused.exit_code == 2 and "snapshot" not in refused.output, refused.output
    refused = invoke(stack, "submit", "no-such-dir", "--", "python", "train.py")
    assert refused.exit_code == 2 and "not a directory" in refused.output, refused.output
    # `--json` prints what the API answered: `Z` timestamps, no `null` for absent fields.
    answered = invoke(stack, "status", task_id, "--json")
    assert answered.exit_code == 0, answered.output
    assert '"created_at": "' in answered.stdout and "null" not in answered.stdout, answered.stdout
    assert json.loads(answered.stdout)["created_at"].endswith("Z")

    listed = json.loads(stack.cli("artifacts", task_id, "--json").stdout)["artifacts"]
    model = next(a for a in listed if a["path"] == "model.bin")
    out = tmp_path / "model.bin"
    downloaded = stack.cli("download", task_id, "model.bin", "-o", str(out))
    assert downloaded.returncode == 0, downloaded.stderr
    assert sha256_of(out) == model["sha256"] and out.stat().st_size == model["size"]
    # A download broken off after 1000 bytes resumes from there (Range) and still checks out.
    resumed = tmp_path / "resumed.bin"
    (tmp_path / "resumed.bin.part").write_bytes(out.read_bytes()[:1000])
    finished = stack.cli("download", task_id, "model.bin", "-o", str(resumed))
    assert finished.returncode == 0, finished.stderr
    assert resumed.read_bytes() == out.read_bytes() and not (tmp_path / "resumed.bin.part").exists()
    # A partial file with wrong bytes fails the sha256 check, and nothing is left claiming to be it.
    broken = tmp_path / "broken.bin"
    (tmp_path / "broken.bin.part").write_bytes(b"\0" * 1000)
    refused = stack.cli("download", task_id, "model.bin", "-o", str(broken))
    assert refused.returncode == 1 and "sha256" in refused.stderr and not broken.exists()

    table = stack.cli("list", "--status", "completed")
    assert task_id in table.stdout
    assert task_id in {t["id"] for t in json.loads(stack.cli("list", "--json").stdout)["tasks"]}


def test_logs_follow_cancel_and_watch_outcomes(stack: Stack) -> None:
    (stack.project / "sleeper.py").write_text(SLEEPER)
    (stack.project / "fail.py").write_text(FAIL)
    failed = stack.process("submit", "--watch", "--", "python", "fail.py")
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert "failed" in failed.stderr

    task_id = stack.cli("submit", "--", "python", "sleeper.py").stdout.strip()
    with subprocess.Popen(
        [sys.executable, "-m", "runplane.cli", "logs", task_id, "-f"],
        cwd=stack.project,
        env=stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            assert follower.stdout is not None and follower.stderr is not None
            assert follower.stdout.readline().strip() == "started"  # a line as the task prints it
            # Printed after the first followed answer ended: the resumed one skips what was shown.
            assert follower.stdout.readline().strip() == "still here"
            cancelled = stack.cli("cancel", task_id)
            assert cancelled.returncode == 0, cancelled.stderr
            assert "cancel" in cancelled.stdout
            # The followed log ends with the task, and repeats nothing.
            assert follower.wait(timeout=120) == 0, follower.stderr.read()
            assert "started" not in follower.stdout.read()
        finally:
            if follower.poll() is None:
                follower.kill()
    watched = stack.cli("watch", task_id)
    assert watched.returncode == 1
    assert f"task {task_id} cancelled" in watched.stderr
    as_json = stack.cli("watch", task_id, "--json")
    assert as_json.returncode == 1 and f"task {task_id} cancelled" in as_json.stderr
    last = json.loads(as_json.stdout.splitlines()[-1])
    assert (last["type"], last["data"]["status"]) == ("task_complete", "cancelled")
    one_line_error(stack.cli("cancel", task_id), "CONFLICT")


def test_errors_are_one_line_with_the_code_and_trace_id(stack: Stack, tmp_path: Path) -> None:
    one_line_error(stack.process("list", key="rp_not-a-key"), "UNAUTHORIZED")
    one_line_error(stack.cli("status", "no-such-task"), "NOT_FOUND")
    one_line_error(stack.cli("keys", "list"), "FORBIDDEN")  # a user key is no admin key
    # Local key commands outside the repository directory, with nothing there yet.
    local = {"RUNPLANE_DATA_DIR": str(tmp_path / "data")}
    migrate(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'runplane.sqlite3'}")
    missing = stack.cli("keys", "revoke", "nope", "--local", cwd=tmp_path, **local)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr
    assert "NOT_FOUND" in missing.stderr and "Traceback" not in missing.stderr
    made = stack.cli("keys", "create", "--local", "--name", "x", cwd=tmp_path, **local)
    assert made.returncode == 0, made.stderr
    taken = stack.cli("keys", "create", "--local", "--name", "x", cwd=tmp_path, **local)
    assert taken.returncode == 1 and taken.stderr.count("\n") == 1 and "CONFLICT" in taken.stderr
    unreachable = stack.cli("queue", RUNPLANE_API_URL="http://127.0.0.1:9")
    assert unreachable.returncode == 1 and unreachable.stderr.count("\n") == 1
    assert "CONNECTION_ERROR" in unreachable.stderr


def test_login_writes_a_private_profile_that_later_commands_use(stack: Stack) -> None:
    logged_in = stack.process("login", "--profile", "lab")
    assert logged_in.returncode == 0, logged_in.stderr
    config = stack.root / "config" / "runplane" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stack.user_key in config.read_text()
    env = stack.env()
    del env["RUNPLANE_API_URL"], env["RUNPLANE_API_KEY"]
    env["RUNPLANE_PROFILE"] = "lab"
    queue = subprocess.run(
        [sys.executable, "-m", "runplane.cli", "queue", "--json"],
        cwd=stack.project, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert queue.returncode == 0, queue.stderr
    assert json.loads(queue.stdout)["workers"] == 1
    refused = stack.cli("login", key="rp_wrong")
    one_line_error(refused, "UNAUTHORIZED")
    # A worker key serves a worker agent only: refused with the reason, and no profile is written for it.
    worker = one_line_error(stack.cli("login", "--profile", "agent", key=stack.worker_key), "FORBIDDEN")
    assert "worker key" in worker and "user or admin key" in worker
    assert "agent" not in config.read_text() and stack.worker_key not in config.read_text()
    # A named profile that does not exist is an error even with RUNPLANE_API_KEY set, before or after the
    # command.
    for args in (["--profile", "nosuch", "queue"], ["queue", "--profile", "nosuch"]):
        unknown = invoke(stack, *args)
        assert unknown.exit_code == 1 and "no profile 'nosuch'" in unknown.stderr, unknown.output
    # --api/--key work before the command too (README), as well as after it.
    bare = {"RUNPLANE_API_URL": None, "RUNPLANE_API_KEY": None}
    for args in (
        ["--api", stack.server.base_url, "--key", stack.user_key, "queue", "--json"],
        ["queue", "--json", "--api", stack.server.base_url, "--key", stack.user_key],
    ):
        answered = invoke(stack, *args, **bare)
        assert answered.exit_code == 0 and json.loads(answered.stdout)["workers"] == 1, answered.output


def test_keys_over_the_api_and_json_reads_for_admins(stack: Stack) -> None:
    admin = stack.server.admin_key
    made = stack.cli("keys", "create", "--name", "short-lived", key=admin)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    listed = json.loads(stack.cli("keys", "list", "--json", key=admin).stdout)
    row = next(k for k in listed if k["name"] == "short-lived")
    assert row["role"] == "user" and "revoked_at" not in row and secret not in json.dumps(listed)
    assert row["created_at"].endswith("Z")  # as the API sends it
    assert stack.cli("queue", key=secret).returncode == 0
    # Every field the API sends is kept (the SDK's own re-serialisation dropped last_used_at).
    relisted = json.loads(invoke(stack, "keys", "list", "--json", key=admin).stdout)
    used = next(k for k in relisted if k["name"] == "short-lived")
    assert used["last_used_at"].endswith("Z"), used
    revoked = stack.cli("keys", "revoke", row["id"], key=admin)
    assert revoked.returncode == 0, revoked.stderr
    one_line_error(stack.cli("queue", key=secret), "UNAUTHORIZED")
    workers = json.loads(stack.cli("workers", "--json", key=admin).stdout)["workers"]
    assert [w["name"] for w in workers] == ["cli-w"]
    models = json.loads(stack.cli("models", "--json").stdout)["models"]
    assert "simulator" in {m["id"] for m in models}
