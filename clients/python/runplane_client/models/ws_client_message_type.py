from enum import StrEnum


class WsClientMessageType(StrEnum):
    AUTH = "auth"
    PING = "ping"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"

    def __str__(self) -> str:
        return str(self.value)
