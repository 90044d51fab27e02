"""Rule precision at scale: the rules editor's table and the exits report on the reports data set.

    # the reports benchmark's database (bench/reports/reports_bench.py: 1.085M leads, ~5M stage
    # changes), or the attribution benchmark's (the same leads and stage log, with activities);
    # the reports benchmark's handover seeding (SLA timers, one rejected handover per MQL exit)
    # runs first
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_attr
    .venv/bin/python bench/scoring/rule_precision_bench.py [--runs 5] [--rules 15]

The first run completes the handovers (one accepted handover per MQL entry followed by SAL, one
open handover per MQL entry still open) and gives each handover each of ``--rules`` rules with
a probability from 10 % to 60 % (a deterministic hash), as ``handover.HandoverRuleHit`` rows,
then ANALYZEs, marks every day and runs the sweep (timed: the rollup built from nothing).

Timed (median of ``--runs`` after a warm-up, every run printed), for the last 180 and 730 days:
``rule_precision`` as the rules editor calls it (the rollup, the window's first day counted from
the handovers); beside it, in the same run, the baseline: the same counts straight from the rule
hits and handovers (the query the rollup replaced); the reader with the data's last day and last
7 days marked (changes the sweep has not taken yet); and the exits report (``reports`` slug
``exits``) ungrouped and by rep. Then what keeping the rollup costs: the sweep rewriting one
marked day, and 30 (rolled back).
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

from datetime import timedelta  # noqa: E402

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.reports import reports_bench  # noqa: E402
from handover import rule_precision as counter  # noqa: E402
from handover.models import (  # noqa: E402
    Handover,
    HandoverRuleHit,
    RulePrecisionDay,
    RulePrecisionMark,
)
from reports.filters import ReportFilterForm  # noqa: E402
from reports.selectors import report_run  # noqa: E402
from scoring import services  # noqa: E402
from scoring.models import ScoringModel  # noqa: E402
from scoring.precision import Outcomes, rule_precision  # noqa: E402

NAME = "bench rule precision"


def the_model(n_rules: int) -> ScoringModel:
    model = ScoringModel.objects.filter(name=NAME).first()
    if model is not None:
        return model
    model = services.model_create(data={"name": NAME, "mql_threshold": 50, "mql_min_grade": "D"})
    kinds = ["webinar", "download", "page_view", "email_click", "form_submit", "meeting", "trial"]
    for i in range(n_rules):
        services.rule_create(
            model_id=model.pk,
            data={
                "name": f"rule {i}",
                "kind": "activity",
                "activity_kind": kinds[i % len(kinds)],
                "points": 5 + i,
                "conditions": [{"property": "variant", "op": "equals", "value": f"v{i}"}],
            },
        )
    return model


def seed(model: ScoringModel) -> None:
    reports_bench.seed_handover()  # rejected handovers (and SLA timers), if not there yet
    if Handover.objects.filter(status=Handover.Status.ACCEPTED).exists():
        return
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO handover_handover (lead_id, owner_id, status, opened_at, decided_at,
                decided_by_id, reason_code, comment, lead_source)
            SELECT c.lead_id, l.owner_id, CASE WHEN c.next IS NULL THEN 'open' ELSE 'accepted' END,
                   c.changed_at, c.next_at, CASE WHEN c.next IS NULL THEN NULL ELSE l.owner_id END,
                   '', '', l.source
            FROM (SELECT lead_id, changed_at, to_stage,
                         lead(to_stage) OVER w AS next, lead(changed_at) OVER w AS next_at
                  FROM leads_stagechange WINDOW w AS (PARTITION BY lead_id ORDER BY changed_at, id)
                 ) c JOIN leads_lead l ON l.id = c.lead_id
            WHERE c.to_stage = 'mql' AND (c.next IS NULL OR c.next = 'sal')
            """
        )
        keys = list(model.rules.order_by("id").values_list("key", flat=True))
        for i, key in enumerate(keys):
            share = 10 + (50 * i) // max(1, len(keys) - 1)  # 10 % .. 60 %
            cur.execute(
                """
                INSERT INTO handover_handoverrulehit (handover_id, rule_key, points)
                SELECT id, %s, 10 FROM handover_handover
                WHERE (id * 7919 + %s * 104729) %% 100 < %s
                """,
                [key, i, share],
            )
        # what the stage receiver keeps (and migration handover 0008 backfills): the outcomes
        cur.execute(
            """
            UPDATE handover_handover h SET reached_sql_at = o.sql_at, won_at = o.won_at
            FROM (SELECT h.id,
                         (SELECT min(changed_at) FROM leads_stagechange sc WHERE
                          sc.lead_id = h.lead_id AND sc.to_stage = 'sql'
                          AND sc.changed_at >= h.opened_at) AS sql_at,
                         (SELECT min(changed_at) FROM leads_stagechange sc WHERE
                          sc.lead_id = h.lead_id AND sc.to_stage = 'customer'
                          AND sc.changed_at >= h.opened_at) AS won_at
                  FROM handover_handover h) o
            WHERE o.id = h.id
            """
        )
        cur.execute("VACUUM ANALYZE handover_handover")
        cur.execute("ANALYZE handover_handoverrulehit")


def straight(keys: list[Any], since: Any) -> tuple[dict[Any, Outcomes], Outcomes]:
    """The baseline: the counts from the rule hits and handovers, no rollup (the query the
    rollup replaced)."""
    total = Handover.objects.filter(opened_at__gte=since).aggregate(**counter._counts(""))
    rows = (
        HandoverRuleHit.objects.filter(rule_key__in=keys, handover__opened_at__gte=since)
        .values("rule_key")
        .annotate(**counter._counts("handover__"))
        .order_by()
    )
    return {r.pop("rule_key"): Outcomes(**r) for r in rows}, Outcomes(**total)


def roll_up() -> None:
    if RulePrecisionDay.objects.exists():
        return
    started = time.perf_counter()
    counter.mark_all()
    days = counter.refresh_marked()
    rows = RulePrecisionDay.objects.count()
    print(
        f"rollup built: {days:,} days, {rows:,} rows in {time.perf_counter() - started:,.1f} s "
        f"(load {os.getloadavg()[0]:.2f})"
    )


def last_day() -> Any:
    """The last day a handover opened (the data set ends before today)."""
    return Handover.objects.order_by("-opened_at").values_list("opened_at", flat=True)[0].date()


def behind(days: int, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` with the data's last ``days`` days marked (rolled back)."""

    def run() -> Any:
        with transaction.atomic():
            last = last_day()
            counter.mark(last - timedelta(days=d) for d in range(days))
            result = fn()
            transaction.set_rollback(True)
        return result

    return run


def sweep(days: int) -> Callable[[], Any]:
    """The sweep rewriting ``days`` marked days (rolled back; the marks made inside)."""

    def run() -> Any:
        with transaction.atomic():
            first = last_day() - timedelta(days=40)
            counter.mark(first + timedelta(days=d) for d in range(days))
            assert counter.refresh_marked() == days  # noqa: S101
            transaction.set_rollback(True)

    return run


def timed(fn: Callable[[], Any], runs: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rules", type=int, default=15)
    args = parser.parse_args()
    model = the_model(args.rules)
    seed(model)
    rules = list(model.rules.order_by("id"))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM leads_lead), (SELECT count(*) FROM leads_stagechange),"
            " (SELECT count(*) FROM handover_handover),"
            " (SELECT count(*) FROM handover_handoverrulehit)"
        )
        leads, changes, handovers, hits = cur.fetchone()
    print(
        f"{leads:,} leads, {changes:,} stage changes, {handovers:,} handovers, {hits:,} rule "
        f"hits, {len(rules)} rules; load average {os.getloadavg()[0]:.2f}"
    )
    roll_up()
    keys = [r.key for r in rules]
    cases: dict[str, Callable[[], Any]] = {}
    for days in (180, 730):
        since = timezone.now() - timedelta(days=days)
        cases[f"rule precision, {days} d"] = partial(rule_precision, rules, days=days)
        cases[f"baseline: straight from the rule hits, {days} d"] = partial(straight, keys, since)
        assert counter.rule_outcomes(keys, since) == straight(keys, since)  # noqa: S101
    for days in (1, 7):  # marked days are counted from the handovers until the sweep runs
        marked = "last day" if days == 1 else f"last {days} days"
        cases[f"rule precision, 180 d, {marked} marked"] = behind(
            days, partial(rule_precision, rules, days=180)
        )
    cases["sweep: one marked day rewritten"] = sweep(1)
    cases["sweep: 30 marked days rewritten"] = sweep(30)
    assert not RulePrecisionMark.objects.exists()  # noqa: S101
    for label, params in (("exits, all time", {}), ("exits by rep, all time", {"exits_by": "rep"})):
        form = ReportFilterForm(params)
        assert form.is_valid(), form.errors  # noqa: S101
        cases[label] = partial(report_run, slug="exits", filters=form.filters())
    print("\n| case | median ms | every run (ms) |\n|---|---|---|")
    for label, fn in cases.items():
        samples = timed(fn, args.runs)
        runs = ", ".join(f"{s:,.0f}" for s in samples)
        print(f"| {label} | {statistics.median(samples):,.0f} | {runs} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
