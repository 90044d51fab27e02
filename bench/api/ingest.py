"""Ingestion throughput through ``POST /v1/batch`` under gunicorn, next to a COPY floor.

Run (see docs/benchmarks.md for the exact commands and figures):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_api \
    LEADFLOW_RATE_LIMIT_REDIS_URL=redis://127.0.0.1:6379/3 \
    python bench/api/ingest.py --leads 10000 --events 200000 --batch 500 --clients 4

1. Setup: ``generate_data`` leads (no activities), each given ``external_id = 'u-<id>'`` so that
   Segment ``userId``s resolve; an API key with ``events:write`` and no practical rate limit.
2. Batch phase: ``--clients`` processes post pre-serialised ``/v1/batch`` bodies of ``--batch``
   track/page messages (distinct ``messageId``s, random known users) to gunicorn
   (``--workers`` sync workers, persistent DB connections) as fast as they can;
   ``--new-share 0.2`` makes a fifth of them first messages of new userIds, racing.
3. Single-event phase, open loop: ``/v1/track`` with one message per request, request k due
   at ``k / --rate`` whatever earlier replies did, from ``--senders`` threads; latency counts
   from the due time (waiting for a free sender included). Reports the achieved rate, errors,
   the share completed and p50/p95/p99; ``--with-rescore`` runs full rescores beside it
   (bench/rescore_loop.py); ``--single-only`` skips the batch phase and the COPY floor.
4. Floor: the same number of activity rows COPY'd straight into the table in one transaction.
Everything runs on this machine (loopback only); all loops are bounded.
"""

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench import rescore_loop  # noqa: E402
from bench.openloop import run_open_loop, verdict  # noqa: E402
from leadflow.apikeys import api_key_create  # noqa: E402
from leadflow.bulk import copy_rows  # noqa: E402
from leads.models import Activity, Lead  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8765"))  # a port of your own beside other runs
URL = f"http://127.0.0.1:{PORT}"


def setup(leads: int) -> tuple[str, list[str]]:
    call_command("migrate", verbosity=0)
    existing = Lead.objects.count()
    if existing < leads:
        call_command(
            "generate_data",
            leads=leads - existing,
            activities_per_lead=0,
            seed=7 + existing,  # the seed is in the e-mails: top-ups never collide
            anchor="2026-11-01T00:00:00+00:00",
            verbosity=0,
        )
    # leads an earlier --new-share run created: every run starts from the same data
    Lead.objects.filter(external_id__startswith="n", source="segment").delete()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE leads_lead SET external_id = 'u-' || id WHERE external_id IS NULL")
        cursor.execute("TRUNCATE leads_activity")
        cursor.execute("VACUUM ANALYZE leads_activity")
    users = [f"u-{pk}" for pk in Lead.objects.values_list("pk", flat=True)[:leads]]
    key = api_key_create(
        name=f"bench-{uuid.uuid4().hex[:6]}", scopes=["events:write"], rate_limit=100_000_000
    )
    return key.secret, users


def make_batch(
    rng: random.Random,
    users: list[str],
    size: int,
    tag: str,
    new_users: list[str] | None = None,
    new_share: float = 0.0,
) -> bytes:
    now = datetime.now(UTC)
    batch = []
    for i in range(size):
        user = rng.choice(new_users) if new_users and rng.random() < new_share else None
        user = user or rng.choice(users)
        if i % 3:
            msg = {"type": "track", "event": "Webinar Attended", "properties": {"w": i % 17}}
        else:
            msg = {"type": "page", "name": "Pricing", "properties": {"url": "https://x.example/p"}}
        msg.update(
            userId=user,
            messageId=f"{tag}-{i}",
            timestamp=(now - timedelta(seconds=i)).isoformat(),
            context={"library": {"name": "bench"}},
        )
        batch.append(msg)
    return json.dumps({"batch": batch, "sentAt": now.isoformat()}).encode()


def client_proc(
    key: str, bodies: list[bytes], out: "mp.Queue[tuple[list[float], int, int]]"
) -> None:
    session = requests.Session()
    session.auth = (key, "")
    headers = {"Content-Type": "application/json"}
    latencies = []
    failed = item_errors = 0
    for body in bodies:
        started = time.perf_counter()
        response = session.post(f"{URL}/v1/batch", data=body, headers=headers, timeout=60)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            failed += 1
            print("error", response.status_code, response.text[:200], flush=True)
        else:
            item_errors += len(response.json().get("errors", []))
    out.put((latencies, failed, item_errors))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-" + "x" * 50),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "LEADFLOW_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
        [
            sys.executable,
            "-m",
            "gunicorn",
            "leadflow.wsgi",
            "-w",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(60):
        try:
            requests.get(f"{URL}/healthz", timeout=5)
            return server
        except requests.RequestException:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit("gunicorn did not start")


def batch_phase(key: str, users: list[str], args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(42)
    run = uuid.uuid4().hex[:8]
    n_requests = args.events // args.batch
    # --new-share: that share of messages is from userIds nobody has yet, each drawn ~8 times
    # across the clients' batches, so first messages of one new person race (lead creation)
    new_users = [f"n{run}-{k}" for k in range(max(1, int(args.events * args.new_share / 8)))]
    bodies = [
        make_batch(rng, users, args.batch, f"{run}-{r}", new_users, args.new_share)
        for r in range(n_requests)
    ]
    # warm up every worker's DB connection and imports
    session = requests.Session()
    session.auth = (key, "")
    for r in range(args.workers * 2):
        session.post(
            f"{URL}/v1/batch",
            data=make_batch(rng, users, 10, f"warm{run}-{r}"),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    before = Activity.objects.count()
    queue: mp.Queue[tuple[list[float], int, int]] = mp.Queue()
    shards = [bodies[i :: args.clients] for i in range(args.clients)]
    procs = [mp.Process(target=client_proc, args=(key, shard, queue)) for shard in shards]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    outcomes = [queue.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    latencies = [lat for lats, _failed, _errors in outcomes for lat in lats]
    stored = Activity.objects.count() - before
    return {
        "events": stored,
        "sent": n_requests * args.batch,
        "failed_requests": sum(failed for _lats, failed, _errors in outcomes),
        "item_errors": sum(errors for _lats, _failed, errors in outcomes),
        "seconds": elapsed,
        "events_per_s": stored / elapsed,
        "sent_per_s": n_requests * args.batch / elapsed,
        "p50_ms": pct(latencies, 0.50) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
    }


def single_phase(key: str, users: list[str], args: argparse.Namespace) -> dict[str, object]:
    """Open loop (bench/openloop.py): request k is due at k/rate; latency from that due time."""
    rng = random.Random(7)
    run = uuid.uuid4().hex[:8]
    total = int(args.rate * args.seconds)
    bodies = [
        json.dumps(
            {
                "userId": rng.choice(users),
                "event": "Trial Started",
                "messageId": f"s{run}-{k}",
                "properties": {"k": k},
            }
        ).encode()
        for k in range(total)
    ]
    local = threading.local()

    def send(k: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.auth = (key, "")
        response = local.session.post(
            f"{URL}/v1/track",
            data=bodies[k],
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    result = run_open_loop(send, rate=args.rate, count=total, senders=args.senders).summary()
    result["verdict_p99_under_50ms"] = verdict(result["p99_ms"], 50, result["completed_share"])
    return result


def copy_floor(users: list[str], events: int) -> dict[str, float]:
    """The same kind and number of rows, COPY'd in one transaction (rolled back afterwards)."""
    lead_ids = [int(u[2:]) for u in users]
    rng = random.Random(42)
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    rows = [
        (
            rng.choice(lead_ids),
            "webinar",
            "Webinar Attended",
            now,
            now,
            json.dumps({"w": i % 17}),
            "segment",
            f"copy{run}-{i}",
        )
        for i in range(events)
    ]
    columns = [
        "lead_id",
        "kind",
        "name",
        "occurred_at",
        "received_at",
        "properties",
        "source",
        "message_id",
    ]
    started = time.perf_counter()
    with transaction.atomic():
        copy_rows(Activity, columns, rows)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="per worker (gthread)")
    parser.add_argument("--new-share", type=float, default=0.0, help="messages of new users")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--senders", type=int, default=32, help="threads (single phase)")
    parser.add_argument("--single-only", action="store_true")
    parser.add_argument("--with-rescore", action="store_true", help="full rescores beside it")
    args = parser.parse_args()
    key, users = setup(args.leads)
    if not users:
        raise SystemExit("ingest bench: no leads in this database (setup generated none)")
    load_before = os.getloadavg()
    report: dict[str, object] = {"args": vars(args)}
    server = start_server(args)
    rescoring = rescore_loop.start() if args.with_rescore else None
    batch: dict[str, float] | None = None
    try:
        if not args.single_only:
            report["batch"] = batch = batch_phase(key, users, args)
        if rescoring:
            time.sleep(5)  # the rescore is past its start-up and writing
        report["single"] = single_phase(key, users, args)
    finally:
        if rescoring:
            rescore_loop.stop(rescoring)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    if batch is not None:
        floor = copy_floor(users, int(batch["events"]))
        report["copy"] = floor
        report["http_vs_copy"] = batch["events_per_s"] / floor["events_per_s"]
    report["load_average_before"] = load_before
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
