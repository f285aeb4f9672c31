from enum import StrEnum


class PluginStatusValue(StrEnum):
    HEALTHY = "healthy"
    STARTING = "starting"
    STOPPED = "stopped"
    UNHEALTHY = "unhealthy"

    def __str__(self) -> str:
        return str(self.value)
