"""What runplane's server processes import when they start: `runplane serve` (which prepares the metrics
directory) and each API worker (`runplane.asgi`, gunicorn's app module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.integration

PROBE = """
import json, sys
import runplane.cli
import runplane.metrics  # what `serve` imports for its metrics directory
import runplane.asgi  # what each API worker imports
import jsonschema
checker = jsonschema.Draft7Validator.FORMAT_CHECKER
print(json.dumps({
    "loaded": sorted(name for name in ("rfc3987_syntax", "lark") if sys.modules.get(name) is not None),
    "app": type(runplane.asgi.app).__name__,
    "date_time_checked": "date-time" in jsonschema.Draft4Validator.FORMAT_CHECKER.checkers,
    "iri_checked": "iri" in checker.checkers,
}))
"""


def test_the_server_s_processes_do_not_build_the_iri_grammar_they_never_use(tmp_path: Path) -> None:
    """jsonschema's optional rfc3987_syntax builds a lark grammar at import (~1.4 s CPU per worker start)
    for the "iri" formats, which the contract does not use: runplane's processes decline it, and keep the
    format checks the contract does use."""
    env = {**os.environ, "RUNPLANE_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["iri_checked"] is False
    assert found["date_time_checked"] is True
    assert found["app"]
