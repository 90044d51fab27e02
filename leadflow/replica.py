"""Report reads from a streaming read replica, when one is configured and close enough behind.

``DATABASE_REPLICA_URL`` adds the ``replica`` database. Code that may read slightly old data
(reports: pages, API, CSV exports) runs inside :func:`reads_from_replica`; the router sends the
ORM reads made there to the replica, everything else (writes, every other read) to the primary.
The replica is skipped, and the caller told why, when it is further behind than
``LEADFLOW_REPLICA_MAX_LAG_SECONDS``, cannot be reached, or when the primary connection is inside
a transaction (the replica cannot see that transaction's own writes).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.utils.translation import gettext as _

REPLICA = "replica"
_read_alias: ContextVar[str | None] = ContextVar("leadflow_read_alias", default=None)

# Seconds since the last replayed transaction, 0 when the standby has replayed all it received
LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""


@dataclass(frozen=True)
class ReadSource:
    """Where a report read its data, and why not from the replica when it could have."""

    alias: str
    lag_seconds: float | None = None
    note: str = ""  # shown to the reader when a configured replica was skipped

    @property
    def label(self) -> str:
        return "replica" if self.alias == REPLICA else "primary"


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag() -> float | None:
    """The replica's lag in seconds, or ``None`` when it cannot be asked or does not know."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            row = cursor.fetchone()
    except DatabaseError:
        connections[REPLICA].close()  # a fresh connection next time
        return None
    return None if row is None or row[0] is None else float(row[0])


def choose_source() -> ReadSource:
    if not replica_configured():
        return ReadSource(DEFAULT_DB_ALIAS)
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return ReadSource(DEFAULT_DB_ALIAS, note=_("Read from the primary inside a transaction."))
    lag = replica_lag()
    limit = settings.LEADFLOW_REPLICA_MAX_LAG_SECONDS
    if lag is None:
        return ReadSource(
            DEFAULT_DB_ALIAS, note=_("The read replica did not answer: read from the primary.")
        )
    if lag > limit:
        return ReadSource(
            DEFAULT_DB_ALIAS,
            lag_seconds=lag,
            note=_(
                "The read replica is %(lag)s s behind (more than %(limit)s s): "
                "read from the primary."
            )
            % {"lag": f"{lag:.0f}", "limit": f"{limit:g}"},
        )
    return ReadSource(REPLICA, lag_seconds=lag)


@contextmanager
def reads_from_replica() -> Iterator[ReadSource]:
    """ORM reads inside go to the replica when :func:`choose_source` allows it."""
    source = choose_source()
    token = _read_alias.set(source.alias if source.alias == REPLICA else None)
    try:
        yield source
    finally:
        _read_alias.reset(token)


class ReplicaRouter:
    """Reads inside :func:`reads_from_replica` go to the replica; all else to the primary."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        return _read_alias.get()

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # one database, two servers

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA  # the standby is read-only; it gets the schema by streaming
