"""SQL building blocks the reports share: durations in seconds and grouped percentiles.

PostgreSQL computes percentiles in SQL (``percentile_cont``; the three fractions over one input
share one sort). SQLite has no ordered-set aggregates, so the embedded profile fetches the
(group, value) pairs and interpolates the same way in Python — small data only.
"""

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from django.db import connection
from django.db.models import Aggregate, Expression, F, FloatField, Func, Q, QuerySet
from django.db.models.sql.compiler import SQLCompiler

FRACTIONS: Final[tuple[float, ...]] = (0.5, 0.75, 0.9)


class Seconds(Func):
    """``a - b`` in seconds (float)."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(
        self, compiler: SQLCompiler, connection: Any, **extra: Any
    ) -> tuple[str, Sequence[Any]]:
        return self.as_sql(
            compiler,
            connection,
            template="date_part('epoch', %(expressions)s)",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(  # type: ignore[override]
        self, compiler: SQLCompiler, connection: Any, **extra: Any
    ) -> tuple[str, Sequence[Any]]:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class PercentileCont(Aggregate):
    """PostgreSQL ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks: what ``percentile_cont`` computes."""
    if not values:
        return None
    pos = fraction * (len(values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def pct_name(name: str, fraction: float) -> str:
    return f"{name}_p{round(fraction * 100)}"


def grouped(
    qs: QuerySet[Any],
    *,
    group: Mapping[str, Expression | F],
    counts: Mapping[str, Aggregate | Func],
    pcts: Mapping[str, tuple[Expression | F, Q | None]],
) -> list[dict[str, Any]]:
    """One row per group (one row in all without ``group``): counts and p50/p75/p90 of each
    ``pcts`` expression over the rows matching its condition (NULLs ignored)."""
    qs = qs.order_by()
    keys = list(group)
    plain = [k for k, e in group.items() if isinstance(e, F) and e.name == k]  # model fields
    exprs = {k: e for k, e in group.items() if k not in plain}
    annotations: dict[str, Any] = dict(counts)
    on_pg = connection.vendor == "postgresql"
    if on_pg:
        for name, (expr, cond) in pcts.items():
            for f in FRACTIONS:
                annotations[pct_name(name, f)] = PercentileCont(expr, f, filter=cond)
    if keys:
        rows = list(qs.values(*plain, **exprs).annotate(**annotations).order_by(*keys))
    else:
        rows = [qs.aggregate(**annotations)]
    if on_pg or not pcts:
        return rows
    by_key = {tuple(r[k] for k in keys): r for r in rows}
    for name, (expr, cond) in pcts.items():
        values: dict[tuple[Any, ...], list[float]] = defaultdict(list)
        sub = qs.filter(cond) if cond is not None else qs
        for *key, value in sub.annotate(**exprs, _v=expr).values_list(*keys, "_v"):
            if value is not None:
                values[tuple(key)].append(float(value))
        for key, row in by_key.items():
            ordered = sorted(values.get(key, []))
            for f in FRACTIONS:
                row[pct_name(name, f)] = percentile(ordered, f)
    return rows
