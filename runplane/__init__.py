"""runplane: a contract-first service that queues, schedules and runs ML work."""

import warnings

__version__ = "0.1.0"

# connexion 3.3 imports starlette.testclient at import time, which starlette 1.x flags as deprecated; it
# is not ours to fix and would print on every start of every command. Only that one message is hidden.
warnings.filterwarnings(
    "ignore",
    message="Using `httpx` with `starlette.testclient` is deprecated",
    module="connexion.apps.abstract",
)
