from enum import StrEnum


class WorkerStatus(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"
    OFFLINE = "offline"

    def __str__(self) -> str:
        return str(self.value)
