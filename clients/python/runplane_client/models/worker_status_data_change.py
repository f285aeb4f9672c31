from enum import StrEnum


class WorkerStatusDataChange(StrEnum):
    DRAINING = "draining"
    LOST = "lost"
    OFFLINE = "offline"
    REGISTERED = "registered"

    def __str__(self) -> str:
        return str(self.value)
