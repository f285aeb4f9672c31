"""The long-lived objects one server process shares between requests, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

if TYPE_CHECKING:
    from runplane.artifacts import ArtifactManager
    from runplane.audit import AuditLog
    from runplane.experiments import ExperimentManager
    from runplane.live.hub import EventHub
    from runplane.logstore import LogStore
    from runplane.plugins.manager import PluginManager
    from runplane.ratelimit import RateLimiter
    from runplane.reservations import ReservationManager
    from runplane.results import ResultsManager
    from runplane.settings import Settings
    from runplane.snapshots import SnapshotManager
    from runplane.store.database import Database
    from runplane.store.keys import KeyStore
    from runplane.sweeps import SweepManager
    from runplane.tasks import TaskManager
    from runplane.uploads import WorkerUploads
    from runplane.workers import WorkerManager

SCOPE_KEY = "runplane.services"


@dataclass(frozen=True)
class Services:
    """Every long-lived object of one server process, built once by `runplane.app.build_services`.

    Frozen: nothing is set on it (or wired into its members) after construction; each member receives
    its collaborators in its constructor.
    """

    settings: Settings
    db: Database
    keys: KeyStore
    tasks: TaskManager
    experiments: ExperimentManager
    limiter: RateLimiter
    workers: WorkerManager
    snapshots: SnapshotManager
    artifacts: ArtifactManager
    logs: LogStore
    results: ResultsManager
    sweeps: SweepManager
    uploads: WorkerUploads
    audit: AuditLog
    reservations: ReservationManager
    spec: dict[str, Any]
    hub: EventHub  # the live-event hub (runplane.live); started and stopped by create_app's lifespan
    plugins: PluginManager  # the tracking plugins (runplane.plugins): configs, sidecars, per-task set-up
    operation_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


def services_of(scope: Scope) -> Services:
    services: Services = scope[SCOPE_KEY]
    return services
