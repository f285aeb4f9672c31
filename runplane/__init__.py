"""runplane: a contract-first service that queues, schedules and runs ML work."""

import sys
import warnings

__version__ = "0.1.0"

# connexion 3.3 imports starlette.testclient at import time, which starlette 1.x flags as deprecated; it
# is not ours to fix and would print on every start of every command. Only that one message is hidden.
warnings.filterwarnings(
    "ignore",
    message="Using `httpx` with `starlette.testclient` is deprecated",
    module="connexion.apps.abstract",
)

# jsonschema (under connexion) imports rfc3987_syntax whenever it is installed, for its "iri" and
# "iri-reference" format checks, and that module builds a lark Earley grammar at import: ~1.4 s of CPU in
# every process that imports connexion (`serve` itself, for its metrics directory, and each of its API
# workers: ~3.5 s of a 2-worker server's start; docs/benchmarks.md, "Suite duration"). Neither format is
# in the contract (OpenAPI 3.0 validates with draft 4, which has no "iri" at all), so runplane's processes
# decline the module: jsonschema then leaves those two formats unchecked, as it does when the package is
# not installed. Only when nothing has imported it yet (then it is paid for, and left alone).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
