"""Money benchmark: the pipeline, lost-value and revenue reports at ~1M leads, each against the
same report without currency conversion (the cost the conversion adds, like for like in the same
run), and what setting a deal's value costs a writer.

    (the attribution benchmark's data set: bench/attribution/attribution_bench.py's recipe)
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_attr
    .venv/bin/python bench/money/money_bench.py --prepare      # deals, currencies, rates; once
    .venv/bin/python manage.py attribution_rebuild
    psql -h 127.0.0.1 -U postgres lf_bench_attr -c "VACUUM ANALYZE"
    .venv/bin/python bench/money/money_bench.py [--runs 5] [--writes 500]

``--prepare`` gives every lead from SAL on an expected value (5,000–64,900 EUR from its id),
a fifth of them in HUF and a fifth in DKK at fixed rates, every customer a won value (and every
third two repeat wins), and every stage change out of SQL the value then — set-based, as a
backfill would. Then ``manage.py attribution_rebuild`` (revenue attribution reads the values).

Report cases: ``--runs`` timed runs after one warm-up, every run printed. Baselines, in the same
run: return on spend and lifetime value by channel computed straight from the activities and
stage log (no rollup; ``--baseline-runs``), and the pipeline's query summing the stored values
without converting them (``Sum("expected_value")``): what the currency conversion costs. Write cases (``--writes`` N): ``lead_deal_set`` on N
SQL leads, and N SAL → SQL moves without and N with a value; rolled back.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

# the attribution benchmark's baseline: revenue credited straight from the activities
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "attribution"))
from decimal import Decimal  # noqa: E402

from attribution_bench import from_activities, timed  # type: ignore[import-not-found]  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402

from attribution import services  # noqa: E402
from attribution.channels import Grouping  # noqa: E402
from attribution.spend import spend_by  # noqa: E402
from leadflow.models import User  # noqa: E402
from leadflow.roles import Role  # noqa: E402
from leads import events, money  # noqa: E402
from leads.lifecycle import Stage  # noqa: E402
from leads.models import ExchangeRate, Lead, Win  # noqa: E402
from leads.services import lead_deal_set, lead_move  # noqa: E402
from reports.filters import ReportFilterForm  # noqa: E402
from reports.selectors import report_run  # noqa: E402

RATES = {"HUF": Decimal("0.0025"), "DKK": Decimal("0.134")}
VALUE = "(5000 + ({t}.id * 104729) % 600 * 100)"
CURRENCY = "(CASE {t}.id % 5 WHEN 0 THEN 'HUF' WHEN 1 THEN 'DKK' ELSE '' END)"
IN_CURRENCY = "(CASE {t}.id % 5 WHEN 0 THEN 400 WHEN 1 THEN 7.5 ELSE 1 END)"


def prepare() -> None:
    for code, rate in RATES.items():
        ExchangeRate.objects.update_or_create(currency=code, defaults={"rate": rate})
    t = "l"
    statements = (
        f"UPDATE leads_lead l SET currency = {CURRENCY.format(t=t)},"
        f" expected_value = {VALUE.format(t=t)} * {IN_CURRENCY.format(t=t)}"
        " WHERE stage IN ('sal', 'sql', 'customer', 'nurture', 'disqualified')",
        "UPDATE leads_lead l SET deal_value = round(expected_value * 1.1, 2)"
        " WHERE stage = 'customer'",
        "UPDATE leads_stagechange s SET value = l.expected_value, currency = l.currency"
        " FROM leads_lead l WHERE s.lead_id = l.id AND s.from_stage = 'sql'"
        " AND l.expected_value IS NOT NULL",
        "UPDATE reports_leadmilestone m SET deal_value = l.deal_value, currency = l.currency"
        " FROM leads_lead l WHERE m.lead_id = l.id AND l.deal_value IS NOT NULL",
        # every third customer bought again twice (a renewal a month, in euros)
        "INSERT INTO leads_win (lead_id, won_at, value, currency, note, created_at)"
        " SELECT l.id, l.stage_changed_at + g * interval '30 days', (l.id % 97 + 1) * 100, '',"
        " 'bench', now() FROM leads_lead l, generate_series(1, 2) g"
        " WHERE l.stage = 'customer' AND l.id % 3 = 0",
    )
    with connection.cursor() as cur:
        for sql in statements:
            started = time.perf_counter()
            cur.execute(sql)
            print(f"{cur.rowcount:,} rows in {time.perf_counter() - started:.1f} s: {sql[:60]}…")


def report(slug: str, params: dict[str, str]) -> Any:
    form = ReportFilterForm(params)
    assert form.is_valid(), form.errors  # noqa: S101
    return report_run(slug=slug, filters=form.filters())


def pipeline_query(by: str, *, converted: bool) -> list[Any]:
    """The pipeline's query, summing the stored values as they are (the baseline) or converted."""
    field = {"rep": "owner_id", "team": "team_id", "source": "source"}[by]
    value = money.converted("expected_value", "currency") if converted else "expected_value"
    return list(
        Lead.objects.filter(stage=Stage.SQL, erased_at__isnull=True)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"), v=Sum(value))
    )


def roi_from_activities() -> dict[str, Any]:
    """ROI by channel, all time, without the rollup: revenue credited from the activities and
    stage log (the attribution benchmark's baseline) and spend grouped here."""
    revenue = from_activities("customer", None)
    spend = spend_by(by="channel", start=None, end=None)
    return {channel: (sums, spend.get((channel,), 0)) for channel, sums in revenue.items()}


def ltv_from_activities() -> dict[str, Decimal]:
    """Lifetime value by first-touch channel without the rollup: each customer's touches and
    converted first win read from its activities and row (attribution.services.lead_facts),
    its repeat wins summed here."""
    held = money.rates()
    ids = list(
        Lead.objects.filter(stage=Stage.CUSTOMER).order_by("pk").values_list("pk", flat=True)
    )
    wins: dict[int, Decimal] = {}
    for lead_id, value, code in Win.objects.values_list("lead_id", "value", "currency"):
        wins[lead_id] = wins.get(lead_id, Decimal(0)) + money.in_reporting(value, code, held)
    grouping = Grouping()
    out: dict[str, Decimal] = {}
    for start in range(0, len(ids), 5000):
        for pk, lead in services.lead_facts(ids[start : start + 5000]).items():
            channel = grouping.channel(lead.touches[0].tags.key)
            value = Decimal(lead.cents) / 100 + wins.get(pk, Decimal(0))
            out[channel] = out.get(channel, Decimal(0)) + value
    return out


def writes(n: int) -> None:
    sql = list(Lead.objects.filter(stage=Stage.SQL).order_by("?").values_list("pk", flat=True)[:n])
    sal = list(
        Lead.objects.filter(stage=Stage.SAL).order_by("?").values_list("pk", flat=True)[: 2 * n]
    )
    # the qualification gate is the handover app's, the same for both halves: left out
    events.stage_change_requested.disconnect(dispatch_uid="handover.qualification_gate")
    with transaction.atomic():
        rep = User.objects.create(username="bench-money-rep")  # SAL → SQL is sales' move
        rep.groups.add(Group.objects.get_or_create(name=Role.SALES_REP.value)[0])
        started = time.perf_counter()
        for pk in sql:
            lead_deal_set(lead_id=pk, actor=rep, expected_value="12345.67", currency="HUF")
        per_set = (time.perf_counter() - started) * 1000 / max(len(sql), 1)
        half = len(sal) // 2
        started = time.perf_counter()
        for pk in sal[:half]:
            _to_sql(pk, None, rep)
        plain = (time.perf_counter() - started) * 1000 / max(half, 1)
        started = time.perf_counter()
        for pk in sal[half:]:
            _to_sql(pk, Decimal("54321"), rep)
        valued = (time.perf_counter() - started) * 1000 / max(len(sal) - half, 1)
        transaction.set_rollback(True)
    print(f"| `lead_deal_set` on an SQL lead | {per_set:.2f} | {len(sql):,} leads |")
    print(f"| SAL → SQL, no value / with a value | {plain:.2f} / {valued:.2f} | {half:,} each |")


def _to_sql(pk: int, value: Decimal | None, rep: User | None) -> None:
    if value is not None:
        lead_deal_set(lead_id=pk, actor=rep, expected_value=value, currency="DKK")
    lead_move(lead_id=pk, to=Stage.SQL, actor=rep, source="ui")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--baseline-runs", type=int, default=1)
    args = parser.parse_args()
    if args.prepare:
        prepare()
        return
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM leads_lead), (SELECT count(*) FROM leads_stagechange),"
            " (SELECT count(*) FROM leads_lead WHERE stage = 'sql'),"
            " (SELECT count(*) FROM leads_lead WHERE expected_value IS NOT NULL)"
        )
        leads, changes, sqls, valued = cur.fetchone()
    print(
        f"{leads:,} leads, {changes:,} stage changes, {sqls:,} in SQL, {valued:,} with an "
        f"expected value; load average {os.getloadavg()[0]:.2f}"
    )
    cases: dict[str, Callable[[], Any]] = {}
    for by in ("age", "rep", "team", "source", "month"):
        cases[f"pipeline by {by}"] = partial(report, "pipeline", {"pipeline_by": by})
    cases["pipeline by age, entered SQL in 2026"] = partial(
        report, "pipeline", {"pipeline_by": "age", "date_from": "2026-01-01"}
    )
    for by in ("reason", "rep"):
        cases[f"exits (lost value) by {by}"] = partial(report, "exits", {"exits_by": by})
    cases["sources (revenue)"] = partial(report, "sources", {})
    cases["attribution (revenue by channel)"] = partial(
        report, "attribution", {"outcome": "revenue"}
    )
    for by in ("channel", "campaign"):
        cases[f"roi by {by}"] = partial(report, "roi", {"attribution_by": by})
    for by in ("channel", "source", "account", "customer"):
        cases[f"ltv by {by}"] = partial(report, "ltv", {"ltv_by": by})
    print("\n| case | median ms | every run (ms) |\n|---|---|---|")
    medians = {}
    for label, fn in cases.items():
        samples = timed(fn, args.runs)
        medians[label] = statistics.median(samples)
        runs = ", ".join(f"{s:,.0f}" for s in samples)
        print(f"| {label} | {medians[label]:,.0f} | {runs} |")
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print("| baseline: from the activities | ms (every run) | ÷ the report's |\n|---|---|---|")
    for label, fn in (("roi by channel", roi_from_activities),
                      ("ltv by channel", ltv_from_activities)):  # fmt: skip
        samples = timed(fn, args.baseline_runs, warm=False)
        ratio = statistics.median(samples) / medians[label]
        print(f"| {label} | {', '.join(f'{s:,.0f}' for s in samples)} | {ratio:,.0f}× |")
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print(
        "| the pipeline's query | unconverted ms (every run) | converted ms (every run) | ratio |"
        "\n|---|---|---|---|"
    )
    for by in ("rep", "team", "source"):
        plain = timed(partial(pipeline_query, by, converted=False), args.runs)
        conv = timed(partial(pipeline_query, by, converted=True), args.runs)
        ratio = statistics.median(conv) / statistics.median(plain)
        print(
            f"| by {by} | {', '.join(f'{s:,.0f}' for s in plain)} | "
            f"{', '.join(f'{s:,.0f}' for s in conv)} | {ratio:.2f}× |"
        )
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print("| write | ms per call | n |\n|---|---|---|")
    writes(args.writes)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
