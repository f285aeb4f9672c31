"""Operations of metrics: Prometheus `/metrics` and the same figures as JSON at `/v1/metrics`."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import Response

from generated import models
from handlers import presenters
from handlers.context import header, services
from runplane import audit, metrics
from runplane.errors import Unauthorized
from runplane.security import authenticate
from runplane.services import Services


async def _families(found: Services) -> list[Any]:
    return await metrics.collect(found.db, found.settings.database_backend)


async def get_prometheus_metrics() -> Response:
    found = services()
    if found.settings.metrics_require_key:
        # The contract makes the key optional (`security: [{}, ApiKeyAuth]`), so connexion lets every
        # request through without looking at it: the setting is enforced here.
        api_key = header("X-API-Key")
        client = audit.client_address(request.scope)
        if (
            api_key is None
            or await authenticate(found, api_key, client=client, resource="GET /metrics") is None
        ):
            raise Unauthorized("This server's /metrics needs an API key")
    body = metrics.exposition(await _families(found))
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def get_metrics() -> tuple[dict[str, Any], int]:
    snapshot = models.MetricsSnapshot.model_validate(metrics.snapshot(await _families(services())))
    return presenters.dump(snapshot), 200
