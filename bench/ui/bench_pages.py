"""Server time and query count of the browser pages at scale (PostgreSQL).

Runs the real views in-process through Django's test client (no network, no browser): the
time is what the server spends on a request — middleware, session, queries, templates.
Each page is requested N times after a warm-up; p50/p95 in milliseconds, and the ratio of the
p95 to a baseline measured in the same run (``/healthz``: one SELECT 1 and one indexed read).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_ui
    python manage.py migrate && python manage.py seed_demo --leads 0
    python manage.py generate_data --leads 1000000 --activities-per-lead 3 --seed 42 \
        --anchor 2026-11-01T00:00:00+00:00 --chunk 50000
    python bench/ui/bench_pages.py --runs 30

The first run gives the generated leads deterministic scores/grades (the scoring engine is
not on this branch) and hands 300 leads over to MQL through the lifecycle service, so cards,
the inbox and lead pages carry SLA clocks and notifications.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from leadflow.models import User  # noqa: E402
from leads.models import Lead, Team  # noqa: E402


def prepare() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT max(score) FROM leads_lead")
        (top,) = cur.fetchone() or (0,)
        if not top:
            print("giving leads deterministic scores (one UPDATE)…", flush=True)
            cur.execute(
                "UPDATE leads_lead SET score = (id * 37) % 100, fit_score = ((id * 37) % 100) / 2,"
                " engagement_score = (id * 37) % 100 - ((id * 37) % 100) / 2,"
                " grade = substr('DCBA', least(4, (id * 37) % 100 / 25 + 1)::int, 1)"
            )
    with connection.cursor() as cur:
        # autovacuum does this on a live database; right after a bulk load the visibility map
        # is empty and index-only scans still visit the heap
        cur.execute("VACUUM ANALYZE leads_lead")
    team = Team.objects.get(name="Inside sales")
    reps = list(User.objects.filter(username__in=["rep1", "rep2"]))
    if not Lead.objects.filter(team=team).exists():
        Lead.objects.filter(owner__in=reps).update(team=team)
    from handover.models import Handover

    if Handover.objects.count() < 300:
        from handover.models import AssignmentMember, AssignmentRule
        from leads.services import lead_mark_mql

        rule, _ = AssignmentRule.objects.get_or_create(name="bench rr", defaults={"team": team})
        for rep in reps:
            AssignmentMember.objects.get_or_create(rule=rule, user=rep)
        print("handing 300 leads over to MQL through the lifecycle service…", flush=True)
        for lead_id in (
            Lead.objects.filter(stage="lead").order_by("id").values_list("id", flat=True)[:300]
        ):
            lead_mark_mql(lead_id=lead_id, actor=None, source="scoring")
        with connection.cursor() as cur:
            cur.execute("ANALYZE")


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float, int]:
    for _ in range(3):
        fn()
    times = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        queries = len(ctx.captured_queries)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, queries


def client_for(username: str) -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username=username))
    return client


def get(client: Client, url: str) -> Callable[[], object]:
    def run() -> object:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        return response

    return run


def page_cases(runs: int) -> list[tuple[str, Callable[[], object]]]:
    """Every measured page, by name (bench/cost_curve.py picks some of them); ``prepare()`` first."""
    leads = Lead.objects.count()
    marketer, rep, manager = client_for("marketer"), client_for("rep1"), client_for("manager")
    mql = Lead.objects.filter(stage="mql", handovers__isnull=False).order_by("id").first()
    if mql is None:
        raise SystemExit("no MQL with a handover: prepare() did not run")
    top = Lead.objects.filter(board_rank__stage="suspect").order_by(
        "-board_rank__score", "-board_rank__lead"
    )[500]
    cursor = f"{top.score}:{top.pk}"
    lead_ids = list(
        Lead.objects.order_by("id").values_list("id", flat=True)[:: max(1, leads // 40)]
    )
    rotating = iter(lead_ids * (runs + 10))
    email = str(Lead.objects.filter(email__isnull=False).order_by("id")[leads // 2].email)
    rep_id = User.objects.get(username="rep1").pk
    from leadflow.apikeys import api_key_create

    secret = api_key_create(name=f"bench-{time.time_ns()}", scopes=("leads:write",)).secret
    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {secret}")
    created = iter(range(10**9))
    run_token = time.time_ns()

    def post_lead(body: dict[str, str], expected: int) -> object:
        response = api.post("/api/v1/leads/", body, content_type="application/json")
        if response.status_code != expected:
            raise SystemExit(f"POST /api/v1/leads/ answered {response.status_code}")
        return response

    def create_lead() -> object:
        return post_lead({"email": f"bench.{run_token}.{next(created)}@new.example"}, 201)

    def upsert_lead() -> object:
        return post_lead({"email": email.upper(), "job_title": f"T{next(created)}"}, 200)

    def lead_page() -> object:
        lead_id = next(rotating)
        get(marketer, f"/leads/{lead_id}/")()
        return get(marketer, f"/handover/leads/{lead_id}/panel/")()

    return [
        ("baseline: /healthz", get(marketer, "/healthz")),
        ("board, marketer (8 columns × 25 cards)", get(marketer, "/leads/board/")),
        ("board counts, marketer (8 capped counts)", get(marketer, "/leads/board/counts/")),
        (
            "board, marketer, filtered (source + grade)",
            get(marketer, "/leads/board/?source=webinar&grade=A"),
        ),
        (
            "board, marketer, score range",
            get(marketer, "/leads/board/?score_min=40&score_max=60"),
        ),
        (
            "board column, next page (cursor past 500)",
            get(marketer, f"/leads/board/column/suspect/?after={cursor}"),
        ),
        (
            "board counts, filtered (source + grade)",
            get(marketer, "/leads/board/counts/?source=webinar&grade=A"),
        ),
        ("board, rep (own + team leads)", get(rep, "/leads/board/")),
        ("board counts, rep", get(rep, "/leads/board/counts/")),
        ("lead page + handover panel (40 leads rotating)", lead_page),
        (
            f"lead page, MQL with handover (#{mql.pk})",
            get(marketer, f"/leads/{mql.pk}/"),
        ),
        (f"handover panel of #{mql.pk}", get(marketer, f"/handover/leads/{mql.pk}/panel/")),
        ("list view, first page, newest first", get(marketer, "/leads/list/")),
        ("list view, MQLs by score", get(marketer, "/leads/list/?stage=mql&sort=-score")),
        ("SAL inbox, rep", get(rep, "/handover/inbox/")),
        ("SAL inbox, manager", get(manager, "/handover/inbox/")),
        (
            "open handovers, manager (API, all teams)",
            get(manager, "/api/v1/handovers/?status=open"),
        ),
        ("manager home", get(manager, "/reports/")),
        # search and filters (issue 22): the list and the API, as the marketer
        (f"search, exact e-mail ({email})", get(marketer, f"/leads/list/?q={email}")),
        ("search, 2 letters matching nothing (q=Zq)", get(marketer, "/leads/list/?q=Zq")),
        ("search, word matching nothing (q=Zqxw)", get(marketer, "/leads/list/?q=Zqxw")),
        ("search, board (q=Zqxw)", get(marketer, "/leads/board/?q=Zqxw")),
        ("search, rep's list (q=Zqxw)", get(rep, "/leads/list/?q=Zqxw")),
        ("API list, stage=mql&stage=sal", get(marketer, "/api/v1/leads/?stage=mql&stage=sal")),
        (f"API list, owner={rep_id}", get(marketer, f"/api/v1/leads/?owner={rep_id}")),
        ("API lead create (POST /api/v1/leads/, new e-mail)", create_lead),
        ("API lead upsert (POST /api/v1/leads/, known e-mail)", upsert_lead),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--only", action="append", default=[], help="pages whose name contains this (repeatable)"
    )
    args = parser.parse_args()
    prepare()
    leads = Lead.objects.count()
    pages = page_cases(args.runs)
    print(f"\n{leads:,} leads, {args.runs} runs per page, {connection.vendor}\n")
    print("| page | p50 ms | p95 ms | p95 / baseline | queries |")
    print("|---|---:|---:|---:|---:|")
    base = None
    if args.only:  # the baseline always runs: the ratios divide by it
        pages = pages[:1] + [p for p in pages[1:] if any(o in p[0] for o in args.only)]
    for name, fn in pages:
        p50, p95, queries = measure(fn, args.runs)
        base = base or p95
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p95 / base:.1f}× | {queries} |", flush=True)


if __name__ == "__main__":
    main()
