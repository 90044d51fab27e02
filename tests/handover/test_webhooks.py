"""Signed webhooks against a real local HTTP receiver: retries, log, refusal, deadlines, both
signature schemes, the SSRF address list."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from handover import rules
from handover.models import Delivery, WebhookSubscription
from handover.outbox import (
    DestinationRefusedError,
    delivery_attempt,
    delivery_redeliver,
    outbox_sweep,
    resolve_destination,
)
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


def test_a_generated_secret_verifies_with_both_schemes_on_a_real_delivery(settings):
    """The receiver checks X-LeadFlow-Signature and, with the standardwebhooks library,
    webhook-signature; a request failing either is answered 400 and counted as bad."""
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    sub = WebhookSubscription.objects.create(url="http://127.0.0.1:9/", event_types=["lead.mql"])
    assert sub.secret.startswith("whsec_")  # the Standard Webhooks format
    with webhook_receiver(secret=sub.secret) as receiver:
        WebhookSubscription.objects.filter(pk=sub.pk).update(url=receiver.url)
        lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
        delivery = Delivery.objects.get(subscription=sub)
        assert delivery_attempt(delivery_id=delivery.pk) == "delivered"
    assert receiver.bad_signatures == 0
    assert receiver.by_event == {str(delivery.event.event_id): 1}


def test_standard_signature_matches_the_library_for_old_and_new_secrets():
    body, stamp, msg_id = b'{"id":"e1"}', int(time.time()), "e1"
    for secret, key in (
        ("whsec_" + "QUJD" * 8, "whsec_" + "QUJD" * 8),
        ("old-secret", b"old-secret"),
    ):
        ours = rules.standard_sign(secret=secret, msg_id=msg_id, timestamp=stamp, body=body)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": ours}
        assert Webhook(key).verify(body, headers) == {"id": "e1"}


REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local, cloud metadata
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # ... a cloud metadata address inside it
    "0.0.0.0",  # noqa: S104  (unspecified: the address under test)
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "::",
    "::1",
    "fc00::1",  # unique local
    "fe80::1",  # link-local
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64 prefix (not global)
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:6464:64c8::1",  # 6to4 of 100.100.100.200
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped global
    "64:ff9b::808:808",  # NAT64 of a global address
    "2002:808:808::1",  # 6to4 of a global address
]


@pytest.mark.parametrize("address", REFUSED)
def test_ssrf_guard_refuses_every_non_global_address(address, settings):
    assert rules.refused_address(address) is not None
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = False
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(DestinationRefusedError, match="not globally routable"):
        resolve_destination(f"https://{host}/hook")


@pytest.mark.parametrize("address", ALLOWED)
def test_ssrf_guard_allows_global_addresses(address):
    assert rules.refused_address(address) is None


def test_allow_private_still_allows_loopback_for_development(settings):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    assert resolve_destination("http://127.0.0.1:8501/h") == (
        "http",
        "127.0.0.1",
        8501,
        "127.0.0.1",
    )


def test_a_dripping_endpoint_is_cut_at_the_deadline_and_the_attempt_fails(settings):
    """200 and headers at once, then a body byte every 0.4 s (20 bytes: 8 s). Each read alone
    is quick, so a per-read timeout never fired and the attempt counted as a success."""
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    settings.HANDOVER_WEBHOOK_TIMEOUT_SECONDS = 1.5
    with webhook_receiver(secret="drip", drip=0.4) as receiver:
        sub = WebhookSubscription.objects.create(
            url=receiver.url, event_types=["lead.mql"], secret="drip"
        )
        lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
        delivery = Delivery.objects.get(subscription=sub)
        clock = time.monotonic()
        assert delivery_attempt(delivery_id=delivery.pk) == "pending"  # failed: retried later
        took = time.monotonic() - clock
    assert took < 3.5, took
    attempt = delivery.log.get()
    assert (attempt.ok, attempt.status_code) == (False, 200)
    assert attempt.error == "Deadline exceeded after 1.5 s (reading the response)."
    assert 1400 <= attempt.duration_ms < 3500


def test_a_resolver_that_never_answers_is_cut_at_the_deadline(settings, monkeypatch):
    settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE = True
    settings.HANDOVER_WEBHOOK_TIMEOUT_SECONDS = 1
    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(host, *args, **kwargs):  # DNS leaves the machine: the one thing mocked here
        if host == "hooks.example.com":
            release.wait(10)
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    sub = WebhookSubscription.objects.create(
        url="https://hooks.example.com/h", event_types=["lead.mql"]
    )
    lead_mark_mql(lead_id=LeadFactory(stage=Stage.LEAD).pk, actor=None, source="scoring")
    delivery = Delivery.objects.get(subscription=sub)
    clock = time.monotonic()
    try:
        assert delivery_attempt(delivery_id=delivery.pk) == "pending"
    finally:
        release.set()
    assert time.monotonic() - clock < 3
    assert delivery.log.get().error == "Deadline exceeded after 1 s (resolving the host)."
