"""schemathesis hooks for runplane's contract run (loaded through SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    # `follow=true` keeps a log stream open until its task ends, and nothing runs tasks in the contract
    # run: every such request would only wait for the client's timeout. The follow path has its own tests.
    if query and query.get("follow") in (True, "true"):
        query["follow"] = False
    return query
