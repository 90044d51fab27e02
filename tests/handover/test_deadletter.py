"""A delivery whose processing crashes cannot block its subscription or its chunk (issue 22):
it is parked with its error, recorded as a dead letter, and a retry sends it.

The fault is real: a trigger refuses one delivery's attempt-log row, so its result cannot be
recorded (before, the row stayed "sending" under its lease and held the subscription's only
in-flight slot, came back first after every sweep, and never reached "dead")."""

import pytest
from django.db import transaction

from handover.models import Delivery, DeliveryAttempt, WebhookSubscription
from handover.outbox import OutboxBatch, deliver_batch, subscription_drain
from leadflow import deadletter
from leadflow.models import DeadLetter
from tests.faults import db_fault
from tests.handover.receiver import webhook_receiver
from tests.handover.workers import worker_group
from tests.worker import wait_until


def _deliveries(url: str, secret: str, count: int) -> list[int]:
    sub = WebhookSubscription.objects.create(url=url, event_types=["lead.mql"], secret=secret)
    with transaction.atomic():
        batch = OutboxBatch()
        for n in range(count):
            batch.event("lead.mql", {"n": n})
        batch.flush()
    return list(
        Delivery.objects.filter(subscription=sub).order_by("pk").values_list("pk", flat=True)
    )


def _statuses(ids):
    return dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["subscription drain", "chunk of ids"])
def test_a_delivery_whose_result_cannot_be_recorded_is_set_aside_and_the_rest_go(settings, path):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    with webhook_receiver(secret="dl") as receiver:
        ids = _deliveries(receiver.url, "dl", 6)
        bad = ids[1]
        with db_fault(DeliveryAttempt, "delivery_id", bad, "injected: log row refused") as fault:
            if path == "subscription drain":
                sub_id = Delivery.objects.get(pk=bad).subscription_id
                assert subscription_drain(subscription_id=sub_id, budget=60) == (6, False)
            else:
                deliver_batch(delivery_ids=ids)
            statuses = _statuses(ids)
            assert statuses.pop(bad) == Delivery.Status.DEAD
            assert set(statuses.values()) == {Delivery.Status.DELIVERED}
            parked = Delivery.objects.get(pk=bad)
            assert parked.locked_until is None
            assert "injected: log row refused" in parked.last_error
            letter = DeadLetter.objects.get()
            assert (letter.kind, letter.item_id) == ("handover.delivery", bad)
            assert "injected: log row refused" in letter.error
            assert deadletter.retry(letter_id=letter.pk, manual=True) is False
            assert Delivery.objects.get(pk=bad).status == Delivery.Status.DEAD  # not stuck
            fault.remove()
        assert deadletter.retry(letter_id=letter.pk, manual=True) is True
        assert Delivery.objects.get(pk=bad).status == Delivery.Status.DELIVERED
        assert not DeadLetter.objects.exists()
        assert len(receiver.by_event) == 6  # (the set-aside one arrived more than once)


@pytest.mark.worker
def test_in_a_real_worker_the_set_aside_delivery_is_retried_by_beat_with_backoff(
    live_celery, tmp_path
):
    with (
        webhook_receiver(secret="dlw") as receiver,
        worker_group(
            tmp_path,
            LEADFLOW_DEADLETTER_RETRY_BASE_SECONDS="1",
            LEADFLOW_DEADLETTER_SCAN_SECONDS="1",
        ) as worker,
    ):
        worker.start()
        ids = _deliveries(receiver.url, "dlw", 8)
        bad = ids[0]  # the oldest: the first the drain takes
        with db_fault(DeliveryAttempt, "delivery_id", bad, "injected: log row refused") as fault:
            others = [i for i in ids if i != bad]
            assert wait_until(
                lambda: set(_statuses(others).values()) == {Delivery.Status.DELIVERED},
                timeout=120,  # the worker group starts on a box CI keeps busy (-n 2)
            ), _statuses(ids)
            assert wait_until(lambda: DeadLetter.objects.filter(item_id=bad).exists())
            assert wait_until(lambda: DeadLetter.objects.filter(attempts__gte=2).exists())
            letter = DeadLetter.objects.get()
            assert letter.status == DeadLetter.Status.WAITING
            assert Delivery.objects.get(pk=bad).status == Delivery.Status.DEAD
            fault.remove()
        assert wait_until(lambda: not DeadLetter.objects.exists(), timeout=60)
        assert Delivery.objects.get(pk=bad).status == Delivery.Status.DELIVERED
