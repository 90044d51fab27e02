"""Reports benchmark: every report on the generated data set, with and without filters.

    createdb -h 127.0.0.1 -U postgres lf_bench_reports
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_reports
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py generate_data --leads 1085000 --activities-per-lead 0 --seed 7 \
        --anchor 2026-11-01T00:00:00+00:00 --chunk 50000 --reopen 0.95   # ≈ 5.0M stage changes
    .venv/bin/python manage.py reports_rebuild                  # the rollups (COPY bypassed them)
    psql -h 127.0.0.1 -U postgres lf_bench_reports -c "VACUUM ANALYZE"
    .venv/bin/python bench/reports/reports_bench.py [--runs 5]

``--runs`` timed runs per case after one warm-up; the median is reported. The SLA and rejection
reports need handover rows, which the generator does not write: the first run derives them from
the stage log with INSERT … SELECT (one timer per MQL entry, one rejected handover per MQL exit
to Nurture/Disqualified) and ANALYZEs. Only a lead's last MQL entry may leave its timer running
(one running timer per lead and stage): an earlier one that would is met instead. Baseline, same run: the funnel computed straight from
the StageChange log (per-lead furthest stage, GROUP BY lead) instead of the rollup.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from handover.models import BusinessCalendarConfig, SlaPolicy, SlaTimer  # noqa: E402
from reports import selectors  # noqa: E402
from reports.filters import ReportFilterForm  # noqa: E402
from reports.selectors import REPORTS, report_run  # noqa: E402

CASES: dict[str, dict[str, str]] = {
    "all time": {},
    "one quarter": {"date_from": "2026-05-01", "date_to": "2026-07-31"},
    "quarter + source": {
        "date_from": "2026-05-01",
        "date_to": "2026-07-31",
        "source": "paid_search",
    },
    # filters MetricDay does not carry: cohort/velocity/recycles read the per-lead rollup
    "quarter + industry": {
        "date_from": "2026-05-01",
        "date_to": "2026-07-31",
        "industry": "Retail",
    },
    "all time + industry": {"industry": "Retail"},
    # the source as it is now (issue 20): MetricDay holds the source then, so the rollup answers
    "quarter + source now": {
        "date_from": "2026-05-01",
        "date_to": "2026-07-31",
        "source": "paid_search",
        "view": "now",
    },
}
EXTRA: dict[str, dict[str, str]] = {
    "cohort": {"cohort_by": "month_source"},
    "point-in-time": {"on": "2026-06-30"},
}


def seed_handover() -> None:
    if SlaTimer.objects.exists():
        return
    cal, _ = BusinessCalendarConfig.objects.get_or_create(name="bench")
    policy, _ = SlaPolicy.objects.get_or_create(
        name="bench MQL 4h",
        defaults={"stage": "mql", "calendar": cal, "target_minutes": 240, "active": False},
    )
    with connection.cursor() as cur:
        # one timer per MQL entry: 70 % met in 0-8 h (some late), 20 % breached, 10 % running
        # (only a lead's last MQL entry may still run: one running timer per lead and stage)
        cur.execute(
            """
            INSERT INTO handover_slatimer (lead_id, policy_id, stage, owner_id, state, started_at,
                due_at, stopped_at, breached_at, escalation_level)
            SELECT c.lead_id, %s, 'mql', c.owner_id,
                   CASE WHEN c.k < 7 THEN 'met' WHEN c.k < 9 THEN 'superseded'
                        ELSE 'running' END,
                   c.changed_at, c.changed_at + interval '4 hours',
                   CASE WHEN c.k < 9 THEN c.changed_at + (c.id %% 480) * interval '1 minute' END,
                   CASE WHEN c.k BETWEEN 7 AND 8 THEN c.changed_at + interval '4 hours' END,
                   0
            FROM (SELECT c.id, c.lead_id, c.changed_at, l.owner_id,
                         CASE WHEN c.id %% 10 = 9 AND EXISTS (
                                  SELECT 1 FROM leads_stagechange later
                                  WHERE later.lead_id = c.lead_id AND later.to_stage = 'mql'
                                    AND later.changed_at > c.changed_at)
                              THEN 0 ELSE c.id %% 10 END AS k
                  FROM leads_stagechange c JOIN leads_lead l ON l.id = c.lead_id
                  WHERE c.to_stage = 'mql') c
            """,
            [policy.pk],
        )
        cur.execute(
            """
            INSERT INTO handover_handover (lead_id, owner_id, status, opened_at, decided_at,
                decided_by_id, reason_code, comment, lead_source)
            SELECT c.lead_id, l.owner_id, 'rejected', c.changed_at, c.changed_at, l.owner_id,
                   CASE c.to_stage WHEN 'nurture' THEN 'not-ready' ELSE 'no-budget' END, '',
                   l.source
            FROM leads_stagechange c JOIN leads_lead l ON l.id = c.lead_id
            WHERE c.from_stage = 'mql' AND c.to_stage IN ('nurture', 'disqualified')
            """
        )
        cur.execute("ANALYZE handover_slatimer")
        cur.execute("ANALYZE handover_handover")


def baseline_funnel(params: dict[str, str]) -> Callable[[], Any]:
    """The funnel straight from the log: furthest funnel rank per lead, then counts."""
    where, args = "", []
    if "date_from" in params:
        where = "HAVING min(changed_at) >= %s AND min(changed_at) < %s::date + 1"
        args = [params["date_from"], params["date_to"]]
    sql = f"""
        SELECT count(*) FILTER (WHERE r >= 0), count(*) FILTER (WHERE r >= 1),
               count(*) FILTER (WHERE r >= 2), count(*) FILTER (WHERE r >= 3),
               count(*) FILTER (WHERE r >= 4), count(*) FILTER (WHERE r >= 5)
        FROM (SELECT lead_id, max(CASE to_stage WHEN 'suspect' THEN 0 WHEN 'lead' THEN 1
                     WHEN 'mql' THEN 2 WHEN 'sal' THEN 3 WHEN 'sql' THEN 4
                     WHEN 'customer' THEN 5 END) AS r
              FROM leads_stagechange GROUP BY lead_id {where}) per_lead
    """  # noqa: S608  (no user input)

    def run() -> Any:
        with connection.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    return run


def timed(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def report_case(slug: str, params: dict[str, str]) -> Callable[[], Any]:
    form = ReportFilterForm({**params, **EXTRA.get(slug, {})})
    assert form.is_valid(), form.errors  # noqa: S101
    filters = form.filters()
    return lambda: report_run(slug=slug, filters=filters)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--pg-defaults",
        action="store_true",
        help="skip the reports' SET LOCAL work_mem/jit (to measure what they buy)",
    )
    args = parser.parse_args()
    if args.pg_defaults:
        setattr(selectors, "PG_SESSION", ())  # noqa: B010
    seed_handover()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM leads_lead), (SELECT count(*) FROM leads_stagechange),"
            " (SELECT count(*) FROM handover_slatimer), (SELECT count(*) FROM handover_handover),"
            " current_setting('jit'), current_setting('random_page_cost')"
        )
        leads, changes, timers, handovers, jit, rpc = cur.fetchone()
    print(
        f"{leads:,} leads, {changes:,} stage changes, {timers:,} SLA timers, "
        f"{handovers:,} handovers; jit={jit} random_page_cost={rpc}; {timezone.localdate()}"
    )
    base = {
        name: timed(baseline_funnel(p), args.runs)
        for name, p in CASES.items()
        if not p.get("source") and not p.get("industry")
    }
    print(
        "\nbaseline (funnel from the log, no rollup): "
        + ", ".join(f"{n} {ms:,.0f} ms" for n, ms in base.items())
    )
    print(f"\n| report | {' | '.join(CASES)} |\n|---|{'---|' * len(CASES)}")
    worst = 0.0
    for slug in REPORTS:
        cells = []
        for params in CASES.values():
            ms = timed(report_case(slug, params), args.runs)
            worst = max(worst, ms)
            cells.append(f"{ms:,.0f} ms")
        print(f"| {slug} | {' | '.join(cells)} |")
    print(
        f"\nslowest report case: {worst:,.0f} ms; "
        f"rollup funnel vs log funnel (all time): "
        f"{base['all time'] / timed(report_case('funnel', {}), args.runs):.1f}x faster"
    )


if __name__ == "__main__":
    main()
