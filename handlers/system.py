"""Operations of the System tag: probes and configuration."""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse

from generated import models
from handlers import presenters
from handlers.context import services
from runplane import __version__
from runplane.health import readiness, run_checks
from runplane.store.tables import utcnow


async def get_health() -> tuple[dict[str, Any], int]:
    status, checks = await run_checks(services())
    report = models.HealthResponse.model_validate(
        {
            "status": status,
            "version": __version__,
            "timestamp": utcnow(),
            "checks": [vars(check) for check in checks],
        }
    )
    return presenters.dump(report), 503 if status == "unhealthy" else 200


async def get_liveness() -> PlainTextResponse:
    return PlainTextResponse("ok")


async def get_readiness() -> PlainTextResponse:
    ready, message = await readiness(services())
    return PlainTextResponse(message, status_code=200 if ready else 503)


async def get_config() -> tuple[dict[str, Any], int]:
    config = models.ServerConfig.model_validate(services().settings.public_view())
    return presenters.dump(config), 200
