from enum import StrEnum


class FailureReason(StrEnum):
    CANCELLED = "cancelled"
    DATASET_INVALID = "dataset_invalid"
    EXIT_CODE = "exit_code"
    INTERNAL = "internal"
    OUT_OF_MEMORY = "out_of_memory"
    SNAPSHOT_INVALID = "snapshot_invalid"
    TIMEOUT = "timeout"
    WORKER_LOST = "worker_lost"

    def __str__(self) -> str:
        return str(self.value)
