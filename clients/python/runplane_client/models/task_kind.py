from enum import StrEnum


class TaskKind(StrEnum):
    SERVICE = "service"
    TASK = "task"

    def __str__(self) -> str:
        return str(self.value)
