"""Account scoring at the issue's scale: 100,000 accounts, 1M leads, 10M activities (issue 18;
docs/benchmarks.md, "Accounts"). PostgreSQL, a generated database:

    createdb -h 127.0.0.1 -U postgres lf_bench_accounts_1m
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_accounts_1m
    python manage.py migrate && python manage.py generate_data --leads 1000000 \\
        --activities-per-lead 10 --seed 42 --anchor 2026-11-01T00:00:00+00:00 --chunk 50000 \\
        --companies 110000
    flock /work/bench.lock python bench/accounts/at_scale.py --rounds 3

(the default, one company per ten leads, gave 97,520 accounts; 110,000 companies give more
than 100,000.) Gunicorn serves the production settings, so the static files are collected first:
``DJANGO_DEBUG=0 DJANGO_SECRET_KEY=… python manage.py collectstatic --noinput``. The first run prepares, committed and untimed: a published model, every lead scored
once (so members carry real engagement), every account scored, a manager, an account with
5,000 current members (leads moved to it from their accounts, as ``member_link`` would) and a
scratch table for the reference. Then each round, alternating which goes first where two are
compared, each step in a transaction that is rolled back, the touched tables vacuumed before
each timed step (autovacuum is off on the bench box):

a. a full account rescore as a published model's rescore run does it once its leads are done
   (``accounts_rescore_all``: every account evaluated in wide batches and, the model being new,
   every score row written) against the reference: one hand-written aggregate over current memberships joined
   to their leads (engagement sum, engaged members, engaged roles) UPDATE-ing one scratch row per
   account — the least any implementation must do. Target: at most 2x.
b. 10,000 dirty accounts: one member's engagement raised in each of 10,000 random accounts and
   the accounts marked (untimed), then the sweep (timed). Target: under 1 s.
c. the account page of the 5,000-member account (``GET /companies/<id>/``, and its members'
   page 2) as a logged-in sales manager, served by gunicorn with production settings, driven
   open loop (``bench/openloop.py``: request k due at k / rate, latency from the due time).
   Target: p95 under 150 ms. The server is ``bench/api/ingest.py``'s (gunicorn on
   ``BENCH_PORT``, 8765 unless set; the runs in docs/benchmarks.md used 8611).
"""

import argparse
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
# the session the bench makes must verify in gunicorn: the same secret key on both sides
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 50)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.accounts.lead_scoring_cost import ANCHOR, Rollback, published  # noqa: E402
from bench.api.ingest import URL, start_server  # noqa: E402
from bench.openloop import run_open_loop, verdict  # noqa: E402
from companies import services as company_services  # noqa: E402
from companies.models import Account, AccountRescoreMark, BuyingRole, Membership  # noqa: E402
from leadflow.models import User  # noqa: E402
from leadflow.roles import Role  # noqa: E402
from leads.models import Lead  # noqa: E402
from scoring import engine, services  # noqa: E402
from scoring.models import AccountScore, ScoringModel  # noqa: E402

BIG = "Bench: 5,000 members"
MANAGER = "bench_accounts_manager"
REF = "bench_account_ref"
TOUCHED = ("companies_accountrescoremark", "scoring_accountscore", "leads_lead",
           "scoring_scoringmodel", "scoring_scoringrule", REF)  # fmt: skip


def vacuum() -> None:
    with connection.cursor() as cursor:
        for table in TOUCHED:
            cursor.execute(f"VACUUM ANALYZE {table}")


def say(text: str) -> None:
    print(text, flush=True)


# --- preparation (committed, once) -------------------------------------------------------------


def prepare(model: ScoringModel, members: int) -> Account:
    if not Lead.objects.filter(scored_at__isnull=False).exists():
        say("scoring every lead once (10,000 a batch)…")
        spec = engine.model_spec(model)
        bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
        for lo in range(bounds["lo"], bounds["hi"] + 1, 10_000):
            with transaction.atomic():
                engine.write_scores(
                    model=model, spec=spec, ids=engine.IdRange(lo, lo + 9_999), now=ANCHOR
                )
    manager, _ = User.objects.get_or_create(username=MANAGER)
    manager.groups.add(Group.objects.get(name=Role.SALES_MANAGER))
    big = Account.objects.filter(name=BIG).first()
    if big is None:
        say(f"moving {members:,} leads to one account…")
        big = company_services.account_create(data={"name": BIG}, actor=None)
        # evenly spaced among the linked leads: spread over the id range and the accounts
        linked = Membership.objects.filter(ended_at__isnull=True, account__isnull=False)
        step = max(1, linked.count() // members)
        ids = list(linked.order_by("lead_id").values_list("lead_id", flat=True)[::step][:members])
        roles = [role for role, _label in BuyingRole.choices]
        rng = random.Random(42)
        now = timezone.now()
        with transaction.atomic():
            left = list(
                Membership.objects.filter(lead_id__in=ids, ended_at__isnull=True).values_list(
                    "account_id", flat=True
                )
            )
            Membership.objects.filter(lead_id__in=ids, ended_at__isnull=True).update(ended_at=now)
            Membership.objects.bulk_create(
                Membership(
                    lead_id=lead_id,
                    account=big,
                    source=Membership.Source.EXPLICIT,
                    role=rng.choice(roles),
                    started_at=now,
                    reason="bench",
                )
                for lead_id in ids
            )
            company_services.accounts_mark([big.pk, *set(left)])
    if AccountRescoreMark.objects.exists() or not AccountScore.objects.exists():
        say("scoring every account once…")
        with transaction.atomic():
            services.accounts_rescore_all(model=model)
            AccountRescoreMark.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {REF} (account_id bigint PRIMARY KEY, total int, "
            "engaged int, roles int, round int)"
        )
        cursor.execute(
            f"INSERT INTO {REF} (account_id, total, engaged, roles, round) "
            "SELECT id, 0, 0, 0, 0 FROM companies_account ON CONFLICT DO NOTHING"
        )
    vacuum()
    return big


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction that is always rolled back: every round starts from the same rows."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def timed_sweep(mark: Callable[[], None]) -> tuple[float, int, int]:
    """``mark`` and the account sweep, timed: (seconds, accounts scored, rows written)."""
    started = time.perf_counter()
    mark()
    result = services.account_scores_sweep()
    return time.perf_counter() - started, result.scored, result.written


# --- a. full account rescore vs the reference -------------------------------------------------


def full_real(model: ScoringModel) -> tuple[float, int, int]:
    """Every account scored by a new model version, as its rescore run ends."""
    with rolled_back():
        new = services.model_new_version(model_id=model.pk)
        ScoringModel.objects.filter(pk=model.pk).update(status=ScoringModel.Status.ARCHIVED)
        ScoringModel.objects.filter(pk=new.pk).update(status=ScoringModel.Status.PUBLISHED)
        started = time.perf_counter()
        written = services.accounts_rescore_all(model=new)
        elapsed = time.perf_counter() - started
        return elapsed, Account.objects.count(), written  # rolled back on the way out


REFERENCE = f"""
    UPDATE {REF} r SET total = a.total, engaged = a.engaged, roles = a.roles, round = %(round)s
      FROM (SELECT m.account_id, sum(l.engagement_score) AS total,
                   count(*) FILTER (WHERE l.engagement_score >= %(engaged)s) AS engaged,
                   count(DISTINCT m.role) FILTER (WHERE l.engagement_score >= %(engaged)s
                                                  AND m.role <> 'unknown') AS roles
              FROM companies_membership m JOIN leads_lead l ON l.id = m.lead_id
             WHERE m.ended_at IS NULL GROUP BY m.account_id) a
     WHERE r.account_id = a.account_id
"""  # noqa: S608


def full_reference(model: ScoringModel, n: int) -> tuple[float, int]:
    with rolled_back(), connection.cursor() as cursor:
        engine._session_tuning(cursor)  # the same session settings as the sweep
        started = time.perf_counter()
        cursor.execute(REFERENCE, {"round": n, "engaged": model.account_engaged_min})
        rows = cursor.rowcount
        elapsed = time.perf_counter() - started
    return elapsed, rows


# --- b. 10,000 dirty accounts -------------------------------------------------------------------


def dirty(n: int, count: int) -> tuple[float, int, int]:
    accounts = list(Account.objects.values_list("pk", flat=True))
    chosen = random.Random(n).sample(accounts, count)
    with rolled_back():
        with connection.cursor() as cursor:
            # one member of each: its engagement up by 7 (what a new activity does)
            cursor.execute(
                "UPDATE leads_lead l SET engagement_score = l.engagement_score + 7, "
                "score = l.score + 7 FROM (SELECT DISTINCT ON (account_id) lead_id "
                "FROM companies_membership WHERE ended_at IS NULL "
                "AND account_id = ANY(%s::bigint[]) ORDER BY account_id, lead_id) m "
                "WHERE l.id = m.lead_id",
                [chosen],
            )
        company_services.accounts_mark(chosen)
        return timed_sweep(lambda: None)  # the marks are in: the sweep alone is timed


# --- c. the account page, open loop -------------------------------------------------------------


def page_phase(path: str, cookie: str, rate: float, seconds: float, senders: int) -> dict[str, Any]:
    local = threading.local()

    def send(_k: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.cookies.set("sessionid", cookie)
        response = local.session.get(URL + path, timeout=30, allow_redirects=False)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    run = run_open_loop(send, rate=rate, count=int(rate * seconds), senders=senders)
    return run.summary()


def page_rounds(big: Account, args: argparse.Namespace) -> None:
    client = Client()
    client.force_login(User.objects.get(username=MANAGER))
    cookie = client.cookies["sessionid"].value
    server = start_server(args)
    try:
        paths = [f"/companies/{big.pk}/", f"/companies/{big.pk}/?page=2"]
        check = requests.get(
            URL + paths[0], cookies={"sessionid": cookie}, timeout=30, allow_redirects=False
        )
        if check.status_code != 200 or "member-" not in check.text:
            raise SystemExit(f"account page answered {check.status_code} without members")
        for path in paths:  # warm-up: each worker's connection, templates, plans
            page_phase(path, cookie, 5, 2, 2)
        for n in range(1, args.rounds + 1):
            for path in paths if n % 2 else paths[::-1]:
                load = os.getloadavg()[0]
                s = page_phase(path, cookie, args.rate, args.seconds, args.senders)
                say(
                    f"  c round {n} GET {path} (load {load:.2f} -> {os.getloadavg()[0]:.2f}): "
                    f"{s['scheduled']} at {s['target_rate']}/s, achieved {s['achieved_rate']}/s, "
                    f"completed {s['completed_share']:.2%}, errors {s['errors']}, "
                    f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms, "
                    f"max send lag {s['max_send_lag_ms']} ms; "
                    f"{verdict(s['p95_ms'], 150, s['completed_share'])} (p95 < 150 ms)"
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dirty", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=10.0, help="page requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="per page phase")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip", default="", help="steps to leave out, e.g. 'c' or 'ab'")
    args = parser.parse_args()
    model = published()
    big = prepare(model, args.members)
    say(
        f"{Lead.objects.count():,} leads, {Account.objects.count():,} accounts, "
        f"{Membership.objects.filter(ended_at__isnull=True).count():,} current members; "
        f"account #{big.pk} has "
        f"{Membership.objects.filter(account=big, ended_at__isnull=True).count():,} members"
    )
    for n in range(1, args.rounds + 1):
        if "a" not in args.skip:
            out: dict[str, tuple[Any, ...]] = {}
            load = os.getloadavg()[0]
            for step in ("real", "ref") if n % 2 else ("ref", "real"):
                vacuum()
                out[step] = full_real(model) if step == "real" else full_reference(model, n)
            (real, scored, written), (ref, rows) = out["real"], out["ref"]
            say(
                f"a round {n} (load {load:.2f} -> {os.getloadavg()[0]:.2f}): full account "
                f"rescore {real:.2f} s ({scored:,} scored, {written:,} written), reference "
                f"{ref:.2f} s ({rows:,} rows): {real / ref:.2f}x (target <= 2x)"
            )
        if "b" not in args.skip:
            vacuum()
            load = os.getloadavg()[0]
            seconds, scored, written = dirty(n, args.dirty)
            say(
                f"b round {n} (load {load:.2f} -> {os.getloadavg()[0]:.2f}): {args.dirty:,} "
                f"dirty accounts swept in {seconds:.3f} s ({scored:,} scored, {written:,} "
                f"written; target < 1 s)"
            )
    if "c" not in args.skip:
        page_rounds(big, args)
    connection.close()


if __name__ == "__main__":
    main()
