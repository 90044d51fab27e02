"""Search at scale (PostgreSQL): the search query and the results page, against a plain scan.

For each typical query (a company word, a surname, a person, an e-mail prefix, a typo, nothing)
it times, ``--runs`` times after a warm-up, in one run:

- **query**: the ranked search SQL the results page sends (``leads.selectors.lead_search``),
  for a marketer (sees every lead);
- **page**: ``GET /leads/search/?q=…`` through Django's test client (in-process: middleware,
  session, queries, template), for the marketer;
- **ILIKE scan**: ``SELECT … FROM leads_lead WHERE first_name || … ILIKE '%word%' … LIMIT 51``,
  the plain substring scan over the lead columns that search would be without its indexes.

p50/p95 in ms (nearest rank, bench/openloop.py) and scan p50 ÷ page p50. Run it under
``flock /work/bench.lock`` and report the load average it prints.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_search_bench_1m
    python manage.py migrate && python manage.py generate_data --leads 1000000 \\
        --activities-per-lead 1 --seed 42 --anchor 2026-11-01T00:00:00+00:00 --chunk 50000
    flock /work/bench.lock python bench/ui/search.py --runs 20
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.openloop import percentile  # noqa: E402
from leadflow.models import User  # noqa: E402
from leadflow.roles import Role  # noqa: E402
from leads import selectors  # noqa: E402
from leads.models import Lead  # noqa: E402
from leads.search import SearchTerms, parse_search  # noqa: E402

SCAN = (
    "SELECT id FROM leads_lead WHERE erased_at IS NULL AND ("
    + " OR ".join(
        f"{c} ILIKE %(like)s"
        for c in ("first_name", "last_name", "email", "company", "domain", "job_title")
    )
    + ") ORDER BY id DESC LIMIT 51"
)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return percentile(times, 0.5), percentile(times, 0.95)


def marketer() -> User:
    user, _ = User.objects.get_or_create(username="bench-search-marketer")
    from django.contrib.auth.models import Group

    from leadflow.roles import sync_roles

    sync_roles()
    user.groups.add(Group.objects.get(name=Role.MARKETER.value))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def queries() -> list[tuple[str, str]]:
    sample = Lead.objects.filter(pk=Lead.objects.order_by("id").values("id")[500:501]).get()
    if not sample.email:
        raise SystemExit("the sample lead has no e-mail: generate the data with generate_data")
    return [
        ("company word", sample.company.split()[-1].lower()),
        ("surname", sample.last_name),
        ("person", f"{sample.first_name} {sample.last_name} {sample.company.split()[0]}"),
        ("e-mail prefix", sample.email.split("@")[0][:-2]),
        ("typo", "logistcs"),
        ("person, typo", f"{sample.first_name} {sample.last_name[:-1]}x"),
        ("no match", "zqxwv"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    user = marketer()
    client = Client()
    client.force_login(user)
    total = Lead.objects.count()
    print(f"{total:,} leads, {args.runs} runs each, load at start {load()}", flush=True)
    header = "| query | q | query p50 / p95 ms | page p50 / p95 ms | ILIKE scan p50 / p95 ms |"
    print(header + " scan ÷ page (p50) | ranked | load |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for label, q in queries():
        terms = parse_search(q)
        start_load = load()
        found = selectors.lead_search(user=user, terms=terms)

        def query(terms: SearchTerms = terms) -> None:
            selectors.lead_search(user=user, terms=terms)

        q50, q95 = measure(query, args.runs)

        def page(q: str = q) -> None:
            response = client.get("/leads/search/", {"q": q})
            if response.status_code != 200:
                raise SystemExit(f"/leads/search/?q={q}: HTTP {response.status_code}")

        p50, p95 = measure(page, args.runs)
        word = max(terms.words, key=len)

        def scan(word: str = word) -> None:
            with connection.cursor() as cursor:
                cursor.execute(SCAN, {"like": f"%{word}%"})
                cursor.fetchall()

        s50, s95 = measure(scan, max(3, args.runs // 4))
        print(
            f"| {label} | `{q}` | {q50:.0f} / {q95:.0f} | {p50:.0f} / {p95:.0f} |"
            f" {s50:.0f} / {s95:.0f} | {s50 / p50:.1f}× | {'yes' if found.ranked else 'newest'}"
            f" ({len(found.leads)}{'+' if found.more else ''}) | {start_load} → {load()} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
