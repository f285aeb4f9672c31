from enum import StrEnum


class ReportedStatus(StrEnum):
    CANCELLED = "cancelled"
    COLLECTING = "collecting"
    COMPLETED = "completed"
    FAILED = "failed"
    PREPARING = "preparing"
    RUNNING = "running"

    def __str__(self) -> str:
        return str(self.value)
