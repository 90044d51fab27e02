"""SLA timers: warning, breach and the escalation ladder in order, each exactly once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from handover import services
from handover.models import (
    Handover,
    Notification,
    SlaEvent,
    SlaTimer,
    WebhookEvent,
    WebhookSubscription,
)
from handover.sla import sla_scan
from tests.handover.factories import policy, rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def timer(reps, team, make_mql):
    rule("rr", team=team, members=reps[:2])
    policy(stage="mql", target=60, warn=10)
    WebhookSubscription.objects.create(
        url="https://hooks.example.com/sla", event_types=["sla.warning", "sla.breached"]
    )
    lead = make_mql()
    return SlaTimer.objects.get(lead=lead)


def kinds(timer):
    return list(SlaEvent.objects.filter(timer=timer).order_by("id").values_list("kind", "step"))


def test_deadline_is_stored_from_the_policy(timer):
    assert timer.due_at - timer.started_at == timedelta(minutes=60)
    assert timer.warn_at == timer.due_at - timedelta(minutes=10)
    assert timer.next_action_at == timer.warn_at


def test_warning_breach_then_ladder_in_order_each_once(timer, reps, manager):
    start = timer.started_at
    assert sla_scan(now=start + timedelta(minutes=49)).claimed == 0
    sla_scan(now=start + timedelta(minutes=51))
    assert kinds(timer) == [("warning", 0)]
    sla_scan(now=start + timedelta(minutes=52))  # nothing new
    sla_scan(now=start + timedelta(minutes=61))
    assert kinds(timer) == [("warning", 0), ("breach", 0), ("remind_owner", 0)]
    sla_scan(now=start + timedelta(minutes=91))
    assert kinds(timer)[-1] == ("notify_manager", 1)
    assert Notification.objects.filter(recipient=manager, kind="sla.notify_manager").count() == 1
    result = sla_scan(now=start + timedelta(minutes=121))
    assert kinds(timer)[-1] == ("reassign", 2)
    assert result.reassigned == 1
    timer.refresh_from_db()
    assert timer.state == "superseded"
    handover = Handover.objects.get(lead=timer.lead)
    assert handover.owner == reps[1]  # the other rep in the rotation
    fresh = SlaTimer.objects.get(lead=timer.lead, state="running")
    assert fresh.owner == reps[1]
    assert SlaEvent.objects.get(timer=timer, kind="reassign").done_at is not None
    for _ in range(3):
        sla_scan(now=start + timedelta(minutes=125))
    assert SlaEvent.objects.filter(timer=timer).count() == 5
    # (the fresh timer started at the real "now", so these future scans breach it too)
    mine = [
        e.type
        for e in WebhookEvent.objects.filter(type__startswith="sla.")
        if e.payload["data"]["timer"]["id"] == timer.pk
    ]
    assert sorted(mine) == ["sla.breached", "sla.warning"]


def test_a_late_scan_fires_everything_due_in_ladder_order(timer):
    sla_scan(now=timer.started_at + timedelta(hours=5))
    assert [k for k, _ in kinds(timer)] == [
        "warning",
        "breach",
        "remind_owner",
        "notify_manager",
        "reassign",
    ]


def test_met_timer_stops(timer):
    services.handover_accept(handover_id=timer.handover_id, actor=timer.owner)
    timer.refresh_from_db()
    assert (timer.state, timer.next_action_at) == ("met", None)
    assert timer.stopped_at <= timer.due_at
    sla_scan(now=timer.started_at + timedelta(hours=5))
    assert kinds(timer) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_scanners_fire_each_timer_once(reps, team, make_mql):
    rule("rr", team=team, members=reps)
    policy(stage="mql", target=60, warn=0, ladder=[{"after_minutes": 0, "action": "remind_owner"}])
    timers = [SlaTimer.objects.get(lead=make_mql()) for _ in range(60)]
    later = timers[-1].due_at + timedelta(minutes=1)
    errors = []

    def scan():
        try:
            sla_scan(now=later, batch=7)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert SlaEvent.objects.filter(kind="breach").count() == 60
    assert SlaEvent.objects.filter(kind="remind_owner").count() == 60
