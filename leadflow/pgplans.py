"""Planner and executor settings for one block of queries (PostgreSQL; elsewhere a no-op)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def local_setting(name: str, value: str) -> Iterator[None]:
    """Run the block with the server setting ``name`` at ``value``.

    Local to a transaction (a savepoint inside one), and put back on the way out, so it never
    outlives the block, even inside a longer transaction. An error in the block rolls the
    savepoint back, and the setting with it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
        (before, _) = cursor.fetchone()
        yield
        cursor.execute("SELECT set_config(%s, %s, true)", [name, before])


@contextmanager
def serial_plans() -> Iterator[None]:
    """Run the block's queries without parallel workers.

    For page queries that walk an index in order and stop after a page of rows: a join makes the
    walk look long to the planner, which then starts two workers whose start-up costs more than
    the walk (the board filtered by source and grade at 1M leads: 3.4 ms a column serial,
    11–30 ms parallel).
    """
    with local_setting("max_parallel_workers_per_gather", "0"):
        yield
