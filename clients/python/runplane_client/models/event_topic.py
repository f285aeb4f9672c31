from enum import StrEnum


class EventTopic(StrEnum):
    QUEUE_STATS = "queue_stats"
    TASK_COMPLETE = "task_complete"
    TASK_PROGRESS = "task_progress"
    TASK_UPDATE = "task_update"
    WORKER_STATUS = "worker_status"

    def __str__(self) -> str:
        return str(self.value)
