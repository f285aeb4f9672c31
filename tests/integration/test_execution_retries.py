"""A retry through a real worker agent: a script that exits 3 on its first attempt runs again (its policy
retries exit code 3) and succeeds, and each attempt's log stays readable (runplane.retries)."""

from __future__ import annotations

import pytest

# The module-scoped server + database stack of the execution tests (a server of this module's own).
from tests.integration.test_execution import TERMINAL, Stack, stack  # noqa: F401

pytestmark = pytest.mark.integration

FAIL_FIRST = """
    import os, sys
    attempt = os.environ["RUNPLANE_ATTEMPT"]
    print("attempt", attempt, "starts")
    if attempt == "1":
        print("attempt 1 fails", file=sys.stderr)
        sys.exit(3)
    print("attempt", attempt, "succeeds")
"""


@pytest.mark.slow
def test_a_script_failing_its_first_attempt_is_retried_and_succeeds(stack: Stack) -> None:  # noqa: F811
    snapshot_id = stack.upload({"task.py": FAIL_FIRST})
    with stack.workers("w-retry", slots=1):
        task_id = stack.submit(
            entrypoint="task.py", snapshot_id=snapshot_id, max_retries=2, retry_on_exit_codes=[3]
        )
        ended = stack.wait_status(task_id, TERMINAL, timeout=60)
    assert ended["status"] == "completed", ended
    task = stack.task(task_id)
    assert (task["attempt"], task["retry_count"]) == (2, 1)
    first = task["attempts"][0]
    assert (first["attempt"], first["status"], first["failure_reason"], first["exit_code"]) == (
        1,
        "failed",
        "exit_code",
        3,
    )
    assert task["attempts"][1]["status"] == "completed"
    logs = f"/v1/tasks/{task_id}/logs"
    earlier = stack.http.get(logs, headers=stack.user, params={"attempt": 1}).text
    current = stack.http.get(logs, headers=stack.user).text
    assert "attempt 1 fails" in earlier and "succeeds" not in earlier
    assert "attempt 2 succeeds" in current and "attempt 1" not in current
    run = stack.http.get(f"/v1/tasks/{task_id}/run", headers=stack.user, params={"attempt": 1}).json()
    assert (run["attempt"], run["status"]) == (1, "failed")
