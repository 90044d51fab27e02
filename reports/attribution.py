"""The attribution report: the six models side by side, per channel, campaign, source or medium,
read from the attribution rollup (attribution/selectors.py). Definitions: docs/reports.md
(#attribution)."""

from datetime import date, datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.credit import MODELS, WHOLE
from attribution.selectors import GROUPINGS, OUTCOMES, REVENUE, credits_by
from reports.base import Column, Report
from reports.filters import ReportFilters


def local_day(at: datetime | None) -> date | None:
    return timezone.localdate(at) if at is not None else None


def attribution(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Outcomes (or won revenue) of the period credited to each group under each model."""
    revenue = f.outcome == REVENUE
    groups = credits_by(
        outcome=f.outcome,
        by=f.attribution_by,
        start=local_day(f.start),
        end=local_day(f.end),
        models=f.models,
    )
    grouping = dict(GROUPINGS)
    parts = (
        [("channel", str(grouping["channel"])), ("campaign", str(grouping["campaign"]))]
        if f.attribution_by == "channel_campaign"
        else [("group", str(grouping[f.attribution_by]))]
    )
    rows = []
    for g in groups:
        row: dict[str, object] = dict(zip((k for k, _l in parts), g.labels, strict=True))
        row["label"] = " · ".join(g.labels)  # the chart's (both parts when there are two)
        for m in f.models:
            row[m] = round(g.values[m] / 100, 2) if revenue else round(g.values[m] / WHOLE, 6)
        rows.append(row)
    outcome = dict(OUTCOMES)[f.outcome]
    return Report(
        slug="attribution",
        title=_("Attribution: %(outcome)s") % {"outcome": outcome},
        columns=[
            *(Column(k, label, "text") for k, label in parts),
            *(Column(m, str(MODELS[m]), "money" if revenue else "number") for m in f.models),
        ],
        rows=rows,
        chart_label="label",
        chart_series=list(f.models),
    )
