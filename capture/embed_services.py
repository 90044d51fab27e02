"""Writes behind the embeds: counting what only the browser sees (form views and starts)."""

from datetime import date, datetime
from enum import StrEnum

from django.db import connection
from django.utils import timezone

from capture.models import FormDay


class EventKind(StrEnum):
    VIEW = "view"
    START = "start"


_COLUMN = {EventKind.VIEW: "views", EventKind.START: "starts"}


def site_day(at: datetime) -> date:
    # the site's day (TIME_ZONE), whoever's browser reports it
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def form_day_count(*, form_id: int, kind: EventKind, at: datetime | None = None) -> None:
    """Add one view or start to the form's row for the site's day, in one statement.

    ``INSERT … ON CONFLICT (form_id, day) DO UPDATE SET n = n + 1`` is atomic on PostgreSQL and
    SQLite (≥ 3.24) alike, so concurrent reports never lose a count or hit the unique key; the
    ORM's ``bulk_create(update_conflicts=True)`` can only overwrite, not increment.
    """
    column = _COLUMN[kind]  # one of two fixed names, never input
    table = connection.ops.quote_name(FormDay._meta.db_table)
    day = site_day(at or timezone.now())
    views, starts = (1, 0) if kind == EventKind.VIEW else (0, 1)
    sql = (
        f"INSERT INTO {table} (form_id, day, views, starts) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (form_id, day) DO UPDATE SET {column} = {table}.{column} + 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [form_id, day, views, starts])
