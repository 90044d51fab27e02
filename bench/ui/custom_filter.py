"""Board filters on custom fields at scale (PostgreSQL), beside built-in filters in the same run.

Gives the leads values of two filterable custom fields (once: one UPDATE), then times the
board page (``GET /leads/board/?…`` through Django's test client: middleware, session, the
eight column queries, templates) for a marketer, unfiltered and with:

- built-in filters: an owner of 0.1 % of leads (``lead_owner_stage_time_idx``) and a country
  (no index);
- ``cf_erp=<value>``: a single choice held by 20 % of leads, and one held by 0.1 %
  (the field's expression index ``lead_cf_erp_idx``);
- ``cf_locations__min``: an integer range (``lead_cf_locations_idx``);
- ``cf_partner=yes``: a yes/no field without its own index (the GIN index on ``custom``).

Alternating rounds: every page once per round, ``--rounds`` rounds after a warm-up; p50/p95 in
ms (nearest rank) and each p95 ÷ the owner filter's p95. Run it under ``flock /work/bench.lock``
and report the load average it prints.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_cf_bench_1m
    python manage.py migrate && python manage.py generate_data --leads 1000000 \\
        --activities-per-lead 1 --seed 42 --anchor 2026-11-01T00:00:00+00:00 --chunk 50000
    flock /work/bench.lock python bench/ui/custom_filter.py --rounds 30
"""

import argparse
import gc
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

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.openloop import percentile  # noqa: E402
from leadflow.models import User  # noqa: E402
from leadflow.roles import Role, sync_roles  # noqa: E402
from leads import customfield_services  # noqa: E402
from leads.models import CustomField, Lead  # noqa: E402

MIN_LEADS = 100_000
ERP = ["sap", "oracle", "dynamics", "odoo", "none"]


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def prepare() -> None:
    """A value for 90 % of leads, then the fields (filterable: each index is built after
    commit, concurrently, over the values already there), once."""
    if CustomField.objects.filter(key="erp").exists():
        return
    print("defining the fields and giving the leads values (one UPDATE)…", flush=True)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE leads_lead SET custom = jsonb_build_object("
            "'erp', CASE WHEN id %% 1000 = 7 THEN 'navision' ELSE (%s::text[])[id %% 5 + 1] END,"
            "'locations', id %% 200, 'partner', id %% 3 = 0) WHERE id %% 10 <> 0",
            [ERP],
        )
    choices = [*ERP, "navision"]
    for data in (
        {"key": "erp", "label": "ERP", "type": "choice", "choices": choices, "filterable": True},
        {"key": "locations", "label": "Locations", "type": "integer", "filterable": True},
        {"key": "partner", "label": "Partner", "type": "boolean"},
    ):
        customfield_services.field_create(data=data, actor=None)  # index made after commit
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE leads_lead")


def marketer() -> User:
    sync_roles()
    user, _ = User.objects.get_or_create(username="bench-cf-marketer")
    user.groups.add(Group.objects.get(name=Role.MARKETER.value))
    return user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    total = Lead.objects.count()
    if total < MIN_LEADS:
        sys.exit(
            f"Only {total} leads here; generate at least {MIN_LEADS} first (see the docstring)."
        )
    prepare()
    client = Client()
    user = marketer()
    if not Lead.objects.filter(owner=user).exists():
        # the built-in baseline: an owner filter matching as many leads as cf_erp=navision
        with connection.cursor() as cur:
            cur.execute("UPDATE leads_lead SET owner_id = %s WHERE id %% 1000 = 3", [user.pk])
        with connection.cursor() as cur:
            cur.execute("ANALYZE leads_lead")
    client.force_login(user)
    owner = user.pk
    pages: dict[str, str] = {
        "board, no filter": "/leads/board/",
        "board, owner (built-in, indexed, 0.1 %)": f"/leads/board/?owner={owner}",
        "board, country (built-in, no index)": "/leads/board/?country=DE",
        "board, cf_erp=sap (20 % of leads)": "/leads/board/?cf_erp=sap",
        "board, cf_erp=navision (0.1 %)": "/leads/board/?cf_erp=navision",
        "board, cf_locations__min=195 (2.5 %)": "/leads/board/?cf_locations__min=195",
        "board, cf_partner=yes (GIN, 30 %)": "/leads/board/?cf_partner=yes",
    }

    def get(url: str) -> Callable[[], None]:
        def run() -> None:
            response = client.get(url, secure=True)  # as behind TLS (production redirects)
            if response.status_code != 200:
                sys.exit(f"{url} answered {response.status_code}")

        return run

    calls = {name: get(url) for name, url in pages.items()}
    for call in calls.values():  # warm-up
        call()
    # as leadflow/wsgi.py does in production: what is loaded by now stays out of the collector's
    # scans (without it, 1-2 requests of every 20 here took 200-300 ms: full collections)
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {name: [] for name in calls}
    loads = [load()]
    for _ in range(args.rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
        loads.append(load())
    base = percentile(sorted(times["board, owner (built-in, indexed, 0.1 %)"]), 0.95)
    print(f"{total} leads, {args.rounds} rounds, load average {loads[0]} → {loads[-1]}")
    print(f"{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'p95 ÷ owner':>12}")
    for name, values in times.items():
        values.sort()
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"{name:40} {p50:8.1f} {p95:8.1f} {p95 / base:12.2f}")


if __name__ == "__main__":
    main()
