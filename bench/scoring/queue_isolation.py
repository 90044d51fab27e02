"""Head-of-line blocking: activity → rescored while full rescores are queued, one worker pool for
every task vs a pool per queue (LEADFLOW_BULK_QUEUE), the same two worker processes in both.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db with leads, activities and a
        published scoring model: generate_data + seed_scoring_demo>
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/14
    python bench/scoring/queue_isolation.py [--long 2] [--activities 20] [--rounds 1]

Each layout starts real workers with ``scripts/serve-worker`` (prefork): *shared*, one worker of
two processes on the one queue; *split*, one process on the default queue and one on the bulk
queue. It queues ``--long`` full rescores (as a publish does), waits until one is running, then
records one new activity a second on a random lead and times each from its scheduled send to
the lead being rescored (``scored_at`` past the send), open loop: the activities do not wait for each
other. Reports p50 / p95 / max and the share rescored within ``--timeout`` seconds.
"""

import argparse
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
QUEUE, BULK = "qiso", "qiso-bulk"
os.environ["LEADFLOW_CELERY_QUEUE"] = QUEUE

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from leadflow.celery import app  # noqa: E402
from leads import services as lead_services  # noqa: E402
from leads.models import ActivityKind, Lead, RescoreMark  # noqa: E402
from scoring.models import ScoringModel, ScoringRun, SweepRequest  # noqa: E402
from scoring.tasks import scoring_run_task  # noqa: E402

REASON = "bench-queue-isolation"


def route(split: bool) -> None:
    """What LEADFLOW_BULK_QUEUE does (leadflow/celery.py), for this process's publishing."""
    app.conf.task_routes = (
        {name: {"queue": BULK} for name in settings.LEADFLOW_BULK_TASKS} if split else {}
    )
    amqp: Any = app.amqp  # (Celery caches its router)
    amqp.flush_routes()
    amqp.__dict__.pop("router", None)


@contextmanager
def workers(split: bool) -> Iterator[None]:
    env = {**os.environ, "LEADFLOW_BULK_QUEUE": BULK if split else ""}
    pools = [("1", QUEUE), ("1", BULK)] if split else [("2", QUEUE)]
    procs = [
        subprocess.Popen(  # noqa: S603  (our own script)
            [str(ROOT / "scripts" / "serve-worker"), "-Q", queue, "--without-gossip"],
            env={
                **env,
                "WORKER_CONCURRENCY": n,
                "PATH": f"{Path(sys.executable).parent}:" + env.get("PATH", ""),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for n, queue in pools
    ]
    time.sleep(8)  # prefork start-up
    try:
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)


def purge() -> None:
    with app.connection_for_write() as conn:  # (kombu's Connection is untyped)
        for queue in (QUEUE, BULK):
            conn.default_channel.queue_purge(queue)  # type: ignore[attr-defined]


def layout(split: bool, args: argparse.Namespace, model: ScoringModel) -> list[float | None]:
    purge()
    # what beat's sweep leaves behind: no stale request flag, no backlog of marks (the generator
    # marks every lead) that the sweep would work through before the new ones
    RescoreMark.objects.all().delete()
    SweepRequest.objects.update(requested=False)
    route(split)
    rng = random.Random(7)
    ids = Lead.objects.order_by("pk").values_list("pk", flat=True)
    first, last = ids.first() or 0, ids.last() or 0
    with workers(split):
        runs = [
            ScoringRun.objects.create(model=model, kind="rescore", reason=REASON)
            for _ in range(args.long)
        ]
        for run in runs:
            scoring_run_task.delay(run_id=run.pk)
        deadline = time.monotonic() + 60
        while not ScoringRun.objects.filter(reason=REASON, status="running").exists():
            if time.monotonic() > deadline:
                raise SystemExit("queue_isolation: no worker started the full rescore in 60 s")
            time.sleep(0.2)
        committed: list[tuple[int, float, datetime]] = []
        seen: dict[int, float] = {}
        started = time.monotonic()
        deadline = started + args.activities + args.timeout
        # open loop: activity k is due k seconds in, whatever the earlier ones are doing; the
        # pending ones are polled in between, so each latency ends when its rescore is seen
        while time.monotonic() < deadline and (
            len(committed) < args.activities or len(seen) < len(committed)
        ):
            if len(committed) < args.activities and time.monotonic() >= started + len(committed):
                lead_id = rng.randint(first, last)
                if Lead.objects.filter(pk=lead_id).exists():
                    due, wall = started + len(committed), timezone.now()
                    lead_services.activity_record(
                        lead_id=lead_id, kind=ActivityKind.WEBINAR, occurred_at=wall
                    )
                    committed.append((lead_id, due, wall))
            for i, (lead_id, at, wall) in enumerate(committed):
                if i not in seen and Lead.objects.filter(pk=lead_id, scored_at__gte=wall).exists():
                    seen[i] = time.monotonic() - at
            time.sleep(0.05)
    ScoringRun.objects.filter(reason=REASON).exclude(status="done").update(
        status="failed", error="bench: stopped"
    )
    return [seen.get(i) for i in range(len(committed))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long", type=int, default=2, help="full rescores queued first")
    parser.add_argument("--activities", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    model = ScoringModel.objects.filter(status="published").first()
    leads = Lead.objects.count()
    if model is None or leads < 10_000:
        raise SystemExit(
            "queue_isolation: needs >= 10,000 leads and a published scoring model "
            "(generate_data, seed_scoring_demo)"
        )
    print(f"{leads:,} leads; {args.long} full rescores queued; {args.activities} activities")
    for r in range(args.rounds):
        for split in (False, True):
            load = os.getloadavg()[0]
            got = layout(split, args, model)
            # a lead not rescored within the timeout counts as the timeout or more
            done = sorted(math.inf if x is None else x for x in got)
            p95 = done[min(len(done) - 1, round(0.95 * (len(done) - 1)))]
            complete = sum(x is not None for x in got)
            status = "" if complete == len(got) else " INCOMPLETE"
            name = "pool per queue" if split else "one pool"
            print(
                f"round {r + 1} {name}: rescored {complete}/{len(got)}{status}; "
                f"p50 {_s(statistics.median(done))}, p95 {_s(p95)}, max {_s(done[-1])} "
                f"(load {load:.2f} → {os.getloadavg()[0]:.2f})",
                flush=True,
            )


def _s(seconds: float) -> str:
    return "> timeout" if math.isinf(seconds) else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
