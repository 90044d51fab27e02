"""One function per report. Each aggregates in SQL and returns a ``Report`` (columns + rows).

Definitions of every figure are in ``docs/reports.md``; the tests compute them by hand.
Counts of leads come from the milestone rollup (one row per lead); SLA figures from the
handover app's timers; rejections from its handovers; point-in-time from the stage log.
"""

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from django.db import connections, transaction
from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from handover.models import Handover, SlaPolicy, SlaTimer
from leadflow.i18n import shown
from leadflow.models import User
from leadflow.replica import reads_from_replica
from leads import customfields, money
from leads.lifecycle import FUNNEL, Stage
from leads.models import CustomField, ExitReason, StageChange, Team
from reports.accounts import account_coverage, account_mqa, account_pipeline
from reports.aggregates import FRACTIONS, Seconds, grouped, pct_name
from reports.attribution import attribution
from reports.base import Column, Report, group_names, none_label
from reports.base import rate as _rate
from reports.filters import CUSTOM, GROUPINGS, THEN, ReportFilters
from reports.histograms import (
    COHORT,
    CYCLES,
    DAILY,
    MONTHLY,
    RECYCLES,
    STAYS,
    Metric,
    percentile,
)
from reports.ltv import ltv
from reports.models import STAGE_DAYS, LeadMilestone, MetricDay, RollupState, StageDay
from reports.pipeline import pipeline
from reports.roi import roi

DAY: Final = 86400.0
# where other models keep a lead's owner, team and source as they were then (the rest: now)
TIMER_THEN: Final = {"owner_id": "owner_id"}
HANDOVER_THEN: Final = {"owner_id": "owner_id", "team_id": "team_id", "source": "lead_source"}
CHANGE_THEN: Final = HANDOVER_THEN  # StageChange keeps them under the same names


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY, 4)


def _money(value: Decimal | None) -> float:
    return round(float(value or 0), 2)


def _stage_field(stage: Stage) -> str:
    return f"{stage.value}_at"


def _milestones(f: ReportFilters, period_field: str) -> Any:
    # the rollup carries the lead's source/owner/team/industry: no join with the leads
    return LeadMilestone.objects.filter(f.period_q(period_field), f.lead_q(prefix=""))


# --- day histograms (cohort, velocity, recycles) --------------------------------------------------

Hists = dict[tuple[Any, ...], dict[str, list[tuple[int, int, float]]]]


def _whole_days(f: ReportFilters) -> bool:
    return all(at is None or timezone.localtime(at).time() == time.min for at in (f.start, f.end))


def metric_days_answer(f: ReportFilters, group: Sequence[str] = ()) -> bool:
    """MetricDay carries day and source as it was then: it answers periods of whole days and
    a source filter or grouping in that view; owner, team and industry filters, and the source
    as it is now, read the per-lead rollup."""
    by_source = bool(f.source) or "source" in group
    return (
        f.owner_id is None
        and f.team_id is None
        and not f.industry
        and _whole_days(f)
        and (f.view == THEN or not by_source)
    )


def histograms_rolled_up(
    f: ReportFilters, metrics: Sequence[Metric], group: Sequence[str]
) -> Hists:
    start = None if f.start is None else timezone.localtime(f.start).date()
    end = None if f.end is None else timezone.localtime(f.end).date()
    qs = MetricDay.objects.filter(_grains_q(start, end), metric__in=[m.code for m in metrics])
    qs = qs.order_by()
    if f.source:
        qs = qs.filter(source=f.source)
    month = {"month": TruncMonth("day")} if "month" in group else {}
    rows = (
        qs.values("metric", "days", *(g for g in group if g != "month"), **month)
        .annotate(n=Sum("leads"), s=Sum("seconds"))
        .values_list(*group, "metric", "days", "n", "s")
    )
    out: Hists = defaultdict(lambda: defaultdict(list))
    for *key, metric, days, n, s in rows:
        if n:
            out[tuple(key)][metric].append((days, n, s))
    return out


def _grains_q(start: date | None, end: date | None) -> Q:
    """MetricDay rows of the days [start, end): the whole months inside from the monthly grain,
    the days before the first and after the last whole month from the daily grain."""

    def days(lo: date | None, hi: date | None) -> Q:
        q = Q(grain=DAILY)
        q &= Q(day__gte=lo) if lo is not None else Q()
        return q & Q(day__lt=hi) if hi is not None else q

    first = start if start is None or start.day == 1 else _next_month(start)
    last = None if end is None else end.replace(day=1)
    if first is not None and last is not None and first >= last:
        return days(start, end)  # no whole month inside
    months = Q(grain=MONTHLY)
    months &= Q(day__gte=first) if first is not None else Q()
    months &= Q(day__lt=last) if last is not None else Q()
    if start is not None and first is not None and start < first:
        months |= days(start, first)
    if end is not None and last is not None and last < end:
        months |= days(last, end)
    return months


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


# Over more leads than this, a percentile read from MetricDay comes from the summed day
# histogram (within one day); up to it, exactly from the per-lead rollup (a small sort).
EXACT_LIMIT: Final = 10_000

# {group key: {metric code: (leads, {fraction: seconds})}}
Measures = dict[tuple[Any, ...], dict[str, tuple[int, dict[float, float | None]]]]


def measures(
    f: ReportFilters,
    metrics: Sequence[Metric],
    group: Sequence[str] = (),
    fractions: Sequence[float] = FRACTIONS,
) -> Measures:
    """Counts and percentiles of ``metrics`` for the leads in the period (each metric's own
    period field) and filters, by ``group`` ⊆ ("month", "source"). From MetricDay when it
    answers the filters, else exactly from the per-lead rollup."""
    if not metric_days_answer(f, group):
        return _exact(f, metrics, group, fractions)
    hists = histograms_rolled_up(f, metrics, group)
    small = [
        m
        for m in metrics
        if m.valued and 0 < sum(_count(h, m.code) for h in hists.values()) <= EXACT_LIMIT
    ]
    exact = _exact(f, small, group, fractions) if small else {}
    out: Measures = defaultdict(dict)
    for key, hist in hists.items():
        for m in metrics:
            if m in small:
                pcts = exact.get(key, {}).get(m.code, (0, {}))[1]
            else:
                pcts = {fr: percentile(hist.get(m.code, []), fr) for fr in fractions}
            out[key][m.code] = (_count(hist, m.code), pcts if m.valued else {})
    return out


def _exact(
    f: ReportFilters, metrics: Sequence[Metric], group: Sequence[str], fractions: Sequence[float]
) -> Measures:
    """Counts and exact percentiles from the per-lead rollup: one query per period field."""
    by_period: dict[str, list[Metric]] = defaultdict(list)
    for m in metrics:
        by_period[m.period].append(m)
    out: Measures = defaultdict(dict)
    for period, ms in by_period.items():
        exprs: dict[str, Expression | F] = {
            "month": TruncMonth(period),
            "source": F(f.dim("source")),
        }
        rows = grouped(
            _milestones(f, period),
            # keyed "g_…": a group "source" read from another column may not shadow the field
            group={f"g_{g}": exprs[g] for g in group},
            counts={m.code: Count("pk", filter=m.direct_q() or None) for m in ms},
            pcts={m.code: (m.direct_value(), m.direct_q()) for m in ms if m.valued},
        )
        for r in rows:
            key = [r[f"g_{g}"] for g in group]
            if "month" in group:  # a local datetime here, a date in MetricDay
                key[0] = timezone.localtime(key[0]).date()
            for m in ms:
                pcts = {fr: r[pct_name(m.code, fr)] for fr in fractions} if m.valued else {}
                out[tuple(key)][m.code] = (r[m.code] or 0, pcts)
    return out


def _count(hist: dict[str, list[tuple[int, int, float]]], code: str) -> int:
    return sum(n for _, n, _ in hist.get(code, []))


# --- funnel ---------------------------------------------------------------------------------------


def funnel(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Leads that entered the funnel in the period, by the furthest stage reached by its end."""
    counts = {s.value: Count("pk", filter=f.by_end(_stage_field(s))) for s in FUNNEL}
    totals = _milestones(f, "suspect_at").aggregate(**counts)
    rows: list[dict[str, Any]] = []
    first = totals[FUNNEL[0].value]
    previous: int | None = None
    for stage in FUNNEL:
        n = totals[stage.value]
        rows.append(
            {
                "stage": stage.value,
                "label": str(stage.label),
                "leads": n,
                "step_rate": _rate(n, previous) if previous is not None else None,
                "overall_rate": _rate(n, first),
            }
        )
        previous = n
    return Report(
        slug="funnel",
        title=_("Funnel"),
        columns=[
            Column("label", _("Stage"), "text"),
            Column("leads", _("Leads reached at least")),
            Column("step_rate", _("From previous stage"), "rate"),
            Column("overall_rate", _("From first stage"), "rate"),
        ],
        rows=rows,
        chart_label="label",
        chart_series=["leads"],
    )


# --- cohort ---------------------------------------------------------------------------------------


def cohort(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Leads that became MQL in the period, by MQL month and/or source: how far they got."""
    group = {"month": ("month",), "source": ("source",), "month_source": ("month", "source")}[
        f.cohort_by
    ]
    rows = []
    for key, ms in sorted(measures(f, COHORT, group, (0.5,)).items()):
        r: dict[str, Any] = dict(zip(group, key, strict=True))
        r["mqls"] = ms["mql"][0]
        for stage in ("sal", "sql", "customer"):
            n, pcts = ms[f"mql_{stage}"]
            r[stage], r[pct_name(f"to_{stage}", 0.5)] = n, pcts.get(0.5)
        rows.append(r)
    out = []
    for r in rows:
        if not r["mqls"]:
            continue
        row: dict[str, Any] = {}
        if "month" in group:
            row["month"] = r["month"].strftime("%Y-%m")
        if "source" in group:
            row["source"] = r["source"] or none_label()
        row |= {
            "mqls": r["mqls"],
            "sal": r["sal"],
            "sql": r["sql"],
            "customers": r["customer"],
            "sal_rate": _rate(r["sal"], r["mqls"]),
            "mql_to_sql_rate": _rate(r["sql"], r["mqls"]),
            "mql_to_customer_rate": _rate(r["customer"], r["mqls"]),
            "sql_to_customer_rate": _rate(r["customer"], r["sql"]),
            "days_to_sal_p50": _days(r[pct_name("to_sal", 0.5)]),
            "days_to_sql_p50": _days(r[pct_name("to_sql", 0.5)]),
            "days_to_customer_p50": _days(r[pct_name("to_customer", 0.5)]),
        }
        out.append(row)
    if "source" in group and "month" not in group:
        out.sort(key=lambda r: (-r["mqls"], r["source"]))
    keys = [Column("month", _("MQL month"), "text")] if "month" in group else []
    keys += [Column("source", _("Source"), "text")] if "source" in group else []
    return Report(
        slug="cohort",
        title=_("Cohort conversion (from MQL)"),
        columns=[
            *keys,
            Column("mqls", _("MQLs")),
            Column("sal", _("Reached SAL")),
            Column("sql", _("Reached SQL")),
            Column("customers", _("Customers")),
            Column("sal_rate", "MQL→SAL", "rate"),  # stage codes only
            Column("mql_to_sql_rate", "MQL→SQL", "rate"),
            Column("mql_to_customer_rate", _("MQL→Customer"), "rate"),
            Column("sql_to_customer_rate", _("SQL→Customer"), "rate"),
            Column("days_to_sal_p50", _("Median days to SAL"), "days"),
            Column("days_to_sql_p50", _("Median days to SQL"), "days"),
            Column("days_to_customer_p50", _("Median days to Customer"), "days"),
        ],
        rows=out,
        chart_type="line" if f.cohort_by == "month" else "bar",
        chart_label="month" if "month" in group else "source",
        chart_series=["mql_to_sql_rate", "sql_to_customer_rate"],
    )


# --- velocity -------------------------------------------------------------------------------------

_TIMED_STAGES: Final = (Stage.SUSPECT, Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.NURTURE)


def velocity(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Time in each stage (leads that entered the funnel in the period) and cycle lengths
    (leads won in the period), as median / p75 / p90 in days."""
    ms = measures(f, (*STAYS, *CYCLES)).get((), {})
    rows = []
    for s in _TIMED_STAGES:
        rows.append(
            _velocity_row(
                f"time_in_{s.value}",
                # Translators: a velocity report row: the time leads spent in one stage.
                _("Time in %(stage)s") % {"stage": s.label},
                ms,
                f"stay_{s.value}",
            )
        )
    rows.append(_velocity_row("cycle_sql_customer", _("Sales cycle SQL→Customer"), ms, "won_sql"))
    rows.append(_velocity_row("cycle_mql_customer", _("Sales cycle MQL→Customer"), ms, "won_mql"))
    return Report(
        slug="velocity",
        title=_("Velocity"),
        columns=[
            Column("label", _("Measure"), "text"),
            Column("n", _("Leads")),
            Column("p50_days", _("Median (days)"), "days"),
            # Translators: the 75th percentile, in days
            Column("p75_days", _("p75 (days)"), "days"),
            # Translators: the 90th percentile, in days
            Column("p90_days", _("p90 (days)"), "days"),
        ],
        rows=rows,
        chart_label="label",
        chart_series=["p50_days", "p75_days", "p90_days"],
    )


def _velocity_row(
    metric: str, label: str, ms: dict[str, tuple[int, dict[float, float | None]]], code: str
) -> dict[str, Any]:
    n, pcts = ms.get(code, (0, {}))
    row: dict[str, Any] = {"metric": metric, "label": label, "n": n}
    for frac in FRACTIONS:
        row[f"p{round(frac * 100)}_days"] = _days(pcts.get(frac))
    return row


# --- SLA attainment -------------------------------------------------------------------------------


def sla(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """SLA timers started in the period (cancelled ones excluded), by policy, team or rep."""
    now = now or timezone.now()
    # group by the id (a join for the name made PostgreSQL sort 1M timers by text: 2x slower);
    # the names come from a second, small query
    key, names = {
        "policy": ("policy_id", SlaPolicy.objects.values_list("id", "name")),
        "team": ("lead__team_id", Team.objects.values_list("id", "name")),
        "rep": ("owner_id", User.objects.values_list("id", "username")),
    }[f.sla_by]
    qs = SlaTimer.objects.filter(f.period_q("started_at"), f.lead_q(then=TIMER_THEN)).exclude(
        state=SlaTimer.State.CANCELLED
    )
    late = Q(stopped_at__gt=F("due_at"))
    breached = (
        Q(breached_at__isnull=False) | late | Q(state=SlaTimer.State.RUNNING, due_at__lte=now)
    )
    met = Q(state=SlaTimer.State.MET, breached_at__isnull=True, stopped_at__lte=F("due_at"))
    running = Q(state=SlaTimer.State.RUNNING, breached_at__isnull=True, due_at__gt=now)
    handed_on = Q(
        state=SlaTimer.State.SUPERSEDED, breached_at__isnull=True, stopped_at__lte=F("due_at")
    )
    rows = grouped(
        qs,
        group={"group": F(key)},
        counts={
            "timers": Count("pk"),
            "met": Count("pk", filter=met),
            "breached": Count("pk", filter=breached),
            "open": Count("pk", filter=running),
            "handed_on": Count("pk", filter=handed_on),
        },
        pcts={"response": (Seconds("stopped_at", "started_at"), Q(state=SlaTimer.State.MET))},
    )
    ids = {r["group"] for r in rows}
    name = dict(names.filter(id__in=ids - {None}))
    for r in rows:
        r["group"] = name.get(r["group"])
    rows.sort(key=lambda r: (r["group"] is None, r["group"] or ""))
    none = none_label()
    out = [
        {
            "group": r["group"] or none,
            "timers": r["timers"],
            "met": r["met"],
            "breached": r["breached"],
            "open": r["open"],
            "handed_on": r["handed_on"],
            "attainment": _rate(r["met"], r["met"] + r["breached"]),
            "response_p50_minutes": None
            if r[pct_name("response", 0.5)] is None
            else round(r[pct_name("response", 0.5)] / 60, 2),
        }
        for r in rows
    ]
    label = {"policy": _("Policy"), "team": _("Team"), "rep": _("Rep")}[f.sla_by]
    return Report(
        slug="sla",
        title=_("SLA attainment"),
        columns=[
            Column("group", label, "text"),
            Column("timers", _("Timers")),
            Column("met", _("Met")),
            Column("breached", _("Breached")),
            Column("open", _("Running, not yet due")),
            Column("handed_on", _("Reassigned before due")),
            Column("attainment", _("Attainment"), "rate"),
            Column("response_p50_minutes", _("Median response (min)"), "minutes"),
        ],
        rows=out,
        chart_label="group",
        chart_series=["met", "breached"],
    )


# --- rejections and recycles ----------------------------------------------------------------------


def rejections(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Handovers rejected in the period, by reason within source or rep."""
    key = {
        "source": F(f.dim("source", HANDOVER_THEN, "lead__")),
        "rep": F("decided_by__username"),
    }[f.rejections_by]
    qs = Handover.objects.filter(
        f.period_q("decided_at"), f.lead_q(then=HANDOVER_THEN), status=Handover.Status.REJECTED
    )
    rows = list(
        qs.order_by()
        .values(group=key, reason=F("reason_code"), reason_label=F("rejection_reason__label"))
        .annotate(rejections=Count("pk"))
        .order_by("group", "-rejections", "reason")
    )
    totals: dict[str, int] = {}
    none = none_label()
    for r in rows:
        r["group"] = r["group"] or none
        totals[r["group"]] = totals.get(r["group"], 0) + r["rejections"]
    out = [
        {
            "group": r["group"],
            "reason": r["reason"],
            "reason_label": shown(r["reason_label"]) or r["reason"],
            "rejections": r["rejections"],
            "share": _rate(r["rejections"], totals[r["group"]]),
        }
        for r in rows
    ]
    return Report(
        slug="rejections",
        title=_("Rejection reasons"),
        columns=[
            Column("group", _("Source") if f.rejections_by == "source" else _("Rep"), "text"),
            Column("reason", _("Reason code"), "text"),
            Column("reason_label", _("Reason"), "text"),
            Column("rejections", _("Rejections")),
            Column("share", _("Share of the group"), "rate"),
        ],
        rows=out,
        chart_label="reason_label",
        chart_series=["rejections"],
    )


def exits(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Leads that left after sales accepted them (SAL or SQL to Nurture or Disqualified) in the
    period, by exit reason, within source, rep or team if asked. Read from the stage log."""
    group = {
        "reason": Value(""),
        "source": F(f.dim("source", CHANGE_THEN, "lead__")),
        "rep": F(f.dim("owner_id", CHANGE_THEN, "lead__")),
        "team": F(f.dim("team_id", CHANGE_THEN, "lead__")),
    }[f.exits_by]
    qs = StageChange.objects.filter(
        f.period_q("changed_at"),
        f.lead_q(then=CHANGE_THEN),
        from_stage__in=(Stage.SAL, Stage.SQL),
        to_stage__in=(Stage.NURTURE, Stage.DISQUALIFIED),
    )
    counts = {
        f"{a}_{b}": Count("pk", filter=Q(from_stage=a, to_stage=b))
        for a in (Stage.SAL, Stage.SQL)
        for b in (Stage.NURTURE, Stage.DISQUALIFIED)
    }
    lost = Sum(money.converted("value", "currency"), filter=Q(from_stage=Stage.SQL))
    rows = list(
        qs.order_by()
        .values("reason_code", group=group)
        .annotate(exits=Count("pk"), lost_value=lost, **counts)
    )
    labels = dict(ExitReason.objects.values_list("code", "label"))
    names = group_names(f.exits_by, {r["group"] for r in rows})
    totals: dict[Any, int] = defaultdict(int)
    for r in rows:
        totals[r["group"]] += r["exits"]
    out = [
        {
            "group": names.get(r["group"]) or none_label(),
            "reason": r["reason_code"],
            "reason_label": shown(labels.get(r["reason_code"], r["reason_code"]))
            or _("No coded reason (logged before exit reasons)"),
            "from_sal": r["sal_nurture"] + r["sal_disqualified"],
            "from_sql": r["sql_nurture"] + r["sql_disqualified"],
            "to_nurture": r["sal_nurture"] + r["sql_nurture"],
            "to_disqualified": r["sal_disqualified"] + r["sql_disqualified"],
            "exits": r["exits"],
            "share": _rate(r["exits"], totals[r["group"]]),
            "lost_value": _money(r["lost_value"]),
        }
        for r in rows
    ]
    out.sort(key=lambda r: (r["group"], -r["exits"], r["reason"]))
    by = dict(GROUPINGS["exits_by"])[f.exits_by]
    grouped_by = [] if f.exits_by == "reason" else [Column("group", str(by), "text")]
    return Report(
        slug="exits",
        title=_("Exit reasons after acceptance"),
        columns=[
            *grouped_by,
            Column("reason", _("Reason code"), "text"),
            Column("reason_label", _("Reason"), "text"),
            Column("from_sal", _("From SAL")),
            Column("from_sql", _("From SQL")),
            Column("to_nurture", _("To Nurture")),
            Column("to_disqualified", _("To Disqualified")),
            Column("exits", _("Exits")),
            Column("share", _("Share of the group") if grouped_by else _("Share"), "rate"),
            # Translators: %(currency)s is an ISO currency code, e.g. EUR
            Column(
                "lost_value",
                _("Expected value lost from SQL (%(currency)s)")
                % {"currency": money.reporting_currency()},
                "money",
            ),
        ],
        rows=out,
        chart_label="reason_label",
        chart_series=["from_sal", "from_sql"],
    )


def recycles(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Leads first recycled to Nurture in the period, by source: what became of them."""
    rows = [
        {"source": key[0]} | {code: n for code, (n, _) in ms.items()}
        for key, ms in sorted(measures(f, RECYCLES, ("source",)).items())
    ]
    none = none_label()
    out = [
        {
            "source": r["source"] or none,
            "recycled": r["recycled"],
            "requalified": r["requalified"],
            "reached_sql": r["reached_sql"],
            "converted": r["converted"],
            "disqualified": r["disqualified"],
            "nurturing": r["nurturing"],
            "conversion_rate": _rate(r["converted"], r["recycled"]),
        }
        for r in rows
    ]
    return Report(
        slug="recycles",
        title=_("Recycle outcomes"),
        columns=[
            Column("source", _("Source"), "text"),
            Column("recycled", _("Recycled")),
            Column("requalified", _("Back to MQL")),
            Column("reached_sql", _("Reached SQL again")),
            Column("converted", _("Became customers")),
            Column("disqualified", _("Now disqualified")),
            Column("nurturing", _("Still in nurture")),
            Column("conversion_rate", _("Recycled→Customer"), "rate"),
        ],
        rows=out,
        chart_label="source",
        chart_series=["recycled", "requalified", "converted"],
    )


# --- sources --------------------------------------------------------------------------------------


def _source_counts(f: ReportFilters) -> dict[str, Any]:
    return {
        "leads": Count("pk"),
        "mqls": Count("pk", filter=f.by_end("mql_at")),
        "sqls": Count("pk", filter=f.by_end("sql_at")),
        "customers": Count("pk", filter=f.by_end("customer_at")),
        "revenue": Coalesce(
            Sum(money.converted("deal_value", "currency"), filter=f.by_end("customer_at")),
            Value(Decimal(0)),
        ),
    }


def _custom_groups(f: ReportFilters, field: CustomField) -> list[dict[str, Any]]:
    """One row per value of a choice or yes/no field, and one for leads without a value. A
    lead with several values of a multiple choice counts once under each."""
    qs = _milestones(f, "suspect_at")
    counts = _source_counts(f)
    none = ~Q(lead__custom__has_key=field.key)
    annotations: dict[str, Any] = {}
    groups = [
        (label, customfields.holds_q(field, value, "lead__"))
        for value, label in customfields.group_values(field)
    ]
    for i, (_label, test) in enumerate([*groups, (none_label(), none)]):
        for name, aggregate in counts.items():
            annotations[f"g{i}_{name}"] = _filtered(aggregate, test)
    totals = qs.aggregate(**annotations)
    return [
        {"key": label, **{name: totals[f"g{i}_{name}"] for name in counts}}
        for i, (label, _test) in enumerate([*groups, (none_label(), none)])
    ]


def _filtered(aggregate: Any, test: Q) -> Any:
    """``aggregate`` (a Count/Sum with a filter, or Coalesce around one) over rows also
    matching ``test``."""
    if isinstance(aggregate, Coalesce):
        inner, default = aggregate.get_source_expressions()
        return Coalesce(_filtered(inner, test), default)
    clone = aggregate.copy()
    clone.filter = test & clone.filter if clone.filter is not None else test
    return clone


def sources(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Leads that entered the funnel in the period, by source, UTM field or a choice custom
    field, and what they won."""
    custom = None
    if f.sources_by.startswith(CUSTOM):
        custom = CustomField.objects.filter(key=f.sources_by.removeprefix(CUSTOM)).first()
    if custom is not None:
        rows = _custom_groups(f, custom)
        label = custom.label
    else:
        rows = grouped(
            _milestones(f, "suspect_at"),
            group={"key": F(f.dim(f.sources_by) if f.sources_by == "source" else f.sources_by)},
            counts=_source_counts(f),
            pcts={},
        )
        label = str(dict(_SOURCES_LABELS)[f.sources_by])
    none = none_label()
    out = [
        {
            "key": r["key"] or none,
            "leads": r["leads"],
            "mqls": r["mqls"],
            "sqls": r["sqls"],
            "customers": r["customers"],
            "revenue": _money(r["revenue"]),
            "mql_to_customer_rate": _rate(r["customers"], r["mqls"]),
        }
        for r in rows
    ]
    out.sort(key=lambda r: (-r["leads"], r["key"]))
    return Report(
        slug="sources",
        title=_("Sources"),
        columns=[
            Column("key", label, "text"),
            Column("leads", _("Leads")),
            Column("mqls", _("MQLs")),
            Column("sqls", _("SQLs")),
            Column("customers", _("Customers")),
            Column("revenue", _("Revenue (won deal value)"), "money"),
            Column("mql_to_customer_rate", _("MQL→Customer"), "rate"),
        ],
        rows=out,
        chart_label="key",
        chart_series=["leads", "mqls", "sqls", "customers"],
    )


_SOURCES_LABELS = (
    ("source", gettext_lazy("Source")),
    ("utm_source", gettext_lazy("UTM source")),
    ("utm_medium", gettext_lazy("UTM medium")),
    ("utm_campaign", gettext_lazy("UTM campaign")),
    ("industry", gettext_lazy("Industry / segment")),
)


# --- point in time --------------------------------------------------------------------------------


def point_in_time(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """How many leads were in each stage at the end of the day ``f.on``.

    Per stage: log entries into it up to then minus log exits from it up to then (each lead is
    in exactly one stage after its first entry, so this counts leads). Without lead filters the
    per-day counts (``StageDay``) answer for the log up to their watermark, and only newer rows
    are read from the log. With lead filters each matching lead's stage then is its stage now
    (rollup) if it has not moved since, else its last log entry before then.
    """
    on = f.on or timezone.now()
    counts: dict[str, int] = defaultdict(int)
    if f.lead_q():
        # per matching lead (by its values then, those of its latest change, or now: the
        # view): its stage now if it has not moved since, else the last log entry before then
        # (one backward step of the (lead, changed_at, id) index)
        then = StageChange.objects.filter(lead_id=OuterRef("lead_id"), changed_at__lt=on)
        stage_then = Case(
            When(stage_since__lt=on, then=F("stage")),
            default=Subquery(then.order_by("-changed_at", "-id").values("to_stage")[:1]),
        )
        mine = LeadMilestone.objects.filter(f.lead_q(prefix=""), suspect_at__lt=on).order_by()
        for stage, n in (
            mine.values(then=stage_then).annotate(n=Count("pk")).values_list("then", "n")
        ):
            counts[stage] += n
    else:
        log = StageChange.objects.filter(changed_at__lt=on).order_by()
        state = RollupState.objects.filter(name=STAGE_DAYS).first()
        if state is not None and state.last_change_id:
            log = log.filter(id__gt=state.last_change_id)
            last_day = timezone.localtime(on - timedelta(microseconds=1)).date()
            days = StageDay.objects.filter(day__lte=last_day).order_by()
            for stage, e, x in (
                days.values("stage")
                .annotate(e=Sum("entries"), x=Sum("exits"))
                .values_list("stage", "e", "x")
            ):
                counts[stage] += e - x
        entries = log.values("to_stage").annotate(n=Count("pk")).values_list("to_stage", "n")
        for stage, n in entries:
            counts[stage] += n
        exits = log.exclude(from_stage="").values("from_stage").annotate(n=Count("pk"))
        for stage, n in exits.values_list("from_stage", "n"):
            counts[stage] -= n
    rows = [{"stage": s.value, "label": str(s.label), "leads": counts[s.value]} for s in Stage]
    return Report(
        slug="point-in-time",
        title=_("Leads per stage at a point in time"),
        columns=[Column("label", _("Stage"), "text"), Column("leads", _("Leads"))],
        rows=rows,
        chart_label="label",
        chart_series=["leads"],
    )


ReportFn = Callable[..., Report]

REPORTS: Final[dict[str, ReportFn]] = {
    "funnel": funnel,
    "cohort": cohort,
    "velocity": velocity,
    "sla": sla,
    "rejections": rejections,
    "exits": exits,
    "recycles": recycles,
    "sources": sources,
    "point-in-time": point_in_time,
    "accounts-mqa": account_mqa,
    "accounts-coverage": account_coverage,
    "accounts-pipeline": account_pipeline,
    "attribution": attribution,
    "pipeline": pipeline,
    "roi": roi,
    "ltv": ltv,
}


# Analytic queries on PostgreSQL: sorts for percentiles fit in memory instead of spilling at
# the default 4 MB, and no JIT compilation (it cost more than it saved on these plans).
PG_SESSION: Final = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off")


def report_run(*, slug: str, filters: ReportFilters, now: datetime | None = None) -> Report:
    """One report, read from the replica when one is configured and current enough
    (leadflow/replica.py); ``report.source`` says where it was read."""
    with reads_from_replica() as source, transaction.atomic(using=source.alias):
        db = connections[source.alias]
        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                for statement in PG_SESSION:
                    cursor.execute(statement)
        report = REPORTS[slug](filters, now=now)
    report.source = source
    return report
