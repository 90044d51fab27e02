"""Attribution read from the daily rollup: each model's credit per channel, source, medium or
campaign over a period of outcome days."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from django.db.models import Sum
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from attribution.channels import Grouping
from attribution.models import CreditDay, Outcome

REVENUE: Final = "revenue"  # the Customer outcome, each model's share of the deal value
OUTCOMES: Final = [
    (Outcome.MQL.value, _("Reached MQL")),
    (Outcome.SQL.value, _("Reached SQL")),
    (Outcome.CUSTOMER.value, _("Won (customers)")),
    (REVENUE, _("Won revenue")),
]
GROUPINGS: Final = [
    ("channel", _("Channel")),
    ("campaign", _("Campaign")),
    ("channel_campaign", _("Channel × campaign")),
    ("source", _("Source")),
    ("medium", _("Medium")),
]
TAGS: Final = ("source", "medium", "campaign")


@dataclass(frozen=True)
class Group:
    labels: tuple[str, ...]  # one per part of the grouping (channel, campaign, ...)
    values: dict[str, int]  # model -> ppm of outcomes, or cents of revenue


def _none(value: str) -> str:
    return value or gettext("(none)")


def credits_by(
    *, outcome: str, by: str, start: date | None, end: date | None, models: Sequence[str]
) -> list[Group]:
    """Each model's credit per group over outcome days in [start, end), largest first by the
    first model; groups where every model gives nothing are left out."""
    revenue = outcome == REVENUE
    wanted = {name: f"rev_{name}" if revenue else name for name in models}
    rows = CreditDay.objects.filter(outcome=Outcome.CUSTOMER if revenue else outcome)
    if start is not None:
        rows = rows.filter(day__gte=start)
    if end is not None:
        rows = rows.filter(day__lt=end)
    grouping = Grouping()
    groups: dict[tuple[str, ...], dict[str, int]] = {}
    for row in rows.values(*TAGS).annotate(**{f"s_{m}": Sum(f) for m, f in wanted.items()}):
        labels = group_labels(by, (row["source"], row["medium"], row["campaign"]), grouping)
        sums = groups.setdefault(labels, dict.fromkeys(models, 0))
        for m in models:
            sums[m] += row[f"s_{m}"] or 0
    first = models[0]
    return sorted(
        (Group(labels, values) for labels, values in groups.items() if any(values.values())),
        key=lambda g: (-g.values[first], g.labels),
    )


def group_labels(by: str, tags: tuple[str, str, str], grouping: Grouping) -> tuple[str, ...]:
    """The labels of the group a tag set falls in: its channel, campaign, both, source or
    medium (credits and spend are grouped by this one rule)."""
    if by == "channel":
        return (grouping.channel(tags),)
    if by == "channel_campaign":
        return (grouping.channel(tags), _none(tags[2]))
    return (_none(dict(zip(TAGS, tags, strict=True))[by]),)
