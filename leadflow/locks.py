"""One holder at a time, until the transaction ends: a PostgreSQL advisory lock. SQLite needs
none: it runs one writing transaction at a time."""

from django.db import connection


def transaction_lock(key: int) -> None:
    """Wait for, then hold until commit or rollback, the lock ``key`` (a constant of the
    caller's: one per kind of work that must not run twice at once, e.g. a sweep)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
