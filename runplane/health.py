"""Health checks behind /health and /readyz."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from runplane.services import Services
from runplane.store.database import head_revision

LOW_DISK_BYTES = 1024**3

_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    latency_ms: float


async def _timed(name: str, probe: object) -> Check:
    started = time.perf_counter()
    try:
        status, message = await probe()  # type: ignore[operator]
    except Exception as exc:  # a failing dependency is a result here, not an error
        status, message = "unhealthy", f"{type(exc).__name__}"
    return Check(name, status, message, round((time.perf_counter() - started) * 1000, 2))


async def run_checks(services: Services) -> tuple[str, list[Check]]:
    async def database() -> tuple[str, str]:
        await services.db.ping()
        return "healthy", f"{services.db.backend} answers"

    async def migrations() -> tuple[str, str]:
        current, head = await services.db.current_revision(), head_revision()
        if current != head:
            return "unhealthy", f"schema at {current or 'nothing'}, expected {head}"
        return "healthy", f"schema at {head}"

    async def rate_limits() -> tuple[str, str]:
        if not await services.limiter.check():
            return "unhealthy", "rate-limit storage does not answer; requests are not limited"
        return "healthy", "rate-limit storage answers"

    async def disk() -> tuple[str, str]:
        free = shutil.disk_usage(services.settings.resolved_data_dir).free
        status = "healthy" if free >= LOW_DISK_BYTES else "degraded"
        return status, f"{free // 1024**2} MiB free in the data directory"

    checks = [
        await _timed("database", database),
        await _timed("migrations", migrations),
        await _timed("rate_limits", rate_limits),
        await _timed("disk", disk),
    ]
    # Only the database decides "unhealthy"; other failures degrade the service.
    worst = max(
        (c.status if c.name in ("database", "migrations") else _soften(c.status) for c in checks),
        key=_RANK.__getitem__,
    )
    return worst, checks


def _soften(status: str) -> str:
    return "degraded" if status == "unhealthy" else status


async def readiness(services: Services) -> tuple[bool, str]:
    try:
        await services.db.ping()
        current, head = await services.db.current_revision(), head_revision()
    except Exception as exc:  # not ready is an answer, not an error
        return False, f"database unavailable ({type(exc).__name__})"
    if current != head:
        return False, f"database schema at {current or 'nothing'}, expected {head}"
    return True, "ready"
