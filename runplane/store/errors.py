"""Which database errors mean "the database is unavailable" (503) rather than a bug (500).

`runplane.errors` maps every error to a status; the knowledge of SQLAlchemy's exception classes stays in
the store.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

DatabaseError = DBAPIError
"""The base class of the errors the database driver raises (OperationalError is one)."""


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (an operational error, or a connection the
    driver invalidated) rather than a fault of the statement."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
