"""runplane: a contract-first service that queues, schedules and runs ML work."""

__version__ = "0.1.0"
