"""Features and training outcomes, computed in SQL (one aggregate query per batch of leads).

Per lead, at a point in time ``as_of`` (now when scoring; the outcome's time when training, so a
closed lead is described as it was when its outcome happened and nothing after it leaks in):

* lead fields: source, UTM source/medium, country, industry, seniority, company size, consent
  flags, whether phone / job title / company are filled in, age of the lead in days;
* activity aggregates over activities up to ``as_of``: count per kind, exponentially decayed
  engagement per kind (half-life ``PREDICTIVE_HALF_LIFE_DAYS``), total count, days since the
  last and the first activity.

The lead's stage, owner and scores are never features (the stage *is* the outcome).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.db import connection, transaction

from leads.lifecycle import Stage
from leads.models import ActivityKind, ExitReason
from predictive.ml import FeatureSpec
from predictive.models import Target

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

KINDS: Final[tuple[str, ...]] = tuple(
    k for k in ActivityKind.values if k != ActivityKind.CUSTOM.value
)
CATEGORICAL: Final[tuple[str, ...]] = (
    "source",
    "utm_source",
    "utm_medium",
    "country",
    "industry",
    "seniority",
    "company_size",
)
FLAGS: Final[tuple[str, ...]] = (
    "email_opt_out",
    "do_not_call",
    "has_phone",
    "has_job_title",
    "has_company",
)
COUNTS: Final[tuple[str, ...]] = ("n_total", *(f"n_{k}" for k in KINDS))
DECAYED: Final[tuple[str, ...]] = tuple(f"decayed_{k}" for k in KINDS)
RECENCY: Final[tuple[str, ...]] = ("lead_age_days", "days_since_last", "days_since_first")
SPEC: Final = FeatureSpec(
    numeric=(*FLAGS, *COUNTS, *DECAYED, *RECENCY),
    categorical=CATEGORICAL,
    log_numeric=frozenset({*COUNTS, *DECAYED, *RECENCY}),
)


def _age(later: str, earlier: str) -> str:
    """SQL for ``later - earlier`` in days, as a float, on either database."""
    if connection.vendor == "postgresql":
        return f"(date_part('epoch', {later} - {earlier}) / 86400.0)"  # float, not numeric
    return f"(julianday({later}) - julianday({earlier}))"


def _aggregate_sql(targets_sql: str) -> str:
    """Features for the rows of ``targets_sql`` (columns lead_id, as_of, label).

    PostgreSQL: a LATERAL aggregate per lead, so each lead reads only its own activities through
    the covering (lead, occurred_at, kind) index (index-only); a plain join + GROUP BY made the
    planner sort all 10M activities for every batch (20 s per 10k leads on the bench set).
    """
    rate = math.log(2) / float(settings.PREDICTIVE_HALF_LIFE_DAYS)
    age = _age("t.as_of", "a.occurred_at")
    per_kind = ", ".join(
        f"COUNT(*) FILTER (WHERE a.kind = '{k}') AS n_{k}, "
        f"COALESCE(SUM(EXP(-{rate!r} * {age})) FILTER (WHERE a.kind = '{k}'), 0) AS decayed_{k}"
        for k in KINDS
    )
    aggregates = f"{per_kind}, MIN({age}) AS days_since_last, MAX({age}) AS days_since_first"
    lead_columns = f"""
        l.source, l.utm_source, l.utm_medium, l.country, l.industry, l.seniority,
        l.company_size, l.email_opt_out, l.do_not_call,
        CASE WHEN l.phone <> '' THEN 1 ELSE 0 END AS has_phone,
        CASE WHEN l.job_title <> '' THEN 1 ELSE 0 END AS has_job_title,
        CASE WHEN l.company <> '' THEN 1 ELSE 0 END AS has_company,
        {_age("t.as_of", "l.created_at")} AS lead_age_days"""
    if connection.vendor == "postgresql":
        return f"""
            WITH t AS ({targets_sql})
            SELECT t.lead_id, t.as_of, t.label, agg.*, {lead_columns}
            FROM t JOIN leads_lead l ON l.id = t.lead_id
            CROSS JOIN LATERAL (
                SELECT COUNT(*) AS n_total, {aggregates}
                FROM leads_activity a
                WHERE a.lead_id = t.lead_id AND a.occurred_at <= t.as_of
            ) agg
            ORDER BY t.lead_id
        """
    # SQLite: no LATERAL; its planner loops over t and uses the index anyway.
    aggregates = aggregates.replace("COUNT(*)", "COUNT(a.id)")
    return f"""
        WITH t AS ({targets_sql})
        SELECT t.lead_id, t.as_of, t.label, COUNT(a.id) AS n_total, {aggregates}, {lead_columns}
        FROM t JOIN leads_lead l ON l.id = t.lead_id
        LEFT JOIN leads_activity a ON a.lead_id = t.lead_id AND a.occurred_at <= t.as_of
        GROUP BY t.lead_id, t.as_of, t.label
        ORDER BY t.lead_id
    """


def _frame(sql: str, params: Sequence[Any]) -> pd.DataFrame:
    import pandas as pd

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # JIT compiles these wide aggregates for ~1 s per query and gains nothing here;
            # random_page_cost 1.1 (SSD) keeps the per-lead index plan (PERFORMANCE-NOTES.md).
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL random_page_cost = 1.1")
        cursor.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for name in (*FLAGS, *COUNTS, *DECAYED, *RECENCY):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame


def _ids_param(lead_ids: Sequence[int]) -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[]) AS lead_id", [list(lead_ids)]
    import json

    return "SELECT CAST(value AS INTEGER) AS lead_id FROM json_each(%s)", [
        json.dumps(list(lead_ids))
    ]


def features_for(lead_ids: Sequence[int], *, as_of: datetime) -> pd.DataFrame:
    """Features of ``lead_ids`` now (``as_of``), one row per existing lead, ordered by id."""
    ids_sql, params = _ids_param(lead_ids)
    at = connection.ops.adapt_datetimefield_value(as_of)
    cast = "CAST(%s AS timestamptz)" if connection.vendor == "postgresql" else "%s"
    targets = f"SELECT i.lead_id, {cast} AS as_of, 0 AS label FROM ({ids_sql}) i"
    return _frame(_aggregate_sql(targets), [at, *params])


def _outcomes_sql(target: str) -> tuple[str, list[Any]]:
    """Closed outcomes: (lead_id, as_of, label). See docs/predictive.md "What is learned"."""
    aged_days = int(settings.PREDICTIVE_AGED_OUT_DAYS)
    customer, sql_, dq, nurture = (
        Stage.CUSTOMER.value,
        Stage.SQL.value,
        Stage.DISQUALIFIED.value,
        Stage.NURTURE.value,
    )
    reached_sql = (
        "SELECT MIN(sc.changed_at) FROM leads_stagechange sc "
        f"WHERE sc.lead_id = l.id AND sc.to_stage = '{sql_}'"
    )
    sal = Stage.SAL.value
    # the exit reason of the lead's latest change (leads in Nurture or Disqualified only)
    last = (
        "(SELECT {col} FROM leads_stagechange sc WHERE sc.lead_id = l.id "
        "ORDER BY sc.changed_at DESC, sc.id DESC LIMIT 1)"
    )
    ignored_codes = list(
        ExitReason.objects.filter(counts_as_lost=False).values_list("code", flat=True)
    )
    ignored = (
        f"(l.stage IN ('{nurture}', '{dq}') AND {last.format(col='sc.reason_code')} IN "
        f"({', '.join(['%s'] * len(ignored_codes))}))"
        if ignored_codes
        else "(1 = 0)"
    )
    # lost: recycled after sales accepted it (SQL -> Nurture at any time, or its latest change
    # SAL -> Nurture), unless the exit reason does not count as lost (``ignored``)
    lost = (
        f"l.stage = '{nurture}' AND (EXISTS (SELECT 1 FROM leads_stagechange sc "
        f"WHERE sc.lead_id = l.id AND sc.from_stage = '{sql_}' AND sc.to_stage = '{nurture}') "
        f"OR {last.format(col='sc.from_stage')} = '{sal}')"
    )
    if target == Target.SQL:
        positive = f"(l.stage IN ('{sql_}', '{customer}') OR ({reached_sql}) IS NOT NULL)"
        positive_at = f"COALESCE(({reached_sql}), l.stage_changed_at)"
    else:
        positive = f"l.stage = '{customer}'"
        positive_at = "l.stage_changed_at"
    last_activity = "(SELECT MAX(a.occurred_at) FROM leads_activity a WHERE a.lead_id = l.id)"
    if connection.vendor == "postgresql":
        last_touch = f"GREATEST(l.stage_changed_at, COALESCE({last_activity}, l.stage_changed_at))"
    else:
        last_touch = f"MAX(l.stage_changed_at, COALESCE({last_activity}, l.stage_changed_at))"
    from django.utils import timezone

    cutoff = connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(days=aged_days))
    sql = f"""
        SELECT lead_id, as_of, label FROM (
            SELECT l.id AS lead_id,
                   CASE WHEN {positive} THEN 1 ELSE 0 END AS label,
                   CASE WHEN {positive} THEN {positive_at}
                        WHEN l.stage = '{dq}' OR ({lost}) THEN l.stage_changed_at
                        ELSE {last_touch} END AS as_of,
                   CASE WHEN {positive} THEN 0
                        WHEN {ignored} THEN 2
                        WHEN l.stage = '{dq}' OR ({lost}) THEN 0
                        ELSE 1 END AS open_lead
            FROM leads_lead l
        ) o
        WHERE o.open_lead = 0 OR (o.open_lead = 1 AND o.as_of < %s)
    """  # noqa: S608  (stage names, numbers and placeholders only)
    return sql, [*ignored_codes, cutoff]


def outcome_counts(target: str) -> tuple[int, int]:
    """How many closed outcomes there are, and how many positive (cheap: no features)."""
    outcomes, params = _outcomes_sql(target)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), COALESCE(SUM(label), 0) FROM ({outcomes}) x", params)  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]), int(row[1])


def training_set(target: str, *, limit: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Features at outcome time and labels of every closed lead (newest ``limit`` if given)."""
    outcomes, params = _outcomes_sql(target)
    if limit:
        outcomes = f"SELECT * FROM ({outcomes}) x ORDER BY lead_id DESC LIMIT {int(limit)}"
    frame = _frame(_aggregate_sql(outcomes), params)
    y = frame.pop("label").astype(int).to_numpy()
    return frame, y
