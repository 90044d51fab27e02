"""The pipeline: the open deals (leads in SQL now) and what they are expected to be worth, in
the reporting currency, by how long they have been in SQL, owner, team, source or the month they
entered SQL. Read from the lead table (the pipeline is "now" by nature: a deal that left SQL is
won or lost, see the sources and exits reports). Definitions: docs/reports.md (#pipeline)."""

from datetime import datetime, timedelta
from typing import Any, Final

from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from leads import money
from leads.lifecycle import Stage
from leads.models import Lead
from reports.base import Column, Report, group_names, none_label
from reports.filters import GROUPINGS, ReportFilters

# time in SQL: up to this many days (the last bucket has no end)
AGE_BUCKETS: Final = (7, 30, 90)


def _age_labels() -> list[str]:
    labels, low = [], 0
    for high in AGE_BUCKETS:
        labels.append(_("%(low)s–%(high)s days") % {"low": low, "high": high})
        low = high + 1
    return [*labels, _("over %(days)s days") % {"days": AGE_BUCKETS[-1]}]


def _group(by: str, now: datetime) -> Any:
    if by == "age":  # the bucket's index: 0 is the newest
        whens = [
            When(stage_changed_at__gt=now - timedelta(days=days), then=Value(i))
            for i, days in enumerate(AGE_BUCKETS)
        ]
        return Case(*whens, default=Value(len(AGE_BUCKETS)))
    if by == "month":
        return TruncMonth("stage_changed_at")
    return F({"rep": "owner_id", "team": "team_id", "source": "source"}[by])


def pipeline(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Open SQL deals now (entered SQL in the period, if one is given) per group: how many,
    how many have an expected value, their total and average in the reporting currency."""
    now = now or timezone.now()
    qs = Lead.objects.filter(
        f.period_q("stage_changed_at"),
        f.lead_q(prefix="", then={}),
        stage=Stage.SQL,
        erased_at__isnull=True,
    )
    value = money.converted("expected_value", "currency")
    rows = list(
        qs.order_by()
        .values(group=_group(f.pipeline_by, now))
        .annotate(
            deals=Count("pk"),
            valued=Count("pk", filter=Q(expected_value__isnull=False)),
            value=Sum(value),
        )
    )
    names = _names(f.pipeline_by, {r["group"] for r in rows})
    out = [
        {
            "group": names.get(r["group"]) or none_label(),
            "deals": r["deals"],
            "valued": r["valued"],
            "value": round(float(r["value"] or 0), 2),
            "average": round(float(r["value"]) / r["valued"], 2) if r["valued"] else None,
        }
        for r in sorted(rows, key=lambda r: _order(f.pipeline_by, r))
    ]
    code = money.reporting_currency()
    return Report(
        slug="pipeline",
        title=_("Pipeline: open SQL deals"),
        columns=[
            Column("group", str(dict(GROUPINGS["pipeline_by"])[f.pipeline_by]), "text"),
            Column("deals", _("Open deals")),
            Column("valued", _("With an expected value")),
            # Translators: %(currency)s is an ISO currency code, e.g. EUR
            Column("value", _("Expected value (%(currency)s)") % {"currency": code}, "money"),
            Column("average", _("Average deal (%(currency)s)") % {"currency": code}, "money"),
        ],
        rows=out,
        chart_label="group",
        chart_series=["value"],
    )


def _names(by: str, keys: set[Any]) -> dict[Any, str]:
    if by == "age":
        return dict(enumerate(_age_labels()))
    if by == "month":
        return {k: formats.date_format(k, "YEAR_MONTH_FORMAT") for k in keys if k is not None}
    return group_names(by, keys)


def _order(by: str, row: dict[str, Any]) -> Any:
    """Ages and months in their order, other groups by value, largest first."""
    if by in ("age", "month"):
        return (row["group"] is None, row["group"] or 0)
    return (-(row["value"] or 0), str(row["group"]))
