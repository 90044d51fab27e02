"""Reliability with a real worker, beat and Redis (PostgreSQL): nothing lost, nothing doubled.

These start real processes; they are marked ``postgres`` and ``worker`` and run in CI.
"""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from handover.models import (
    Delivery,
    DeliveryAttempt,
    Handover,
    SlaEvent,
    SlaTimer,
    WebhookSubscription,
)
from handover.outbox import OutboxBatch
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, StageChange, Team
from leads.services import lead_mark_mql
from tests.handover.factories import policy
from tests.handover.receiver import webhook_receiver
from tests.handover.workers import worker_group
from tests.leads.factories import LeadFactory, UserFactory
from tests.worker import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.worker]
needs_redis = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis"), reason="needs Redis: set CELERY_BROKER_URL"
)


def _queue_webhooks(url: str, secret: str, count: int) -> list[int]:
    """``count`` webhook deliveries written in one transaction (their tasks go to the broker)."""
    WebhookSubscription.objects.create(url=url, event_types=["lead.mql"], secret=secret)
    from django.db import transaction

    with transaction.atomic():
        batch = OutboxBatch()
        for n in range(count):
            batch.event("lead.mql", {"n": n})
        return batch.flush()


@pytest.fixture(autouse=True)
def _empty_queue(live_celery):
    """Start from an empty broker queue (no leftovers of an earlier run in our Redis db)."""
    live_celery.control.purge()


def _delivered() -> int:
    return Delivery.objects.filter(status=Delivery.Status.DELIVERED).count()


@needs_redis
def test_kill_9_worker_with_1000_pending_then_restart_delivers_all(live_celery, tmp_path):
    with webhook_receiver(secret="k9") as receiver, worker_group(tmp_path) as worker:
        ids = _queue_webhooks(receiver.url, "k9", 1000)
        assert len(ids) == 1000
        worker.start()
        assert wait_until(lambda: _delivered() >= 150, timeout=120), "no progress before the kill"
        worker.kill9()  # SIGKILL the whole group mid-stream (worker threads and beat)
        at_kill = _delivered()
        assert at_kill < 1000, "everything was delivered before the kill: nothing was tested"
        worker.start()
        assert wait_until(lambda: _delivered() == 1000, timeout=240), f"{_delivered()} delivered"
    assert len(receiver.by_event) == 1000  # every event arrived
    duplicates = sum(receiver.by_event.values()) - 1000
    # Only an attempt in flight at the instant of the kill (≤ 2 threads) can be sent again: its
    # result was never recorded. Receivers deduplicate on the event id (documented).
    assert duplicates <= 2, duplicates
    print(  # noqa: T201  (the figures quoted in docs/benchmarks.md)
        f"\nkill -9: {at_kill} delivered before the kill, 1000 after restart, duplicates={duplicates}"
    )


def _reset_connections(app) -> None:
    app._pool = None  # (the old pool is left to the garbage collector, not closed under others)
    app.amqp._producer_pool = None


def _wait_for_redis(port: int) -> None:
    """Until our Redis answers (a fixed sleep lost the race on a busy machine)."""
    import redis as redis_client

    def up() -> bool:
        try:
            return bool(redis_client.Redis(port=port, socket_timeout=1).ping())
        except redis_client.RedisError:
            return False

    assert wait_until(up, timeout=30), f"the test's Redis on port {port} did not start in 30 s"


@needs_redis
def test_redis_restart_without_persistence_loses_nothing(live_celery, tmp_path):
    redis = shutil.which("redis-server")
    if redis is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [redis, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603  (our own Redis)
    broker = f"redis://127.0.0.1:{port}/0"
    old = live_celery.connection_for_write().as_uri(include_password=True)
    live_celery.conf.update(broker_url=broker, broker_write_url=broker, broker_read_url=broker)
    _reset_connections(live_celery)  # publish to our Redis, not the shared one
    try:
        _wait_for_redis(port)
        with (
            webhook_receiver(secret="rr") as receiver,
            worker_group(tmp_path, broker=broker) as worker,
        ):
            _queue_webhooks(receiver.url, "rr", 1000)  # 20 tasks now sit in Redis
            import redis as redis_client

            queued = redis_client.Redis(port=port).llen(live_celery.conf.task_default_queue)
            assert queued > 0, "nothing was queued in Redis"
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603
            _wait_for_redis(port)
            assert (
                redis_client.Redis(port=port).llen(live_celery.conf.task_default_queue) == 0
            )  # the queue is gone
            worker.start()
            assert wait_until(lambda: _delivered() == 1000, timeout=180), (
                f"{_delivered()} delivered"
            )
        assert len(receiver.by_event) == 1000
        assert max(receiver.by_event.values()) == 1
    finally:
        live_celery.conf.update(broker_url=old, broker_write_url=old, broker_read_url=old)
        _reset_connections(live_celery)
        server.kill()
        server.wait()


def test_1000_timers_falling_due_fire_exactly_once_at_most_60s_late(live_celery, tmp_path):
    pol = policy(
        stage="sal", target=60, warn=0, ladder=[{"after_minutes": 0, "action": "remind_owner"}]
    )
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        Lead(email=f"t{n}@due.example", stage=Stage.SAL, stage_changed_at=now) for n in range(1000)
    )
    due = [now + timedelta(seconds=5 + n % 20) for n in range(1000)]
    SlaTimer.objects.bulk_create(
        SlaTimer(lead=lead, policy=pol, stage="sal", started_at=now, due_at=d, next_action_at=d)
        for lead, d in zip(leads, due, strict=True)
    )
    with worker_group(tmp_path, LEADFLOW_SLA_SCAN_SECONDS="5") as worker:
        worker.start()
        done = wait_until(
            lambda: SlaEvent.objects.filter(kind="breach").count() >= 1000, timeout=150
        )
        time.sleep(6)  # one more scan: nothing may fire twice
    assert done, SlaEvent.objects.filter(kind="breach").count()
    breaches = list(
        SlaEvent.objects.filter(kind="breach").values_list("timer_id", "scheduled_for", "fired_at")
    )
    assert len(breaches) == len({t for t, _, _ in breaches}) == 1000
    assert SlaEvent.objects.filter(kind="remind_owner").count() == 1000
    late = max((fired - scheduled).total_seconds() for _, scheduled, fired in breaches)
    assert late <= 60, late
    print(f"\n1000 timers: each fired once, latest {late:.1f}s after due")  # noqa: T201


@pytest.mark.django_db(transaction=True)
def test_20_reps_accept_the_same_handover_at_once_one_wins_rest_409():
    manager = UserFactory(username="boss", role=Role.SALES_MANAGER)
    team = Team.objects.create(name="Race", manager=manager)
    reps = [UserFactory(username=f"racer{n}", role=Role.SALES_REP) for n in range(20)]
    team.members.add(*reps)
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")  # no rule: the team queue
    handover = Handover.objects.get(lead=lead)
    assert handover.owner is None
    barrier = threading.Barrier(20)
    results: dict[str, int] = {}

    def accept(rep):
        client = APIClient()
        client.force_authenticate(rep)
        barrier.wait()
        try:
            results[rep.username] = client.post(
                f"/api/v1/handovers/{handover.pk}/accept/"
            ).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(rep,)) for rep in reps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, code in results.items() if code == 200]
    assert len(winners) == 1, results
    assert sorted(code for code in results.values() if code != 200) == [409] * 19
    handover.refresh_from_db()
    lead.refresh_from_db()
    assert handover.owner.username == lead.owner.username == winners[0]
    assert StageChange.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1
    assert os.getpid()  # (threads shared this process and the database)


def _subscribe(url: str, secret: str) -> WebhookSubscription:
    return WebhookSubscription.objects.create(url=url, event_types=["lead.mql"], secret=secret)


def _events(count: int) -> None:
    """``count`` events in one transaction: one delivery per event and subscription."""
    from django.db import transaction

    with transaction.atomic():
        batch = OutboxBatch()
        for n in range(count):
            batch.event("lead.mql", {"n": n})
        batch.flush()


@needs_redis
def test_a_slow_endpoint_delays_only_itself(live_celery, tmp_path):
    """One endpoint sleeps 15 s, one answers at once. The healthy one gets its 10 events within
    seconds of each other; one task sending a chunk's rows in turn gave it one per timeout."""
    with (
        webhook_receiver(secret="slow", delay=15) as slow,
        webhook_receiver(secret="ok") as healthy,
        worker_group(tmp_path) as worker,
    ):
        _subscribe(slow.url, "slow")
        _subscribe(healthy.url, "ok")
        worker.start()
        _events(10)
        assert wait_until(lambda: len(healthy.by_event) == 10, timeout=60), healthy.by_event
        spread = max(healthy.arrivals.values()) - min(healthy.arrivals.values())
        assert spread < 5, f"the healthy endpoint's 10 events took {spread:.1f} s"
        assert sum(healthy.by_event.values()) == 10
        assert slow.by_event == {}  # (still sleeping on its first request)


@needs_redis
def test_short_lease_slow_endpoint_and_two_worker_processes_send_each_event_once(
    live_celery, tmp_path
):
    """A 1 s lease, an endpoint taking 1.5 s, two worker processes and a sweeper every second:
    a claim of many rows under one lease let the sweeper re-queue rows still waiting to be
    sent, and the other process sent them again."""
    fast_sweeps = {
        "LEADFLOW_OUTBOX_LEASE_SECONDS": "1",
        "LEADFLOW_OUTBOX_SWEEP_SECONDS": "1",
        "LEADFLOW_OUTBOX_REQUEUE_SECONDS": "2",
    }
    with (
        webhook_receiver(secret="lease", delay=1.5) as receiver,
        worker_group(tmp_path, name="one", **fast_sweeps) as one,
        worker_group(tmp_path, name="two", beat=False, **fast_sweeps) as two,
    ):
        _subscribe(receiver.url, "lease")
        one.start()
        two.start()
        _events(8)
        assert wait_until(lambda: _delivered() == 8, timeout=90), f"{_delivered()} delivered"
    assert sum(receiver.by_event.values()) == len(receiver.by_event) == 8, receiver.by_event
    assert list(Delivery.objects.values_list("attempts", flat=True)) == [1] * 8
    assert not DeliveryAttempt.objects.filter(error__startswith="No result").exists()
