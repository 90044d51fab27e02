"""Day histograms: the one rule for the reports' medians/percentiles and their additive rollup.

A metric is one number per lead of the milestone rollup (e.g. seconds from MQL to SAL), or a
plain count (value 0), dated by one of the lead's milestone times (its *period* field). Both
places that produce a metric's histogram use the definitions below: the rollup
(``reports.MetricDay``, maintained from ``contributions``) and the direct query over
``LeadMilestone`` (``direct_q``/``direct_value``) for filters the rollup does not carry.

Percentile rule (``percentile``): the values are put in whole-day buckets (floor of value / 1
day); every value is taken as its bucket's mean, and ``percentile_cont``'s linear
interpolation between the closest ranks runs over that list. Each value moves by less than a
day and only within its bucket, so the result is within one day of the exact percentile, and
exact when the buckets holding the two ranks contain only equal values (e.g. one lead each).
"""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from django.db.models import Expression, F, FloatField, Q, Value
from django.utils import timezone

from leads.lifecycle import Stage
from reports.aggregates import Seconds

DAY: Final = 86400.0

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Metric:
    code: str  # MetricDay.metric
    period: str  # the LeadMilestone time that dates the lead (its day) and the period filter
    column: str = ""  # a seconds column of LeadMilestone, or
    span: tuple[str, str] | None = None  # (end, start) times: value = end - start, or neither:
    # a count of the leads for which ``when`` holds (Python) / ``when_q`` matches (SQL)
    when: Callable[[Row], bool] | None = None
    when_q: Q | None = None

    @property
    def valued(self) -> bool:
        """A duration (with percentiles), not a plain count."""
        return bool(self.column) or self.span is not None

    def value(self, row: Row) -> float | None:
        """The lead's value (None: the lead does not count)."""
        if row[self.period] is None:
            return None
        if self.column:
            v = row[self.column]
            return None if v is None else float(v)
        if self.span is not None:
            end, start = row[self.span[0]], row[self.span[1]]
            return None if end is None or start is None else (end - start).total_seconds()
        return 0.0 if self.when is None or self.when(row) else None

    def direct_q(self) -> Q:
        """The same condition as ``value`` is not None, on LeadMilestone (period aside)."""
        if self.column:
            return Q(**{f"{self.column}__isnull": False})
        if self.span is not None:
            return Q(**{f"{self.span[0]}__isnull": False, f"{self.span[1]}__isnull": False})
        return self.when_q or Q()

    def direct_value(self) -> Expression | F:
        if self.column:
            return F(self.column)
        if self.span is not None:
            return Seconds(*self.span)
        return Value(0.0, output_field=FloatField())


def _stay(stage: Stage) -> Metric:
    return Metric(f"stay_{stage.value}", "suspect_at", column=f"secs_{stage.value}")


# cohort: leads dated by their first MQL
COHORT: Final = (
    Metric("mql", "mql_at"),
    Metric("mql_sal", "mql_at", span=("sal_at", "mql_at")),
    Metric("mql_sql", "mql_at", span=("sql_at", "mql_at")),
    Metric("mql_customer", "mql_at", span=("customer_at", "mql_at")),
)
# velocity: stays of the leads that entered in the period, cycles of those won in it
STAYS: Final = tuple(
    _stay(s) for s in (Stage.SUSPECT, Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.NURTURE)
)
CYCLES: Final = (
    Metric("won_sql", "customer_at", span=("customer_at", "sql_at")),
    Metric("won_mql", "customer_at", span=("customer_at", "mql_at")),
)
# recycle outcomes: counts of the leads first recycled in the period
RECYCLES: Final = (
    Metric("recycled", "first_recycled_at"),
    Metric(
        "requalified",
        "first_recycled_at",
        when=lambda r: r["requalified_at"] is not None,
        when_q=Q(requalified_at__isnull=False),
    ),
    Metric(
        "reached_sql",
        "first_recycled_at",
        when=lambda r: r["sql_after_recycle_at"] is not None,
        when_q=Q(sql_after_recycle_at__isnull=False),
    ),
    Metric(
        "converted",
        "first_recycled_at",
        when=lambda r: r["customer_at"] is not None and r["customer_at"] >= r["first_recycled_at"],
        when_q=Q(customer_at__gte=F("first_recycled_at")),
    ),
    Metric(
        "disqualified",
        "first_recycled_at",
        when=lambda r: r["stage"] == Stage.DISQUALIFIED,
        when_q=Q(stage=Stage.DISQUALIFIED),
    ),
    Metric(
        "nurturing",
        "first_recycled_at",
        when=lambda r: r["stage"] == Stage.NURTURE,
        when_q=Q(stage=Stage.NURTURE),
    ),
)
METRICS: Final = (*COHORT, *STAYS, *CYCLES, *RECYCLES)

# the LeadMilestone fields ``contributions`` reads
FIELDS: Final = (
    "then_source",  # MetricDay's source: as it was when the lead last moved
    "stage",
    "suspect_at",
    "mql_at",
    "sal_at",
    "sql_at",
    "customer_at",
    "first_recycled_at",
    "requalified_at",
    "sql_after_recycle_at",
    *(m.column for m in STAYS),
)

# MetricDay rows come in two grains: per day, and per month (``day`` = the month's first day),
# so a long period sums whole months and reads days only at its ragged ends.
DAILY: Final = "d"
MONTHLY: Final = "m"

Cell = tuple[str, str, date, str, int]  # (grain, metric, day, source, whole days)


def bucket(seconds: float) -> int:
    return math.floor(seconds / DAY)


def local_day(at: datetime) -> date:
    # the site's day, whoever's request updates the rollup (leadflow.i18n.in_site_time_zone)
    return timezone.localtime(at, timezone.get_default_timezone()).date()


def contributions(rows: Iterable[Row], sign: int = 1) -> dict[Cell, list[float]]:
    """The MetricDay cells of these rollup rows: {cell: [leads, seconds]}, times ``sign``."""
    cells: dict[Cell, list[float]] = {}
    for row in rows:
        for m in METRICS:
            v = m.value(row)
            if v is None:
                continue
            day, days = local_day(row[m.period]), bucket(v)
            for grain, key in ((DAILY, day), (MONTHLY, day.replace(day=1))):
                acc = cells.setdefault((grain, m.code, key, row["then_source"], days), [0, 0.0])
                acc[0] += sign
                acc[1] += sign * v
    return cells


def merge(into: dict[Cell, list[float]], other: Mapping[Cell, list[float]]) -> None:
    for cell, (n, s) in other.items():
        acc = into.setdefault(cell, [0, 0.0])
        acc[0] += n
        acc[1] += s


def percentile(buckets: Iterable[tuple[int, int, float]], fraction: float) -> float | None:
    """``percentile_cont`` over a day histogram [(days, leads, seconds summed)], each value
    taken as its bucket's mean (see the module docstring)."""
    means: list[tuple[int, float]] = [(n, s / n) for _, n, s in sorted(buckets) if n > 0]
    total = sum(n for n, _ in means)
    if not total:
        return None
    pos = fraction * (total - 1)
    lo, hi = math.floor(pos), math.ceil(pos)

    def at(rank: int) -> float:
        seen = 0
        for n, mean in means:
            seen += n
            if rank < seen:
                return mean
        raise AssertionError(rank)  # rank < total

    low = at(lo)
    return low + (at(hi) - low) * (pos - lo)
