"""Where a full rescore's first pass spends its time (issue 22, item 3; docs/benchmarks.md).

Publishes a fresh version of the demo model (thresholds out of reach, as bench_scoring.py does),
then either

- runs the whole first pass and sums the time of each kind of statement over its batches (the
  rest of the wall time is commits: deferred foreign-key checks and the WAL flush), or
- with ``--explain LO``: ``EXPLAIN (ANALYZE, BUFFERS)`` of one batch's write statement for the
  ids LO..LO+9,999, foreign-key checks made immediate so they are timed in the plan; rolled back.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_rank \\
        flock /work/bench.lock .venv/bin/python bench/scoring/first_pass_profile.py [--explain 40001]
"""

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.scoring import bench_scoring  # noqa: E402
from scoring import engine, services  # noqa: E402
from scoring.models import ScoringRun  # noqa: E402

WRITE = "WITH ev AS"  # engine._write_sql's statement


def by_statement(batch: int) -> None:
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = "write_scores" if sql.startswith(WRITE) else " ".join(sql.split()[:6])[:90]
            spent[key][0] += 1
            spent[key][1] += time.perf_counter() - started

    model = bench_scoring.fresh_model(timezone.now())
    run = ScoringRun.objects.create(model=model, kind="rescore", reason="bench")
    bench_scoring.settle()
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        run = services.run_execute(run_id=run.pk, batch_size=batch)
    total = time.perf_counter() - started
    print(f"first pass: {total:.2f} s, {run.done:,} leads, {run.written:,} lead rows written")
    for key, (n, seconds) in sorted(spent.items(), key=lambda kv: -kv[1][1])[:10]:
        print(f"{seconds:8.3f} s {int(n):5d}x  {key}")
    print(f"{total - sum(s for _, s in spent.values()):8.3f} s        outside statements (commits)")


def explain(lo: int) -> None:
    model = bench_scoring.fresh_model(timezone.now())
    spec = engine.model_spec(model)

    def analysed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.startswith(WRITE):
            return execute(sql, params, many, context)
        result = execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params, many, context)
        for (line,) in context["cursor"].fetchall():
            print(line)
        return result

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with connection.execute_wrapper(analysed):
            ids = engine.IdRange(lo, lo + 9_999)
            engine.write_scores(model=model, spec=spec, ids=ids, now=timezone.now())
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--explain", type=int, metavar="LO", help="one batch's plan from id LO")
    args = parser.parse_args()
    if args.explain is not None:
        explain(args.explain)
    else:
        by_statement(args.batch)


if __name__ == "__main__":
    main()
