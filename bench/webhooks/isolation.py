"""Webhook isolation: one endpoint sleeping 15 s beside a healthy one; the healthy endpoint's
delivery latency p95 must stay under 2 s over 1,000 events.

    createdb -h 127.0.0.1 -U postgres test_lf_webhooks_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test_lf_webhooks_bench \
        .venv/bin/python manage.py migrate
    LEADFLOW_WEBHOOK_ALLOW_PRIVATE=1 LEADFLOW_CELERY_QUEUE=webhooks-bench \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/15 \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test_lf_webhooks_bench \
        .venv/bin/python bench/webhooks/isolation.py [--events 1000] [--rate 25] [--slow 15]

Two local receivers (tests/handover/receiver.py: both signature schemes verified) and two
subscriptions to every event; one receiver sleeps ``--slow`` seconds before answering. A real
Celery worker (threads pool, ``--concurrency``, with beat: the sweeper runs too) delivers. The
script writes ``--events`` events open-loop at ``--rate`` per second, one transaction each (as
stage changes do), and measures each event's latency from its creation to its arrival at the
healthy receiver, once the worker has settled (see ``warm_up``). Rows it created are deleted at
the end. ``BENCH_TRACE=1`` also prints every latency, and when the worker started each attempt.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402

from handover.models import DeliveryAttempt, WebhookEvent, WebhookSubscription  # noqa: E402
from handover.outbox import OutboxBatch  # noqa: E402
from leadflow.celery import app  # noqa: E402
from tests.handover.receiver import Receiver, webhook_receiver  # noqa: E402


def start_worker(concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115  (closed below, once the worker has started)
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "leadflow",
            "worker",
            "--beat",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            f"--schedule={log.with_suffix('.schedule')}",
        ],
        cwd=ROOT,
        env={**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0"},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()  # (the child has its own copy)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def write_event(n: int) -> None:
    with transaction.atomic():
        batch = OutboxBatch()
        batch.event("lead.mql", {"n": n})
        batch.flush()


def warm_up(healthy: Receiver) -> None:
    """Until three events in a row reach the healthy receiver within 0.5 s (max 120 s).

    A fresh worker runs beat's first round of every periodic task and imports their modules
    (scikit-learn for the predictive ones) for a few seconds; that is start-up, not steady state.
    """
    quick, stop = 0, time.monotonic() + 120
    while quick < 3 and time.monotonic() < stop:
        before = len(healthy.by_event)
        clock = time.monotonic()
        write_event(-1)
        while len(healthy.by_event) == before and time.monotonic() - clock < 10:
            time.sleep(0.01)
        quick = quick + 1 if time.monotonic() - clock < 0.5 else 0
    if quick < 3:
        sys.exit("the worker did not settle in 120 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=25.0, help="events written per second")
    parser.add_argument("--slow", type=float, default=15.0, help="the slow endpoint's sleep (s)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker threads (compose: 2)")
    args = parser.parse_args()
    if not settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE:
        sys.exit("set LEADFLOW_WEBHOOK_ALLOW_PRIVATE=1 (the receivers listen on 127.0.0.1)")
    app.control.purge()
    log = ROOT / "var" / "bench-webhooks-worker.log"
    log.parent.mkdir(exist_ok=True)
    with (
        webhook_receiver(secret="bench-slow", delay=args.slow) as slow,  # noqa: S106
        webhook_receiver(secret="bench-ok") as healthy,  # noqa: S106
    ):
        subs = [
            WebhookSubscription.objects.create(url=r.url, event_types=["lead.mql"], secret=s)
            for r, s in ((slow, "bench-slow"), (healthy, "bench-ok"))
        ]
        before_run = (
            WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
        ) or 0
        worker = start_worker(args.concurrency, log)
        try:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=1):
                if time.monotonic() > deadline:
                    sys.exit(f"the worker did not answer in 60 s; see {log}")
            warm_up(healthy)  # (its events are not measured)
            first_event = WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]
            expected = len(healthy.by_event) + args.events
            started = time.monotonic()
            for n in range(args.events):  # open loop: each write at its scheduled time
                time.sleep(max(0.0, started + n / args.rate - time.monotonic()))
                write_event(n)
            wrote = time.monotonic() - started
            wait_until = time.monotonic() + 120
            while len(healthy.by_event) < expected and time.monotonic() < wait_until:
                time.sleep(0.2)
        finally:
            stop_worker(worker)
            app.control.purge()  # (the slow subscription's drain task queued itself again)
        created = dict(
            WebhookEvent.objects.filter(pk__gt=first_event).values_list("event_id", "created_at")
        )
        latencies = [
            healthy.arrivals[str(event_id)] - at.timestamp()
            for event_id, at in sorted(created.items(), key=lambda item: item[1])
            if str(event_id) in healthy.arrivals
        ]
        if os.environ.get("BENCH_TRACE"):  # arrival and the worker's own start of the attempt
            print(" ".join(f"{v:.2f}" for v in latencies))  # noqa: T201
            starts = DeliveryAttempt.objects.filter(
                delivery__subscription=subs[1], delivery__event__pk__gt=first_event
            ).values_list("started_at", "delivery__event__created_at")
            print(
                " ".join(
                    f"{(a - c).total_seconds():.2f}" for a, c in sorted(starts, key=lambda x: x[1])
                )
            )  # noqa: T201
        slow_attempts = DeliveryAttempt.objects.filter(delivery__subscription=subs[0])
        slow_tried = slow_attempts.count()
        slow_errors = sorted(set(slow_attempts.values_list("error", flat=True)))
        duplicates = sum(healthy.by_event.values()) - len(healthy.by_event)
        for sub in subs:
            sub.delete()  # (and its deliveries and attempts)
        WebhookEvent.objects.filter(pk__gt=before_run).delete()
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    print(  # noqa: T201
        f"events written: {args.events} in {wrote:.1f} s ({args.events / wrote:.1f}/s), "
        f"worker threads: {args.concurrency}, slow endpoint sleeps {args.slow:g} s\n"
        f"healthy endpoint: {len(latencies)}/{args.events} delivered, duplicates {duplicates}, "
        f"bad signatures {healthy.bad_signatures}\n"
        f"healthy latency: p50 {statistics.median(latencies or [0]):.3f} s, "
        f"p95 {p95:.3f} s, p99 {percentile(latencies, 0.99) if latencies else 0:.3f} s, "
        f"max {max(latencies or [0]):.3f} s\n"
        f"slow endpoint: {slow_tried} attempts in the run, ending with {slow_errors}\n"
        f"target p95 < 2 s: {'met' if p95 < 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
