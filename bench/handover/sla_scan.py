"""SLA scanner benchmark: one scan pass over 100,000 open timers of which 1,000 are due.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadflow_bench_handover \
        .venv/bin/python bench/handover/sla_scan.py [--open 100000] [--due 1000] [--runs 5]

Loads the timers (deterministic: seed 42, on the first N leads) with COPY, then times
``handover.sla.sla_scan`` — claim with FOR UPDATE SKIP LOCKED, fire breach + remind, write
events, in-app notifications, e-mail and webhook outbox rows — inside a transaction that is rolled
back, so every run sees the same state. Baseline, same run: the bare claim query alone.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from handover.models import SlaPolicy, SlaTimer, WebhookSubscription  # noqa: E402
from handover.sla import sla_scan  # noqa: E402
from leadflow.bulk import copy_rows  # noqa: E402
from leads.models import Lead  # noqa: E402

COLUMNS = [
    "lead_id",
    "policy_id",
    "stage",
    "owner_id",
    "state",
    "started_at",
    "due_at",
    "next_action_at",
    "escalation_level",
]


class Rollback(Exception):
    pass


def load(open_count: int, due_count: int, now: datetime) -> None:
    rng = random.Random(42)
    policy = SlaPolicy.objects.get(stage="mql", active=True)
    policy.escalation = [
        {"after_minutes": 0, "action": "remind_owner"},
        {"after_minutes": 600, "action": "notify_manager"},
    ]
    policy.save()
    WebhookSubscription.objects.get_or_create(
        url="https://hooks.example.com/bench", defaults={"event_types": ["sla.breached"]}
    )
    leads = list(Lead.objects.order_by("id").values_list("id", "owner_id")[:open_count])
    rows = []
    for n, (lead_id, owner_id) in enumerate(leads):
        if n < due_count:
            due = now - timedelta(minutes=rng.randint(1, 30))
        else:
            due = now + timedelta(minutes=rng.randint(60, 60 * 24 * 30))
        started = due - timedelta(hours=8)
        rows.append((lead_id, policy.pk, "mql", owner_id, "running", started, due, due, 0))
    with transaction.atomic():
        SlaTimer.objects.all().delete()
        copy_rows(SlaTimer, COLUMNS, rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE handover_slatimer")


def baseline(now: datetime) -> float:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM handover_slatimer WHERE state = 'running' AND next_action_at <= %s "
            "ORDER BY next_action_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
            [now],
        )
        cursor.fetchall()
    return time.perf_counter() - started


def scan_once(now: datetime) -> tuple[float, int]:
    started = time.perf_counter()
    claimed, elapsed = 0, 0.0
    try:
        with transaction.atomic():
            claimed = sla_scan(now=now).claimed
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed, claimed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = timezone.now()
    t0 = time.perf_counter()
    load(args.open, args.due, now)
    total = SlaTimer.objects.count()
    print(f"loaded {total} open timers ({args.due} due) in {time.perf_counter() - t0:.1f}s")
    base = [baseline(now) for _ in range(args.runs)]
    scans = [scan_once(now) for _ in range(args.runs)]
    assert all(claimed == args.due for _, claimed in scans), scans  # noqa: S101
    b = statistics.median(base)
    s = statistics.median(t for t, _ in scans)
    runs = ", ".join(f"{t * 1000:.0f}" for t, _ in scans)
    print(f"baseline claim query (1k of {total}): median {b * 1000:.1f} ms")
    print(
        f"sla_scan pass ({args.due} due -> breach + remind + outbox rows): median {s * 1000:.0f} ms"
        f" (runs: {runs} ms); {s / b:.0f}x the bare claim query"
    )


if __name__ == "__main__":
    main()
