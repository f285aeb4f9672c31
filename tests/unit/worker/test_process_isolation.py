"""A task cannot get at the worker's key: not in its environment, not in any process's initial environment
it can read, and (worker run as root) it runs as an unprivileged user, the way Slurm runs a job as its
user and never with slurmd's credentials."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runplane.worker import launch, process
from runplane.worker.launch import base_env
from runplane.worker.process import (
    ProcessOutcome,
    ResourceLimits,
    TaskUser,
    check_reachable,
    resolve_task_user,
    run_process,
    set_task_user,
)
from tests.support.task_user import RUNS_AS_ROOT, reachable_dir

SECRET = "rp_worker-secret-" + os.urandom(6).hex()
REPO_ROOT = Path(__file__).resolve().parents[3]
root_only = pytest.mark.skipif(not RUNS_AS_ROOT, reason="switching users needs root")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[ProcessOutcome, list[str]]:
    lines: list[str] = []

    async def main() -> ProcessOutcome:
        async def on_output(stream: str, line: str) -> None:
            lines.append(line)

        # A fresh event loop: a fresh fork server, started with the environment of this moment.
        return await run_process(
            argv, cwd=cwd, env=env, limits=ResourceLimits(), on_output=on_output, cancel=asyncio.Event()
        )

    return asyncio.run(main()), lines


# Other workers on this host may hold keys of their own: look for this test's key only.
SCAN_PROC = f"for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ 2>/dev/null; done | grep {SECRET}"


def test_no_process_a_task_can_read_holds_the_worker_key(tmp_path: Path, monkeypatch) -> None:
    # The worker was started with its key in the environment (`runplane worker` with RUNPLANE_WORKER_KEY).
    monkeypatch.setenv("RUNPLANE_WORKER_KEY", SECRET)
    env = base_env(os.environ)
    env["RUNPLANE_TASK_ID"] = "t"
    outcome, lines = run(["/bin/sh", "-c", f"env; echo ---; {SCAN_PROC}; true"], tmp_path, env)
    assert outcome.exit_code == 0, lines
    # Not in the task's own environment, and not in the fork server's or a shim's initial one (this test
    # runs as root: it can read every process's environ, so the scan is complete).
    assert not any(SECRET in line or "RUNPLANE_WORKER_KEY" in line for line in lines), lines


def test_the_allow_list_never_passes_a_runplane_variable(monkeypatch) -> None:
    monkeypatch.setattr(launch, "INHERITED_VARIABLES", (*launch.INHERITED_VARIABLES, "RUNPLANE_WORKER_KEY"))
    env = base_env({"RUNPLANE_WORKER_KEY": SECRET, "HOME": "/home/x", "RUNPLANE_ADMIN_KEY": "a"})
    assert "RUNPLANE_WORKER_KEY" not in env and "RUNPLANE_ADMIN_KEY" not in env and env["HOME"] == "/home/x"


def test_the_fork_server_environment_drops_every_runplane_variable() -> None:
    assert process.server_env({"RUNPLANE_WORKER_KEY": SECRET, "PATH": "/bin"}) == {"PATH": "/bin"}


_HOLDER = """
import os, sys, time
from runplane.worker.process import protect_process
if sys.argv[1] == "protect":
    protect_process()
print(os.environ.get("RUNPLANE_WORKER_KEY"), flush=True)
time.sleep(60)
"""


def _python_for(user: pwd.struct_passwd) -> str:
    """A Python ``user`` can run: this one, or the system's (this one may live under root-only /root)."""
    task_user = TaskUser(user.pw_name, user.pw_uid, user.pw_gid)
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            check_reachable(Path(candidate).resolve().parent, task_user)
        except (ValueError, OSError):
            continue
        return candidate
    pytest.skip("no Python that nobody can run")


@root_only
@pytest.mark.parametrize("protected", [True, False])
def test_a_protected_agent_is_unreadable_to_its_own_user(protected: bool) -> None:
    """Agent and task as the same unprivileged user: the agent's /proc/<pid>/environ (its initial
    environment, which os.environ changes do not touch) is refused once it is non-dumpable."""
    nobody = pwd.getpwnam("nobody")
    python = _python_for(nobody)
    holder = subprocess.Popen(
        [python, "-c", _HOLDER, "protect" if protected else "plain"],
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "RUNPLANE_WORKER_KEY": SECRET, "PYTHONPATH": str(REPO_ROOT)},
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        # The key is gone from os.environ (nothing the agent starts inherits it).
        assert holder.stdout.readline().strip() == ("None" if protected else SECRET)
        reader = subprocess.run(
            ["/bin/cat", f"/proc/{holder.pid}/environ"],
            user=nobody.pw_uid,
            group=nobody.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            cwd="/",
        )
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    if protected:
        assert reader.returncode != 0 and "Permission denied" in reader.stderr, reader
        assert SECRET not in reader.stdout
    else:  # the control: without it, the key is one read away
        assert SECRET in reader.stdout, reader


def test_protect_process_removes_the_key_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("RUNPLANE_WORKER_KEY", SECRET)
    code = (
        "from runplane.worker.process import protect_process as p; import os, ctypes; p(); "
        "print(os.environ.get('RUNPLANE_WORKER_KEY'), ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert done.stdout.split() == ["None", "0"]  # gone, and PR_GET_DUMPABLE says 0


@pytest.fixture
def reachable() -> Iterator[Path]:
    with reachable_dir() as path:
        yield path


@pytest.fixture
def as_nobody() -> Iterator[TaskUser]:
    user = resolve_task_user(None)
    assert user is not None and user.name == "nobody"
    set_task_user(user)
    try:
        yield user
    finally:
        set_task_user(None)


@root_only
def test_a_root_worker_runs_tasks_as_nobody_in_directories_it_owns(
    reachable: Path, as_nobody: TaskUser
) -> None:
    tmp_path = reachable
    work = tmp_path / "t-1"
    code, output, tmp = work / "code", work / "output", work / "tmp"
    for directory in (code, output, tmp, code / "sub"):
        directory.mkdir(parents=True)
    (code / "train.py").write_text("print('hi')\n")
    # A dataset hardlinked from the content cache stays root's (read-only), and a link out of the
    # snapshot is not followed.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "digest").write_text("data")
    (cache / "digest").chmod(0o444)
    os.link(cache / "digest", code / "data.csv")
    secret = tmp_path / "server.db"
    secret.write_text("rows")
    secret.chmod(0o600)
    (code / "escape").symlink_to(secret)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "TMPDIR": str(tmp),
        "RUNPLANE_OUTPUT_DIR": str(output),
    }
    script = textwrap.dedent(
        """
        id -u; id -G; echo "home=$HOME user=$USER"
        echo out > "$RUNPLANE_OUTPUT_DIR/out.txt" && echo wrote-output
        echo x > "$TMPDIR/x" && echo wrote-tmp
        echo y > sub/y && echo wrote-code
        echo z >> data.csv 2>/dev/null || echo dataset-read-only
        cat escape 2>/dev/null || echo db-unreadable
        """
    )
    outcome, lines = run(["/bin/sh", "-c", script], code, env)
    assert outcome.exit_code == 0, lines
    nobody = pwd.getpwnam("nobody")
    assert lines[0] == str(nobody.pw_uid) and lines[1] == str(nobody.pw_gid), lines
    assert f"home={tmp} user=nobody" in lines
    for expected in ("wrote-output", "wrote-tmp", "wrote-code", "dataset-read-only", "db-unreadable"):
        assert expected in lines, (expected, lines)
    assert "rows" not in lines
    assert (cache / "digest").stat().st_uid == 0 and secret.stat().st_uid == 0
    assert (output / "out.txt").read_text() == "out\n"


@root_only
def test_a_missing_program_still_exits_127_as_another_user(reachable: Path, as_nobody: TaskUser) -> None:
    outcome, lines = run(["no-such-program-here"], reachable, {"PATH": "/usr/bin:/bin"})
    assert outcome.exit_code == 127, lines


@root_only
def test_a_work_dir_the_task_user_cannot_enter_is_refused_up_front(reachable: Path) -> None:
    user = resolve_task_user("nobody")
    assert user is not None
    private = reachable / "private"
    (private / "work").mkdir(parents=True)
    private.chmod(0o700)
    with pytest.raises(ValueError, match="cannot enter"):
        check_reachable(private / "work", user)
    private.chmod(0o711)
    check_reachable(private / "work", user)


def test_an_unknown_task_user_is_refused() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        resolve_task_user("no-such-user-xyz")
    assert resolve_task_user(str(os.geteuid())) is None  # oneself: nothing to switch
