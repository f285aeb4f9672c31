"""Runs every benchmark script in bench/, one after another (`make bench`).

A benchmark script is a `bench/*.py` file with a `if __name__ == "__main__":` block; helper modules
(loadgen.py, bare_app.py) have none and are skipped, so a new benchmark needs no registration here.
Each script runs with this interpreter, from the repository root, with its default (bounded) settings and
a hard time limit; the exit status is 1 when any of them failed or ran over.

    .venv/bin/python bench/run_all.py            # all of them
    .venv/bin/python bench/run_all.py api_load   # only those whose name contains a given word
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Each script's defaults finish well inside this; it only stops a script that hangs.
SCRIPT_TIMEOUT_S = 600
MAIN_GUARD = 'if __name__ == "__main__":'


def bench_scripts() -> list[Path]:
    this = Path(__file__).resolve()
    return [
        path
        for path in sorted(BENCH_DIR.glob("*.py"))
        if path.resolve() != this and MAIN_GUARD in path.read_text(encoding="utf-8")
    ]


def main(filters: list[str]) -> int:
    scripts = [path for path in bench_scripts() if not filters or any(word in path.stem for word in filters)]
    if not scripts:
        print(f"no benchmark script in {BENCH_DIR} matches {filters}", file=sys.stderr)
        return 1
    failed: list[str] = []
    for script in scripts:
        print(f"=== {script.relative_to(REPO_ROOT)}", flush=True)
        started = time.monotonic()
        try:
            returncode = subprocess.run(
                [sys.executable, str(script)], cwd=REPO_ROOT, timeout=SCRIPT_TIMEOUT_S
            ).returncode
        except subprocess.TimeoutExpired:
            returncode = -1
            print(f"{script.name} ran past {SCRIPT_TIMEOUT_S}s and was stopped", file=sys.stderr)
        print(f"=== {script.name}: exit {returncode} after {time.monotonic() - started:.0f}s\n", flush=True)
        if returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
