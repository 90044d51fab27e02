"""A small fixed history that every report test computes by hand (see test_selectors.py).

Times are UTC, 2026. Leads:
  A web   suspect 01-05 09:00 → lead 01-06 → mql 01-08 → sal 01-09 → sql 01-12 → customer 01-22
          (deal 1000)
  B web   suspect 01-05 09:00 → lead 10:00 → mql 11:00 (same day) → nurture 01-10 09:00
          (recycled) → mql 02-02 09:00 → sal 02-03 → sql 02-04 → customer 02-14 (deal 500)
  C ads   suspect 01-07 09:00 → mql 01-09 (skips Lead) → sal 01-11 → disqualified 01-13
  D ads   suspect 01-20 09:00 → lead 01-21 (still open)
  E ads   suspect 02-01 09:00 → lead 02-01 09:00 (same instant) → mql 02-03 → nurture 02-05
          (still nurturing)
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum

from leads.events import dims_of
from leads.models import Lead, StageChange
from reports.models import MetricDay
from reports.services import milestones_refresh


def t(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


HISTORIES = {
    "A": (
        "web",
        Decimal("1000"),
        [
            ("suspect", t(1, 5)),
            ("lead", t(1, 6)),
            ("mql", t(1, 8)),
            ("sal", t(1, 9)),
            ("sql", t(1, 12)),
            ("customer", t(1, 22)),
        ],
    ),
    "B": (
        "web",
        Decimal("500"),
        [
            ("suspect", t(1, 5)),
            ("lead", t(1, 5, 10)),
            ("mql", t(1, 5, 11)),
            ("nurture", t(1, 10)),
            ("mql", t(2, 2)),
            ("sal", t(2, 3)),
            ("sql", t(2, 4)),
            ("customer", t(2, 14)),
        ],
    ),
    "C": (
        "ads",
        None,
        [
            ("suspect", t(1, 7)),
            ("mql", t(1, 9)),
            ("sal", t(1, 11)),
            ("disqualified", t(1, 13)),
        ],
    ),
    "D": ("ads", None, [("suspect", t(1, 20)), ("lead", t(1, 21))]),
    "E": (
        "ads",
        None,
        [
            ("suspect", t(2, 1)),
            ("lead", t(2, 1)),
            ("mql", t(2, 3)),
            ("nurture", t(2, 5)),
        ],
    ),
}


def make_lead(name: str, source: str, deal: Decimal | None, steps, **fields) -> Lead:
    last_stage, last_at = steps[-1]
    lead = Lead.objects.create(
        external_id=f"hist-{name}",
        first_name=name,
        source=source,
        industry=fields.pop("industry", "Software"),
        stage=last_stage,
        stage_changed_at=last_at,
        deal_value=deal,
        **fields,
    )
    previous = ""
    for stage, at in steps:
        StageChange.objects.create(
            lead=lead,
            from_stage=previous,
            to_stage=stage,
            actor_kind="system",
            source=StageChange.Source.IMPORT,
            changed_at=at,
            **dims_of(lead),  # as an import replaying history records them
        )
        previous = stage
    return lead


@pytest.fixture
def history(db) -> dict[str, Lead]:
    leads = {name: make_lead(name, *spec) for name, spec in HISTORIES.items()}
    milestones_refresh(lead_ids=[lead.pk for lead in leads.values()])
    return leads


def metric_day_cells() -> dict[tuple[Any, ...], tuple[int, float]]:
    """Each MetricDay cell's sum over its rows (stage changes insert deltas), as reports read it."""
    cell = ("grain", "metric", "day", "source", "days")
    sums = MetricDay.objects.order_by().values(*cell).annotate(n=Sum("leads"), s=Sum("seconds"))
    return {
        tuple(key): (n, round(secs, 3)) for *key, n, secs in sums.values_list(*cell, "n", "s") if n
    }


# Money reports (test_pipeline.py, test_ltv.py): the reporting currency is EUR (the default).
RATES = {"": Decimal(1), "HUF": Decimal("0.0025"), "DKK": Decimal("0.134")}


@pytest.fixture
def rates(db):
    from leads.models import ExchangeRate

    for code, rate in RATES.items():
        if code:
            ExchangeRate.objects.create(currency=code, rate=rate)
