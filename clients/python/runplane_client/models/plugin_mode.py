from enum import StrEnum


class PluginMode(StrEnum):
    DISABLED = "disabled"
    REMOTE = "remote"
    SIDECAR = "sidecar"

    def __str__(self) -> str:
        return str(self.value)
