"""What search costs score writes (issue 22 regression, issue 17 item 4), measured in one run.

On a generated database (``generate_data``), 100,000 leads' scores are rewritten, rolled back:

1. ``UPDATE leads_lead SET score = score + 1 WHERE id BETWEEN …`` (the figure issue 22 recorded);
2. the scoring bench's reference UPDATE (bench/scoring/bench_scoring.py ``REFERENCE``: the
   set-based aggregate of the activities written back with one UPDATE), limited to the same
   100,000 leads;

each ``--rounds`` times **now** (search text in leads_leadsearchdocument, no GIN index on the
leads, triggers that a score UPDATE does not fire) and **before** (migration 0010's pg_trgm GIN
index ``lead_search_trgm_idx`` on leads_lead rebuilt, the search triggers disabled). The leads
table is vacuumed before every timed statement (autovacuum is off on this box). Run it under
``flock /work/bench.lock``; it prints the load average beside every figure.

    DATABASE_URL=postgres://…/lf_search_bench_1m flock /work/bench.lock \\
        .venv/bin/python bench/scoring/search_write_cost.py --rounds 3
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.scoring.bench_scoring import REFERENCE  # noqa: E402

OLD_INDEX = (  # exactly as migration 0010 built it
    "CREATE INDEX IF NOT EXISTS lead_search_trgm_idx ON leads_lead USING gin"
    " (upper((' ' || first_name || ' ' || last_name || ' ' || company || ' ' || domain)::text)"
    " gin_trgm_ops)"
)
TRIGGERS = ("lead_search_insert", "lead_search_update")
SCORE_PLUS_ONE = "UPDATE leads_lead SET score = score + 1 WHERE id BETWEEN %(lo)s AND %(hi)s"
REFERENCE_100K = REFERENCE.rstrip() + " AND l.id BETWEEN %(lo)s AND %(hi)s"


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def timed_rollback(sql: str, params: dict[str, Any]) -> tuple[float, int]:
    execute("VACUUM leads_lead")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        started = time.perf_counter()
        cursor.execute(sql, params)
        seconds = time.perf_counter() - started
        rows = int(cursor.rowcount)
        transaction.set_rollback(True)
    return seconds, rows


def before(on: bool) -> None:
    """Switch the leads table to the schema before this change (``on``) or back."""
    state = "DISABLE" if on else "ENABLE"
    for name in TRIGGERS:
        execute(f"ALTER TABLE leads_lead {state} TRIGGER {name}")
    if on:
        started = time.perf_counter()
        execute(OLD_INDEX)
        print(f"  (old GIN index built in {time.perf_counter() - started:.0f} s)", flush=True)
    else:
        execute("DROP INDEX IF EXISTS lead_search_trgm_idx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-id", type=int, default=200_001)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--before-first", action="store_true", help="measure the old schema first (cache order)"
    )
    args = parser.parse_args()
    params: dict[str, Any] = {
        "lo": args.first_id,
        "hi": args.first_id + args.leads - 1,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        total = cursor.fetchone()[0]
    print(f"{total:,} leads; rewriting ids {params['lo']:,}–{params['hi']:,}", flush=True)
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for variant in ("before", "now") if args.before_first else ("now", "before"):
            before(variant == "before")
            for name, sql in (("score + 1", SCORE_PLUS_ONE), ("reference", REFERENCE_100K)):
                for _ in range(args.rounds):
                    start_load = load()
                    seconds, rows = timed_rollback(sql, params)
                    results.setdefault((variant, name), []).append(seconds)
                    print(
                        f"{variant:6} {name:10} {rows:,} rows: {seconds:6.2f} s"
                        f"  (load {start_load} → {load()})",
                        flush=True,
                    )
    finally:
        before(False)
    for name in ("score + 1", "reference"):
        now = statistics.median(results[("now", name)])
        old = statistics.median(results[("before", name)])
        print(
            f"{name}: before {old:.2f} s, now {now:.2f} s (medians): before ÷ now {old / now:.2f}"
        )


if __name__ == "__main__":
    main()
