"""The long-lived objects one server process shares between requests, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

if TYPE_CHECKING:
    from runplane.experiments import ExperimentManager
    from runplane.ratelimit import RateLimiter
    from runplane.settings import Settings
    from runplane.store.database import Database
    from runplane.store.keys import KeyStore
    from runplane.tasks import TaskManager

SCOPE_KEY = "runplane.services"


@dataclass
class Services:
    settings: Settings
    db: Database
    keys: KeyStore
    tasks: TaskManager
    experiments: ExperimentManager
    limiter: RateLimiter
    spec: dict[str, Any]
    operation_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


def services_of(scope: Scope) -> Services:
    services: Services = scope[SCOPE_KEY]
    return services
