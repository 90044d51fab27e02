"""Cost curve (issue 22 item 5): the same operations at each data size, one JSON row per size.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_curve
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/9   # ingestion queues sweeps there (purged)
    python manage.py migrate && python manage.py seed_demo --leads 0
    python manage.py generate_data --leads 100000 --activities-per-lead 10 --seed 42 \\
        --anchor 2026-11-01T00:00:00+00:00 --chunk 50000 && python manage.py reports_rebuild
    python bench/cost_curve.py measure --size 100000                   # 100k
    python manage.py generate_data --leads 900000 --seed 43 ...        # grow the same database
    python manage.py reports_rebuild && python bench/cost_curve.py measure --size 1000000
    ...                                                                # 3M: --leads 2000000 --seed 44
    python bench/cost_curve.py chart docs/cost-curve.json --png docs/img/cost-curve.png

``measure`` runs, in one process and in this order: the scoring engine (reference UPDATE, full
rescore first pass, incremental sweep of 10,000 leads with one new activity each: the scoring
bench's own functions), the pages (board, lead page, SAL inbox as rep and as manager, lead create,
two searches: the UI bench's own cases), one report (funnel, one quarter), ingestion (``/v1/batch``
in process, 500 events a request, known users) and the SLA scan (one timer on every tenth lead,
1,000 due, loaded and scanned inside a transaction that is rolled back). It appends (or replaces)
the row for ``--size`` in ``--out`` (the lead count drifts: lead create adds leads). ``chart`` prints the markdown table and draws
each operation's time against the lead count, relative to its time at the smallest size.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.handover import sla_scan  # noqa: E402
from bench.reports.reports_bench import report_case  # noqa: E402
from bench.scoring import bench_scoring  # noqa: E402
from bench.ui import bench_pages  # noqa: E402
from leadflow.apikeys import api_key_create  # noqa: E402
from leadflow.celery import app as celery_app  # noqa: E402
from leads.models import Lead  # noqa: E402

# page cases of bench/ui/bench_pages.py, by the start of their name → the curve's label
PAGES = {
    "board, marketer (8": "board (marketer)",
    "lead page + handover panel": "lead page + panel",
    "SAL inbox, rep": "SAL inbox (rep)",
    "SAL inbox, manager": "SAL inbox (manager)",
    "API lead create": "lead create (API)",
    "search, exact e-mail": "search (exact e-mail)",
    "search, word matching nothing": "search (no match)",
}
BATCH_EVENTS = 500


class Rollback(Exception):
    pass


def counts() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        leads = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM leads_activity")
        return leads, cursor.fetchone()[0]


def scoring(row: dict[str, Any]) -> None:
    bench_scoring.clean()
    now = timezone.now()
    ref, _ = bench_scoring.reference(now)
    model = bench_scoring.fresh_model(now)
    first = bench_scoring.full_pass(model, "full rescore, first pass", 10_000)
    sample = list(
        Lead.objects.order_by("?").values_list("pk", flat=True)[:10_000]
    )  # one random sample a size; ORDER BY random() once is cheap next to the passes
    sample.sort()
    inc = bench_scoring.incremental(sample, new_activity=True)
    row["reference UPDATE"] = {"s": ref}
    row["full rescore, first pass"] = {"s": first, "vs reference": first / ref}
    row["sweep 10k, one new activity each"] = {"s": inc}


def pages(row: dict[str, Any], runs: int) -> None:
    bench_pages.prepare()
    for name, fn in bench_pages.page_cases(runs):
        label = next((v for k, v in PAGES.items() if name.startswith(k)), None)
        if label:
            p50, p95, queries = bench_pages.measure(fn, runs)
            row[label] = {"p50 ms": p50, "p95 ms": p95, "queries": queries}
            print(f"{label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    run = report_case("funnel", {"date_from": "2026-05-01", "date_to": "2026-07-31"})
    p50, p95, _ = bench_pages.measure(run, runs)
    row["report (funnel, a quarter)"] = {"p50 ms": p50, "p95 ms": p95}
    print(f"report: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)


def ingestion(row: dict[str, Any], batches: int) -> None:
    """``/v1/batch`` in this process (no HTTP server): what a worker spends per event."""
    users = list(
        Lead.objects.filter(pk__in=Lead.objects.order_by("?").values("pk")[:10_000]).values_list(
            "pk", "external_id"
        )
    )
    with connection.cursor() as cursor:  # Segment userIds resolve by external id
        cursor.execute(
            "UPDATE leads_lead SET external_id = 'u-' || id WHERE id = ANY(%s) AND external_id IS NULL",
            [[pk for pk, ext in users if not ext]],
        )
    ids = [ext or f"u-{pk}" for pk, ext in users]
    key = api_key_create(
        name=f"curve-{uuid.uuid4().hex[:6]}", scopes=["events:write"], rate_limit=100_000_000
    )
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    times: list[float] = []
    # the sweep is the worker's work, not the request's (the namespaced key is the one read)
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        _post_batches(client, ids, batches, times)
    finally:
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = True
        celery_app.control.purge()
    per_s = BATCH_EVENTS * len(times) / sum(times)
    row["ingestion (/v1/batch, one process)"] = {
        "events/s": per_s,
        "p50 ms": statistics.median(times) * 1000,
    }
    print(f"ingestion: {per_s:,.0f} events/s in one process", flush=True)


def _post_batches(client: Client, ids: list[str], batches: int, times: list[float]) -> None:
    for b in range(batches + 1):  # the first is a warm-up
        body = {
            "batch": [
                {
                    "type": "track",
                    "event": "Page Viewed",
                    "userId": ids[(b * BATCH_EVENTS + i) % len(ids)],
                    "messageId": uuid.uuid4().hex,
                    "timestamp": timezone.now().isoformat(),
                }
                for i in range(BATCH_EVENTS)
            ]
        }
        started = time.perf_counter()
        response = client.post("/v1/batch", body, content_type="application/json")
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"/v1/batch answered {response.status_code}: {response.content!r}")
        if b:
            times.append(elapsed)


def sla(row: dict[str, Any], leads: int) -> None:
    now = timezone.now()
    scans: list[float] = []
    try:
        with transaction.atomic():
            sla_scan.load(max(1_000, leads // 10), 1_000, now)
            for _ in range(3):
                seconds, claimed = sla_scan.scan_once(now)
                scans.append(seconds)
            raise Rollback
    except Rollback:
        pass
    row["SLA scan (1,000 due)"] = {"s": statistics.median(scans), "claimed": claimed}
    print(f"SLA scan: {statistics.median(scans):.3f} s ({claimed} claimed)", flush=True)


def measure(args: argparse.Namespace) -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("cost_curve: run against PostgreSQL (DATABASE_URL)")
    leads, activities = counts()
    if leads < 50_000 or activities < 5 * leads:
        raise SystemExit(
            f"cost_curve: needs >= 50,000 leads with ~10 activities each; this database has "
            f"{leads:,} leads and {activities:,} activities (generate_data, see the docstring)"
        )
    load = os.getloadavg()
    row: dict[str, Any] = {
        "size": args.size,
        "leads": leads,
        "activities": activities,
        "started": str(timezone.now()),
    }
    steps: list[tuple[str, Callable[[], None]]] = [
        ("scoring", lambda: scoring(row)),
        ("pages", lambda: pages(row, args.runs)),
        ("ingestion", lambda: ingestion(row, args.batches)),
        ("sla", lambda: sla(row, leads)),
    ]
    for name, step in steps:
        if args.only and name not in args.only:
            continue
        step()
    row["load average before / after"] = [round(load[0], 2), round(os.getloadavg()[0], 2)]
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in rows if r["size"] != args.size] + [row]
    out.write_text(json.dumps(sorted(rows, key=lambda r: r["size"]), indent=1) + "\n")
    print(f"wrote the {args.size:,}-lead row ({leads:,} leads) to {out}")


def figure(cell: dict[str, float]) -> tuple[float, str]:
    """The headline figure of a cell: p95 for requests, seconds for passes, events/s inverted."""
    if "p95 ms" in cell and "events/s" not in cell:
        return cell["p95 ms"], f"p95 {cell['p95 ms']:,.0f} ms"
    if "events/s" in cell:
        return 1 / cell["events/s"], f"{cell['events/s']:,.0f} events/s"
    return cell["s"], f"{cell['s']:,.2f} s"


def chart(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.json).read_text())
    sizes = [r["size"] for r in rows]
    ops = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    print("| operation | " + " | ".join(f"{n:,} leads" for n in sizes) + " | growth |")
    print("|---|" + "---:|" * len(sizes) + "---:|")
    for op in ops:
        cells = [figure(r[op]) if op in r else None for r in rows]
        shown = [c[1] if c else "—" for c in cells]
        growth = (
            f"{cells[-1][0] / cells[0][0]:.1f}× for {sizes[-1] / sizes[0]:.0f}× leads"
            if cells[0] and cells[-1]
            else "—"
        )
        print(f"| {op} | " + " | ".join(shown) + f" | {growth} |")
    print(
        "| load average (before / after) | "
        + " | ".join(
            f"{r['load average before / after'][0]} / {r['load average before / after'][1]}"
            for r in rows
        )
        + " | |"
    )
    if not args.png:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    colors = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]
    for n, op in enumerate(ops):
        points = [(r["size"], figure(r[op])[0]) for r in rows if op in r]
        if len(points) > 1:
            xs = [p[0] for p in points]
            ax.plot(
                xs,
                [p[1] / points[0][1] for p in points],
                marker="osD^v<>"[n % 7],
                linestyle=("-", "--", ":")[n % 3],
                color=colors[(2 * n) % 20 + (n // 10) % 2],
                label=op,
            )
    ax.plot(
        sizes, [s / sizes[0] for s in sizes], "k-", linewidth=2, alpha=0.4, label="linear in leads"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("leads (10 activities each)")
    ax.set_ylabel(f"time relative to {sizes[0]:,} leads")
    ax.set_title("LeadFlow cost curve (PostgreSQL, one 2-core machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.png)
    print(f"wrote {args.png}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--size", type=int, required=True, help="the row's label: 100000, 1000000…")
    m.add_argument("--out", default="docs/cost-curve.json")
    m.add_argument("--runs", type=int, default=20)
    m.add_argument("--batches", type=int, default=20, help="/v1/batch requests of 500 events")
    m.add_argument("--only", action="append", choices=["scoring", "pages", "ingestion", "sla"])
    c = sub.add_parser("chart")
    c.add_argument("json")
    c.add_argument("--png")
    args = parser.parse_args()
    measure(args) if args.command == "measure" else chart(args)


if __name__ == "__main__":
    main()
