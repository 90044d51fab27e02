"""Reads for the privacy pages and API."""

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from privacy.models import DuplicatePair, ImportJob, ImportRowError

ERROR_REPORT_HEADER = ("row", "column", "value", "error", "outcome")


def error_report_rows(*, job: ImportJob, with_header: bool = False) -> Iterator[tuple[Any, ...]]:
    """The error report of an import, row by row (streamed)."""
    if with_header:
        yield ERROR_REPORT_HEADER
    rows = ImportRowError.objects.filter(job=job).order_by("row", "id")
    for error in rows.iterator(chunk_size=2000):
        yield (
            error.row,
            error.column,
            error.value,
            error.message,
            "skipped" if error.skipped else "failed",
        )


def import_jobs(*, limit: int = 50) -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("created_by").order_by("-id")[:limit]


def open_duplicates() -> QuerySet[DuplicatePair]:
    return (
        DuplicatePair.objects.filter(status=DuplicatePair.Status.OPEN)
        .select_related("lead_a", "lead_b")
        .order_by("-similarity", "lead_a_id", "lead_b_id")
    )
