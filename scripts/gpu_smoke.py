"""GPU smoke check for a GPU host: NVML discovery, CUDA_VISIBLE_DEVICES and placement, end to end.

Starts a real API server (`runplane serve`, SQLite in a temporary data dir) and a real worker agent on
this machine, then submits tasks through the API and prints what each task saw:

- what the worker registered (GPUs found through NVML, as the API shows them);
- a task with ``gpu: 1`` sees exactly one device through ``CUDA_VISIBLE_DEVICES`` and, when PyTorch is
  installed, runs a matrix product on it;
- a task with ``gpu: 0`` sees ``CUDA_VISIBLE_DEVICES=""`` and no CUDA device;
- as many one-GPU tasks as the host has GPUs run at once, each on a different device (placement);
- a task asking for more GPUs than the host has stays queued with a waiting reason.

Run it on a GPU host from the repository root: ``python scripts/gpu_smoke.py`` (exit code 0 when every
check holds). Not part of the test suite: CI machines have no GPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import os, json\n"
    "seen = {'CUDA_VISIBLE_DEVICES': os.environ.get('CUDA_VISIBLE_DEVICES')}\n"
    "try:\n"
    "    import torch\n"
    "    seen['device_count'] = torch.cuda.device_count()\n"
    "    if seen['device_count']:\n"
    "        seen['device_name'] = torch.cuda.get_device_name(0)\n"
    "        x = torch.randn(4096, 4096, device='cuda')\n"
    "        seen['matmul_finite'] = bool(torch.isfinite(x @ x).all().item())\n"
    "        seen['uuid'] = str(torch.cuda.get_device_properties(0).uuid)\n"
    "except ImportError:\n"
    "    seen['torch'] = 'not installed'\n"
    "import time; time.sleep(float(os.environ.get('HOLD', '0')))\n"
    "print('SEEN ' + json.dumps(seen), flush=True)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runplane(*args: str, env: dict[str, str], **popen: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from runplane.cli import app; app()", *args]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, **popen)


def new_key(role: str, name: str, env: dict[str, str]) -> str:
    done = runplane("keys", "create", "--role", role, "--name", name, env=env, stdout=subprocess.PIPE)
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0, f"keys create failed ({done.returncode})"
    return out.decode().strip().splitlines()[-1]


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL: timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return found


def seen_by(http: httpx.Client, key: str, task_id: str) -> dict[str, Any]:
    log = http.get(f"/v1/tasks/{task_id}/logs", headers={"X-API-Key": key}).text
    lines = [line for line in log.splitlines() if line.startswith("SEEN ")]
    return json.loads(lines[-1].removeprefix("SEEN ")) if lines else {"log": log[-2000:]}


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="runplane-gpu-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RUNPLANE_DATA_DIR": str(data_dir), "PYTHONPATH": f"{REPO_ROOT}"}
    env["PYTHONPATH"] += os.pathsep + os.environ.get("PYTHONPATH", "")
    subprocess.run(
        [sys.executable, "-c", "from runplane.cli import app; app()", "migrate"], env=env, check=True
    )
    admin = new_key("admin", "root", env)
    worker_key = new_key("worker", "gpu-host", env)
    server = runplane("serve", "--port", str(port), "--workers", "1", env=env, start_new_session=True)
    worker = runplane(
        "worker", "--api", base, "--poll-seconds", "0.2",
        env={**env, "RUNPLANE_WORKER_KEY": worker_key},
        start_new_session=True,
    )  # fmt: skip
    failures: list[str] = []
    try:
        http = httpx.Client(base_url=base, timeout=30)
        wait(lambda: _answers(http), 120, "the API")
        headers = {"X-API-Key": admin}
        workers = wait(
            lambda: http.get("/v1/scheduler/workers", headers=headers).json().get("workers"),
            120,
            "the worker",
        )
        gpus = workers[0]["capabilities"]["gpus"]
        print("registered GPUs (NVML):", json.dumps(gpus))
        if not gpus:
            failures.append("the worker registered no GPU")

        def submit(gpu: int, hold: float = 0.0) -> str:
            body = {
                "job_name": f"gpu-{gpu}",
                "entrypoint": "python3",
                "args": ["-c", PROBE],
                "gpu": gpu,
                "env": {"HOLD": str(hold)},
                "timeout_seconds": 300,
            }
            answer = http.post("/v1/tasks", headers=headers, json=body)
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        def ended(task_id: str) -> dict[str, Any] | None:
            task = http.get(f"/v1/tasks/{task_id}", headers=headers).json()
            return task if task["status"] in ("completed", "failed", "cancelled") else None

        none = submit(0)
        if not gpus:  # nothing GPU-shaped can run here; still check that a CPU task sees no GPU
            task = wait(lambda: ended(none), 300, f"task {none}")
            print(f"task {none} gpu=0: {task['status']}", json.dumps(seen_by(http, admin, none)))
            raise _Stop
        one = submit(1)
        placed = [submit(1, hold=3.0) for _ in gpus]
        too_many = submit(len(gpus) + 1)
        for task_id in (one, none, *placed):
            task = wait(lambda task_id=task_id: ended(task_id), 300, f"task {task_id}")
            print(
                f"task {task_id} gpu={task['gpu']}: {task['status']}",
                json.dumps(seen_by(http, admin, task_id)),
            )
            if task["status"] != "completed":
                failures.append(f"task {task_id} {task['status']}: {task.get('failure')}")
        saw_one, saw_none = seen_by(http, admin, one), seen_by(http, admin, none)
        if saw_one.get("CUDA_VISIBLE_DEVICES") in (None, "") or "," in saw_one["CUDA_VISIBLE_DEVICES"]:
            failures.append(
                f"a one-GPU task saw CUDA_VISIBLE_DEVICES={saw_one.get('CUDA_VISIBLE_DEVICES')!r}"
            )
        if saw_one.get("device_count", 1) != 1 or saw_one.get("matmul_finite") is False:
            failures.append(f"a one-GPU task saw {saw_one}")
        if saw_none.get("CUDA_VISIBLE_DEVICES") != "" or saw_none.get("device_count", 0) != 0:
            failures.append(f"a no-GPU task saw {saw_none}")
        devices = [seen_by(http, admin, task_id).get("CUDA_VISIBLE_DEVICES") for task_id in placed]
        if len(set(devices)) != len(placed):
            failures.append(f"concurrent one-GPU tasks shared devices: {devices}")
        waiting = http.get(f"/v1/tasks/{too_many}/status", headers=headers).json()
        print(f"task asking for {len(gpus) + 1} GPU(s): {waiting['status']}: {waiting.get('message')}")
        if waiting["status"] != "queued" or "GPU" not in (waiting.get("message") or ""):
            failures.append(f"an unfittable GPU task is not waiting with a reason: {waiting}")
    except _Stop:
        pass
    finally:
        for process in (worker, server):
            os.killpg(process.pid, 15)
            process.wait(timeout=60)
    for failure in failures:
        print("FAIL:", failure)
    print("gpu smoke:", "FAILED" if failures else "all checks held")
    return 1 if failures else 0


class _Stop(Exception):
    """Ends the checks early (no GPU here); the failures so far are reported."""


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
