from enum import StrEnum


class JupyterServiceStatus(StrEnum):
    ERROR = "error"
    RUNNING = "running"
    STARTING = "starting"
    STOPPED = "stopped"
    STOPPING = "stopping"

    def __str__(self) -> str:
        return str(self.value)
