"""Counts for scoring's rule precision (``scoring.precision``): the handovers opened since a
moment, how they ended, and the same for those whose lead carried each rule's points.

Kept in a daily rollup (``RulePrecisionDay``, per rule key and UTC day of opening) so the rules
editor reads a few thousand rows, not millions of rule hits. Whoever changes what a handover
counts (opens it, decides it, its lead reaching SQL or Customer, deleting it) marks its day in
the same transaction (``mark``); the beat sweep (``refresh_marked``) rewrites marked days. A
reader counts the window's partial first day and every marked day straight from the handovers,
the rest from the rollup: exact at any moment, however far the sweep is behind."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from handover.models import Handover, HandoverRuleHit, RulePrecisionDay, RulePrecisionMark
from leadflow.locks import transaction_lock
from scoring.precision import Outcomes

ALL_HANDOVERS: Final = uuid.UUID(int=0)  # the rollup's key for every handover of a day
SWEEP_MARKS: Final = 5000  # marks taken per sweep transaction
_LOCK_KEY: Final = 0x52505244  # pg_advisory_xact_lock: one sweeper at a time ("RPRD")


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def mark(days: Iterable[date]) -> None:
    """Queue days for the sweep, inside the caller's transaction."""
    RulePrecisionMark.objects.bulk_create(RulePrecisionMark(day=d) for d in sorted(set(days)))


def mark_opened(handovers: Iterable[Handover]) -> None:
    mark(_day(h.opened_at) for h in handovers)


def mark_changing(handovers: "QuerySet[Handover]") -> "QuerySet[Handover]":
    """Mark the days of the handovers about to change; the same queryset, to change them."""
    mark(_day(at) for at in handovers.values_list("opened_at", flat=True))
    return handovers


def _counts(prefix: str) -> dict[str, Any]:
    status = f"{prefix}status"
    return {
        "handovers": Count("pk"),
        "decided": Count(
            "pk",
            filter=Q(**{f"{status}__in": (Handover.Status.ACCEPTED, Handover.Status.REJECTED)}),
        ),
        "accepted": Count("pk", filter=Q(**{status: Handover.Status.ACCEPTED})),
        "sql": Count("pk", filter=Q(**{f"{prefix}reached_sql_at__isnull": False})),
        "won": Count("pk", filter=Q(**{f"{prefix}won_at__isnull": False})),
    }


_OUTCOMES: Final = [f.name for f in fields(Outcomes)]


def _opened_in(spans: Sequence[tuple[datetime, datetime]], prefix: str = "") -> Q:
    q = Q(pk__in=[])
    for start, end in spans:
        q |= Q(**{f"{prefix}opened_at__gte": start, f"{prefix}opened_at__lt": end})
    return q


def _spans(days: Iterable[date], since: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Consecutive days merged into [start, end) spans; the first starting at ``since``."""
    spans: list[tuple[datetime, datetime]] = []
    for d in sorted(set(days)):
        start, end = _midnight(d), _midnight(d + timedelta(days=1))
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    if since is not None and spans:
        spans[0] = (max(spans[0][0], since), spans[0][1])
    return spans


def rule_outcomes(
    keys: Sequence[uuid.UUID], since: datetime
) -> tuple[dict[uuid.UUID, Outcomes], Outcomes]:
    first = _day(since)
    live = {first} | set(
        RulePrecisionMark.objects.filter(day__gte=first).values_list("day", flat=True).distinct()
    )
    spans = _spans(live, since)
    total = Outcomes(**Handover.objects.filter(_opened_in(spans)).aggregate(**_counts("")))
    by_key = {
        r.pop("rule_key"): Outcomes(**r)
        for r in HandoverRuleHit.objects.filter(_opened_in(spans, "handover__"), rule_key__in=keys)
        .values("rule_key")
        .annotate(**_counts("handover__"))
        .order_by()
    }
    for r in (
        RulePrecisionDay.objects.filter(day__gt=first, rule_key__in=[*keys, ALL_HANDOVERS])
        .exclude(day__in=live)
        .values("rule_key")
        .annotate(**{name: Sum(name) for name in _OUTCOMES})
        .order_by()
    ):
        key, rolled = r.pop("rule_key"), Outcomes(**r)
        if key == ALL_HANDOVERS:
            total += rolled
        else:
            by_key[key] = by_key.get(key, Outcomes()) + rolled
    return by_key, total


def _recount(days: list[date]) -> None:
    """Rewrite the rollup rows of ``days`` from their handovers and rule hits."""
    spans = _spans(days)
    RulePrecisionDay.objects.filter(day__in=days).delete()
    rows = [
        {"rule_key": ALL_HANDOVERS, **r}
        for r in Handover.objects.filter(_opened_in(spans))
        .annotate(day=TruncDate("opened_at", tzinfo=UTC))
        .values("day")
        .annotate(**_counts(""))
        .order_by()
    ]
    rows += (
        HandoverRuleHit.objects.filter(_opened_in(spans, "handover__"))
        .annotate(day=TruncDate("handover__opened_at", tzinfo=UTC))
        .values("rule_key", "day")
        .annotate(**_counts("handover__"))
        .order_by()
    )
    RulePrecisionDay.objects.bulk_create(RulePrecisionDay(**r) for r in rows)


def refresh_marked(*, max_marks: int = SWEEP_MARKS) -> int:
    """Rewrite the days marked so far, ``max_marks`` marks per transaction; the days rewritten.
    Only the marks read are removed: a mark written meanwhile (its change perhaps not seen by
    the recount) stays for the next sweep."""
    rewritten = 0
    last = RulePrecisionMark.objects.order_by("-pk").values_list("pk", flat=True).first()
    while last is not None:  # the marks there when it started: it ends however busy writers are
        with transaction.atomic():
            transaction_lock(_LOCK_KEY)
            marks = list(
                RulePrecisionMark.objects.filter(pk__lte=last)
                .order_by("pk")
                .values_list("pk", "day")[:max_marks]
            )
            if not marks:
                return rewritten
            days = sorted({day for _, day in marks})
            _recount(days)
            RulePrecisionMark.objects.filter(pk__in=[pk for pk, _ in marks]).delete()
        rewritten += len(days)
    return rewritten


def mark_all() -> None:
    """Mark every day a handover opened (after loading handovers around the services, as the
    migration that made the rollup and the benchmark's seeding do)."""
    mark(
        Handover.objects.annotate(day=TruncDate("opened_at", tzinfo=UTC))
        .values_list("day", flat=True)
        .distinct()
        .order_by()
    )
