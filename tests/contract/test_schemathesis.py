"""schemathesis fuzzes every operation of openapi.yaml against a real server, with each role's key.

This is `schemathesis run URL/openapi.json -H "X-API-Key: KEY"` as a user would run it: positive and
negative data, the coverage phase, stateful sequences through the contract's links, and the checks that a
missing or wrong key gets 401 (`ignored_auth`). Bounded by `--max-examples` and a fixed seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO_ROOT, RunningServer, running_server

pytestmark = [pytest.mark.contract, pytest.mark.slow]

MAX_EXAMPLES = os.environ.get("RUNPLANE_FUZZ_EXAMPLES", "20")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    # Budgets high enough that fuzzing is never throttled; 429 itself is covered by the limit tests.
    env = {
        "RUNPLANE_RATE_LIMIT": "10000000/minute",
        "RUNPLANE_WORKER_RATE_LIMIT": "10000000/minute",
        "RUNPLANE_AUTH_FAILURE_LIMIT": "10000000/minute",
        # Long-lived answers (event streams, followed logs) end after this long and clients resume, so
        # each fuzzed stream request gets a whole answer instead of waiting for the client's timeout.
        "RUNPLANE_STREAM_MAX_SECONDS": "0.5",
        # Likewise a long-poll claim (wait_seconds up to 30) is held at most this long.
        "RUNPLANE_CLAIM_MAX_WAIT_SECONDS": "0.5",
    }
    with running_server(tmp_path_factory.mktemp("contract"), workers=2, env=env) as running:
        yield running


def _key(server: RunningServer, role: str) -> str:
    if role == "admin":
        return server.admin_key
    response = httpx.post(
        f"{server.base_url}/v1/keys",
        headers={"X-API-Key": server.admin_key},
        json={"name": f"fuzz-{role}", "role": role},
        timeout=30,
    )
    response.raise_for_status()
    key: str = response.json()["key"]
    return key


@pytest.mark.parametrize("role", ["admin", "user", "worker"])
def test_every_operation_conforms(server: RunningServer, role: str, tmp_path: Path):
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{server.base_url}/openapi.json",
        "--header",
        f"X-API-Key: {_key(server, role)}",
        "--seed",
        "1",
        "--max-examples",
        MAX_EXAMPLES,
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        "--no-color",
    ]
    env = dict(os.environ)
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, (
        result.stdout[-20000:] + result.stderr[-5000:] + "\n" + server.log()[-5000:]
    )
    assert " passed" in result.stdout
