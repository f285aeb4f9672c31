from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    WORKER = "worker"

    def __str__(self) -> str:
        return str(self.value)
