"""What every handler needs from the request: the services and the calling principal."""

from __future__ import annotations

from typing import Any

from connexion import request

from runplane.security import Principal
from runplane.services import Services, services_of


def services() -> Services:
    return services_of(request.scope)


def principal(token_info: dict[str, Any]) -> Principal:
    found: Principal = token_info["principal"]
    return found


def header(name: str) -> str | None:
    value: str | None = request.headers.get(name)
    return value
