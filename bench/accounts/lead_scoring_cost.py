"""What accounts add to lead scoring, and what an account sweep costs (docs/benchmarks.md,
"Accounts"). PostgreSQL, a generated database (generate_data makes the accounts):

    createdb -h 127.0.0.1 -U postgres lf_bench_accounts
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_accounts
    python manage.py migrate && python manage.py generate_data --leads 100000 \\
        --activities-per-lead 10 --seed 42 --anchor 2026-11-01T00:00:00+00:00 --chunk 50000
    python bench/accounts/lead_scoring_cost.py --rounds 3

Each round, alternating which goes first, like for like in the same run:
1. a full lead rescore as a rescore run does it, batch by batch (every score written: each pass
   is a day later, so decay changes every row; the lead batches mark no account), with the
   run's last step — every account scored once (``accounts_rescore_all``) — and without it;
2. an incremental sweep of 10,000 leads after one new activity each, with and without marks;
3. the account sweep of the accounts a marking lead pass marked (the incremental sweep's way).
Rolled back after each step, so every round starts from the same rows; the touched tables are
vacuumed before each timed step (autovacuum is off on the bench box: the rolled-back rows would
otherwise slow each later step).
"""

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from companies.models import Account, Membership  # noqa: E402
from leads.models import Activity, ActivityKind, Lead  # noqa: E402
from leads.services import leads_mark_for_rescore  # noqa: E402
from scoring import engine, services  # noqa: E402
from scoring.management.commands.seed_scoring_demo import MODEL, RULES  # noqa: E402
from scoring.models import ScoringModel  # noqa: E402

ANCHOR = datetime.fromisoformat("2026-11-01T00:00:00+00:00")


class Rollback(Exception):
    pass


def published() -> ScoringModel:
    model = services.published_model()
    if model is None:
        model = services.model_create(
            data={**MODEL, "mql_threshold": 10**6, "lead_fit_threshold": 10**6}
        )
        for rule in RULES:
            services.rule_create(model_id=model.pk, data=rule)
        ScoringModel.objects.filter(pk=model.pk).update(status=ScoringModel.Status.PUBLISHED)
        model.refresh_from_db()
    return model


VACUUMED = ("leads_lead", "leads_leadrank", "scoring_leadscore", "leads_rescoremark",
            "leads_activity", "companies_accountrescoremark", "scoring_accountscore")  # fmt: skip


def vacuum() -> None:
    with connection.cursor() as cursor:
        for table in VACUUMED:
            cursor.execute(f"VACUUM ANALYZE {table}")


def full_pass(model: ScoringModel, day: int, accounts: bool, batch: int) -> float:
    """A full lead rescore as a rescore run does it (lead batches mark no account) and, with
    ``accounts``, the run's last step: every account scored (``accounts_rescore_all``)."""
    spec = engine.model_spec(model)
    bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    now = ANCHOR + timedelta(days=day)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for lo in range(bounds["lo"], bounds["hi"] + 1, batch):
                ids = engine.IdRange(lo, lo + batch - 1)
                engine.write_scores(model=model, spec=spec, ids=ids, now=now, mark_accounts=False)
            if accounts:
                services.accounts_rescore_all(model=model)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed


def incremental(marks: bool, n: int) -> float:
    real = engine.write_scores
    if not marks:
        engine.write_scores = partial(real, mark_accounts=False)
    try:
        with transaction.atomic():
            ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:n])
            now = ANCHOR + timedelta(days=40)
            Activity.objects.bulk_create(
                Activity(lead_id=i, kind=ActivityKind.WEBINAR, occurred_at=now, source="bench")
                for i in ids
            )
            leads_mark_for_rescore(ids)
            started = time.perf_counter()
            services.score_dirty_sweep()
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    finally:
        engine.write_scores = real
    return elapsed


def account_sweep(model: ScoringModel, batch: int) -> tuple[float, int]:
    """The account sweep after a lead pass that marks accounts (the incremental sweep's way)."""
    spec = engine.model_spec(model)
    bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    try:
        with transaction.atomic():
            for lo in range(bounds["lo"], bounds["hi"] + 1, batch):
                ids = engine.IdRange(lo, lo + batch - 1)
                engine.write_scores(model=model, spec=spec, ids=ids, now=ANCHOR + timedelta(50))
            started = time.perf_counter()
            result = services.account_scores_sweep()
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return elapsed, result.scored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--incremental", type=int, default=10_000)
    args = parser.parse_args()
    model = published()
    print(
        f"{Lead.objects.count():,} leads, {Account.objects.count():,} accounts, "
        f"{Membership.objects.filter(ended_at__isnull=True).count():,} current members, "
        f"{Activity.objects.count():,} activities"
    )
    for n in range(1, args.rounds + 1):
        order = (True, False) if n % 2 else (False, True)
        load = os.getloadavg()[0]
        full, inc = {}, {}
        for m in order:
            vacuum()
            full[m] = full_pass(model, n, m, args.batch)
        for m in order:
            vacuum()
            inc[m] = incremental(m, args.incremental)
        vacuum()
        sweep, scored = account_sweep(model, args.batch)
        print(
            f"round {n} (load {load:.2f} -> {os.getloadavg()[0]:.2f}): full rescore "
            f"{full[True]:.2f} s with every account scored at the end, {full[False]:.2f} s "
            "without "
            f"({full[True] / full[False]:.3f}x); incremental {args.incremental:,} "
            f"{inc[True]:.2f} s / {inc[False]:.2f} s ({inc[True] / inc[False]:.3f}x); "
            f"account sweep {scored:,} accounts {sweep:.2f} s"
        )
    connection.close()


if __name__ == "__main__":
    main()
