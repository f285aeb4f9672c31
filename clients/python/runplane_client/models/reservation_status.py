from enum import StrEnum


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    CLAIMED = "claimed"
    EXPIRED = "expired"

    def __str__(self) -> str:
        return str(self.value)
