"""SLA timers: warning, breach and the escalation ladder in order, each exactly once."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from handover import services
from handover.models import (
    Handover,
    Notification,
    SlaEvent,
    SlaTimer,
    WebhookEvent,
    WebhookSubscription,
)
from handover.sla import sla_scan, timer_restart_from
from leadflow import deadletter
from leadflow.models import DeadLetter
from leads.models import Lead
from tests.faults import db_fault
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


# --- a timer whose firing fails does not stall the scan (issue 22) -------------------------------


def test_a_timer_whose_firing_fails_is_set_aside_and_the_others_fire(reps, team, make_mql):
    """Its events are refused by a real trigger. Before, the whole batch rolled back, every scan
    took the same oldest timers again, and no warning or breach fired anywhere."""
    rule("rr", team=team, members=reps[:2])
    policy(stage="mql", target=60, warn=10)
    WebhookSubscription.objects.create(
        url="https://hooks.example.com/sla", event_types=["sla.warning", "sla.breached"]
    )
    now = timezone.now()
    timers = [SlaTimer.objects.get(lead=make_mql()) for _ in range(5)]
    for n, t in enumerate(timers):  # due (warning, breach, remind) by the real clock, oldest first
        timer_restart_from(timer_id=t.pk, started_at=now - timedelta(minutes=70 - n))
    bad, others = timers[0], timers[1:]
    with db_fault(SlaEvent, "timer_id", bad.pk, "injected: event refused") as fault:
        result = sla_scan()
        assert result.claimed == 4  # (only what committed)
        assert result.fired == {"warning": 4, "breach": 4, "remind_owner": 4}
        for t in others:
            assert kinds(t) == [("warning", 0), ("breach", 0), ("remind_owner", 0)]
        assert kinds(bad) == []
        assert Notification.objects.filter(kind="sla.breach").count() == 4
        assert WebhookEvent.objects.filter(type="sla.breached").count() == 4
        letter = DeadLetter.objects.get()
        assert (letter.kind, letter.item_id) == ("handover.sla_timer", bad.pk)
        assert "injected: event refused" in letter.error
        bad.refresh_from_db()
        assert (bad.next_action_at, bad.warned_at, bad.breached_at) == (None, None, None)
        assert sla_scan().claimed == 0  # parked: the next scan does not take it again
        assert DeadLetter.objects.get().failed_at == letter.failed_at
        assert deadletter.retry(letter_id=letter.pk, manual=True) is False  # still refused
        bad.refresh_from_db()
        assert bad.next_action_at is None  # still parked
        fault.remove()
    ok, failed = deadletter.retry_due(now=timezone.now() + timedelta(days=1))
    assert (ok, failed) == (1, 0)
    assert not DeadLetter.objects.exists()
    assert kinds(bad) == [("warning", 0), ("breach", 0), ("remind_owner", 0)]
    bad.refresh_from_db()
    assert bad.breached_at is not None
    assert bad.next_action_at == bad.due_at + timedelta(minutes=30)  # back in the scan
    assert Notification.objects.filter(kind="sla.breach").count() == 5
    assert WebhookEvent.objects.filter(type="sla.breached").count() == 5
    assert sla_scan().claimed == 0
    assert deadletter.retry_many([letter.pk]) == (0, 0)  # (the row is gone)
    assert SlaEvent.objects.filter(timer=bad).count() == 3  # exactly once


def test_a_lead_known_only_by_its_external_id_is_named_by_it_in_sla_notifications(timer):
    Lead.objects.filter(pk=timer.lead_id).update(
        first_name="", last_name="", email=None, external_id="crm-4711"
    )
    sla_scan(now=timer.started_at + timedelta(minutes=61))
    texts = [f"{n.title} {n.body}" for n in Notification.objects.filter(kind="sla.breach")]
    assert texts
    assert all("crm-4711" in text for text in texts)
