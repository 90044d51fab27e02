"""Return on spend: per channel, campaign, source or medium, what was spent in the period
(Settings › Campaign spend, imported or entered) against the won revenue credited to it under
each attribution model, both in the reporting currency. Definitions: docs/reports.md (#roi)."""

from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from attribution.credit import MODELS
from attribution.selectors import GROUPINGS, REVENUE, credits_by
from attribution.spend import spend_by
from leads import money
from reports.attribution import local_day
from reports.base import Column, Report
from reports.filters import ReportFilters


def roi(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Per group: spend, and for each model the revenue credited and (revenue − spend) / spend.
    Groups with revenue but no spend show no return (not infinite); spend with no revenue
    shows −100 %."""
    start, end = local_day(f.start), local_day(f.end)
    revenue = {
        g.labels: g.values
        for g in credits_by(
            outcome=REVENUE, by=f.attribution_by, start=start, end=end, models=f.models
        )
    }
    spend = spend_by(by=f.attribution_by, start=start, end=end)
    grouping = dict(GROUPINGS)
    parts = (
        [("channel", str(grouping["channel"])), ("campaign", str(grouping["campaign"]))]
        if f.attribution_by == "channel_campaign"
        else [("group", str(grouping[f.attribution_by]))]
    )
    rows: list[dict[str, Any]] = []
    for labels in set(revenue) | set(spend):
        cost = spend.get(labels, 0)
        row: dict[str, Any] = dict(zip((k for k, _l in parts), labels, strict=True))
        row["label"] = " · ".join(labels)
        row["spend"] = round(cost / 100, 2)
        for m in f.models:
            won = revenue.get(labels, {}).get(m, 0)
            row[f"revenue_{m}"] = round(won / 100, 2)
            row[f"roi_{m}"] = round((won - cost) / cost, 4) if cost else None
        rows.append(row)
    rows.sort(key=lambda r: (-r["spend"], r["label"]))
    code = money.reporting_currency()
    model_columns = []
    for m in f.models:
        name = str(MODELS[m])
        model_columns += [
            # Translators: an attribution model's name, then an ISO currency code
            Column(
                f"revenue_{m}",
                _("%(model)s: revenue (%(currency)s)") % {"model": name, "currency": code},
                "money",
            ),  # fmt: skip
            # Translators: return on investment under an attribution model
            Column(f"roi_{m}", _("%(model)s: return") % {"model": name}, "rate"),
        ]
    return Report(
        slug="roi",
        title=_("Return on spend"),
        columns=[
            *(Column(k, label, "text") for k, label in parts),
            # Translators: %(currency)s is an ISO currency code, e.g. EUR
            Column("spend", _("Spend (%(currency)s)") % {"currency": code}, "money"),
            *model_columns,
        ],
        rows=rows,
        chart_label="label",
        chart_series=["spend", *(f"revenue_{m}" for m in f.models)],
    )
