"""Signed webhooks against a real local HTTP receiver: retries, log, refusal, isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handover.models import Delivery, WebhookSubscription
from handover.outbox import delivery_attempt, delivery_redeliver, outbox_sweep
from leads.lifecycle import Stage
from leads.services import lead_mark_mql
from tests.handover.receiver import webhook_receiver
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def drive(delivery, rounds=20):
    """Attempt again each time the backoff allows (time travels, the HTTP is real)."""
    for _ in range(rounds):
        delivery.refresh_from_db()
        if delivery.status not in ("pending",):
            return delivery
        delivery_attempt(
            delivery_id=delivery.pk, now=delivery.next_attempt_at + timedelta(seconds=1)
        )
    delivery.refresh_from_db()
    return delivery


def test_signed_delivery_is_retried_with_backoff_until_the_receiver_accepts(
    settings, django_capture_on_commit_callbacks
):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_receiver(secret="whsec-test", fail_first=3) as receiver:
        sub = WebhookSubscription.objects.create(
            url=receiver.url, event_types=["lead.mql"], secret="whsec-test"
        )
        lead = LeadFactory(stage=Stage.LEAD)
        with django_capture_on_commit_callbacks(execute=True):  # first attempt runs on commit
            lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        delivery = Delivery.objects.get(subscription=sub)
        assert delivery.status == "pending"
        assert delivery.attempts == 1
        first_wait = delivery.next_attempt_at - timezone.now()
        assert timedelta(minutes=1) < first_wait <= timedelta(minutes=2)
        delivery = drive(delivery)
        assert delivery.status == "delivered"
        log = list(delivery.log.values_list("number", "ok", "status_code"))
        assert log == [(1, False, 503), (2, False, 503), (3, False, 503), (4, True, 200)]
        assert receiver.bad_signatures == 0
        assert receiver.by_event == {str(delivery.event.event_id): 1}


def test_loopback_destination_is_refused_unless_allowed_and_does_not_block_others(settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False
    refused = WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/x", event_types=["lead.mql"]
    )
    down = WebhookSubscription.objects.create(
        url="http://nonexistent.invalid/x", event_types=["lead.mql"]
    )
    lead = LeadFactory(stage=Stage.LEAD)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    for delivery in Delivery.objects.filter(channel="webhook"):
        delivery_attempt(delivery_id=delivery.pk)
    dead = Delivery.objects.get(subscription=refused)
    assert dead.status == "dead"
    assert "loopback" in dead.last_error
    assert Delivery.objects.get(subscription=down).status == "dead"
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_receiver(secret=refused.secret) as receiver:
        WebhookSubscription.objects.filter(pk=refused.pk).update(url=receiver.url)
        delivery_redeliver(delivery_id=dead.pk)  # manual redelivery after fixing the URL
        delivery_attempt(delivery_id=dead.pk)
        dead.refresh_from_db()
        assert dead.status == "delivered"
        assert sum(receiver.by_event.values()) == 1
        assert dead.log.count() == 2


def test_gives_up_after_max_attempts_and_sweeper_redrives_lost_leases(settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_receiver(secret="s", fail_first=100) as receiver:
        sub = WebhookSubscription.objects.create(
            url=receiver.url, event_types=["lead.mql"], secret="s"
        )
        lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
        delivery = drive(Delivery.objects.get(subscription=sub))
        assert delivery.status == "dead"
        assert delivery.attempts == delivery.max_attempts == 10
        spent = (
            delivery.log.order_by("number").last().started_at
            - delivery.log.order_by("number").first().started_at
        )
        assert spent >= timedelta(hours=4)
    # a worker that died mid-attempt leaves a SENDING row: the sweeper frees and re-queues it
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert outbox_sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status in ("pending", "dead")  # re-queued (eager: attempted again at once)
    assert delivery.log.filter(error__startswith="No result").count() == 1
