"""Writes of the reports app: the milestone rollup (refresh, rebuild) and the Olist import."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min

from leadflow.bulk import copy_rows
from leads.lifecycle import Stage
from leads.models import StageChange
from reports.milestones import Change, Milestones, fold
from reports.models import LeadMilestone

COLUMNS = [
    "lead_id",
    "suspect_at",
    "lead_at",
    "mql_at",
    "sal_at",
    "sql_at",
    "customer_at",
    "secs_suspect",
    "secs_lead",
    "secs_mql",
    "secs_sal",
    "secs_sql",
    "secs_nurture",
    "stage",
    "stage_since",
    "recycles",
    "first_recycled_at",
    "requalified_at",
    "sql_after_recycle_at",
    "disqualified_at",
    "skips",
]


def _row(lead_id: int, m: Milestones) -> tuple[Any, ...]:
    r, s = m.reached, m.seconds_in
    return (
        lead_id,
        r[Stage.SUSPECT],
        r[Stage.LEAD],
        r[Stage.MQL],
        r[Stage.SAL],
        r[Stage.SQL],
        r[Stage.CUSTOMER],
        s[Stage.SUSPECT],
        s[Stage.LEAD],
        s[Stage.MQL],
        s[Stage.SAL],
        s[Stage.SQL],
        s[Stage.NURTURE],
        m.stage,
        m.stage_since,
        m.recycles,
        m.first_recycled_at,
        m.requalified_at,
        m.sql_after_recycle_at,
        m.disqualified_at,
        m.skips,
    )


def _folded(
    changes: Iterable[tuple[int, str, str, datetime]],
) -> Iterator[tuple[Any, ...]]:
    """(lead_id, from, to, at) rows sorted by lead, time, id → one rollup row per lead."""
    for lead_id, rows in groupby(changes, key=lambda c: c[0]):
        yield _row(lead_id, fold(Change(to, at, frm) for _, frm, to, at in rows))


@transaction.atomic
def milestones_refresh(*, lead_ids: Sequence[int]) -> int:
    """Recompute the rollup rows of ``lead_ids`` from their full logs. Returns rows written.

    Called by the ``stage_changed`` receiver inside the moving transaction (one lead: a handful
    of rows read through the (lead, changed_at, id) index), and by imports for their leads.
    """
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    LeadMilestone.objects.filter(lead_id__in=ids).delete()
    changes = (
        StageChange.objects.filter(lead_id__in=ids)
        .order_by("lead_id", "changed_at", "id")
        .values_list("lead_id", "from_stage", "to_stage", "changed_at")
    )
    rows = list(_folded(changes.iterator(chunk_size=5000)))
    LeadMilestone.objects.bulk_create(
        LeadMilestone(**dict(zip(COLUMNS, r, strict=True))) for r in rows
    )
    return len(rows)


def milestones_rebuild(*, batch: int = 50_000) -> int:
    """Rebuild the whole rollup from the log, ``batch`` lead ids per transaction.

    For data loaded around the services (``generate_data`` COPYs its StageChange rows): the
    log is read in lead-id ranges through the (lead, changed_at, id) index and written by COPY.
    """
    bounds = StageChange.objects.aggregate(lo=Min("lead_id"), hi=Max("lead_id"))
    if bounds["lo"] is None:
        LeadMilestone.objects.all().delete()
        return 0
    written = 0
    for start in range(bounds["lo"], bounds["hi"] + 1, batch):
        written += _rebuild_range(start, start + batch)
    _analyze()
    return written


@transaction.atomic
def _rebuild_range(start: int, stop: int) -> int:
    LeadMilestone.objects.filter(lead_id__gte=start, lead_id__lt=stop).delete()
    changes = (
        StageChange.objects.filter(lead_id__gte=start, lead_id__lt=stop)
        .order_by("lead_id", "changed_at", "id")
        .values_list("lead_id", "from_stage", "to_stage", "changed_at")
    )
    # read the range first: COPY cannot start while a cursor still streams on the connection
    return copy_rows(LeadMilestone, COLUMNS, list(_folded(changes)))


def _analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {LeadMilestone._meta.db_table}")
