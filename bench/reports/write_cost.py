"""What keeping MetricDay costs a stage change: the rollup refresh of one lead, with and without
the MetricDay delta, on the reports bench database (every write is rolled back).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_reports \\
        flock /work/bench.lock .venv/bin/python bench/reports/write_cost.py [--leads 2000]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from reports import histograms, services  # noqa: E402
from reports.models import LeadMilestone  # noqa: E402


def per_lead_ms(lead_ids: list[int]) -> float:
    samples = []
    with transaction.atomic():
        for lead_id in lead_ids:
            started = time.perf_counter()
            with transaction.atomic():  # a savepoint, as a stage change's transaction would be
                services.milestones_refresh(lead_ids=[lead_id])
            samples.append((time.perf_counter() - started) * 1000)
        transaction.set_rollback(True)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=2000)
    args = parser.parse_args()
    ids = list(
        LeadMilestone.objects.filter(recycles__gt=0)
        .order_by("lead_id")
        .values_list("lead_id", flat=True)[: args.leads * 2]
    )
    apply, contributions = services.metric_days_apply, histograms.contributions
    for rnd in range(2):  # alternate, so drift in the box's load hits both alike
        with_cells = per_lead_ms(ids[: args.leads])
        # without: no old-row read, no cells, no upsert (the rollup row alone, as before)
        services.metric_days_apply = lambda delta: None
        histograms.contributions = lambda rows, sign=1: {}
        without = per_lead_ms(ids[args.leads :])
        services.metric_days_apply, histograms.contributions = apply, contributions
        print(
            f"round {rnd + 1}: refresh of one lead, median of {args.leads}: "
            f"{with_cells:.2f} ms with the MetricDay delta, {without:.2f} ms without"
        )


if __name__ == "__main__":
    main()
