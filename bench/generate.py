"""How much of generate_data's time is making rows in Python vs loading them with COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch db> python bench/generate.py 100000

Runs three timings in one process on a migrated scratch database: (1) generating the rows
only, (2) generate_data end to end, (3) COPY of the same rows from prebuilt tuples (the floor).
"""

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from leadflow.bulk import copy_rows  # noqa: E402
from leads.demo_data import generate  # noqa: E402
from leads.management.commands.generate_data import ACTIVITY_COLUMNS  # noqa: E402
from leads.models import Activity  # noqa: E402

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)


def main(n: int) -> None:
    assert connection.vendor == "postgresql", "run against PostgreSQL"  # noqa: S101
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    leads = list(generate(seed=1, count=n, activities_per_lead=10, anchor=ANCHOR, owners=[]))
    gen = time.perf_counter() - started
    activities = sum(len(g.activities) for g in leads)
    rows = n + activities + sum(len(g.history) for g in leads)

    started = time.perf_counter()
    call_command(
        "generate_data", leads=n, seed=2, anchor=ANCHOR.isoformat(), chunk=50000, verbosity=0
    )
    full = time.perf_counter() - started

    first_lead = connection.cursor()
    first_lead.execute("SELECT min(id) FROM leads_lead")
    lead_id = first_lead.fetchone()[0]
    prebuilt = [
        (lead_id, kind, name, at, at, "{}", "bench", None)
        for g in leads
        for kind, name, at, _ in g.activities
    ]
    started = time.perf_counter()
    with transaction.atomic():
        copy_rows(
            Activity,
            ACTIVITY_COLUMNS,
            prebuilt,
        )
        transaction.set_rollback(True)
    floor = time.perf_counter() - started

    print(f"leads {n:,}  rows {rows:,}  activities {activities:,}")
    print(f"generate rows only (Python)        {gen:7.1f} s  {rows / gen:>9,.0f} rows/s")
    print(f"generate_data end to end           {full:7.1f} s  {rows / full:>9,.0f} rows/s")
    print(f"COPY of prebuilt activity tuples   {floor:7.1f} s  {activities / floor:>9,.0f} rows/s")
    print(f"end-to-end / generation-only       {full / gen:7.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
