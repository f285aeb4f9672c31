"""The trace id of the request being served, readable anywhere in its call chain."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

TRACE_HEADER = "x-trace-id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")

current_trace_id: ContextVar[str] = ContextVar("runplane_trace_id", default="-")


def new_trace_id(incoming: str | None = None) -> str:
    """Keep a caller's well-formed trace id (so traces join up across services), else mint one."""
    if incoming and _ACCEPTABLE.match(incoming):
        return incoming
    return uuid.uuid4().hex
