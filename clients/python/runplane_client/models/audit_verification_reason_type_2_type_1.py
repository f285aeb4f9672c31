from enum import StrEnum


class AuditVerificationReasonType2Type1(StrEnum):
    HASH = "hash"
    HEAD = "head"
    LINK = "link"
    MISSING = "missing"

    def __str__(self) -> str:
        return str(self.value)
