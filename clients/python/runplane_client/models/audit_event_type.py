from enum import StrEnum


class AuditEventType(StrEnum):
    AUDIT_VERIFIED = "audit_verified"
    AUTH_ATTEMPT = "auth_attempt"
    FILE_ACCESS = "file_access"
    JOB_ASSIGNED = "job_assigned"
    JOB_CANCELLED = "job_cancelled"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    JOB_QUEUED = "job_queued"
    JOB_REQUEUED = "job_requeued"
    JOB_STARTED = "job_started"
    JUPYTER_STARTED = "jupyter_started"
    JUPYTER_STOPPED = "jupyter_stopped"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"
    PLUGIN_CONFIGURED = "plugin_configured"
    SCHEDULER_DRAIN = "scheduler_drain"

    def __str__(self) -> str:
        return str(self.value)
