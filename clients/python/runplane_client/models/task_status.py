from enum import StrEnum


class TaskStatus(StrEnum):
    CANCELLED = "cancelled"
    COLLECTING = "collecting"
    COMPLETED = "completed"
    FAILED = "failed"
    PREPARING = "preparing"
    QUEUED = "queued"
    RUNNING = "running"

    def __str__(self) -> str:
        return str(self.value)
