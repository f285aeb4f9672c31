from enum import StrEnum


class ServerConfigLogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"

    def __str__(self) -> str:
        return str(self.value)
