"""Consent per channel and the RFC 8058 one-click unsubscribe: immediate, for every path."""

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from handover.models import Delivery, DeliveryAttempt, Notification
from handover.outbox import SUPPRESSED, OutboxBatch, deliver_batch
from leadflow.models import AuditEvent
from leads.models import Activity, ActivityKind
from privacy.models import ConsentEvent
from privacy.services import (
    consent_record,
    consent_state,
    list_unsubscribe_headers,
    unsubscribe_token,
)
from tests.leads.factories import LeadFactory
from tests.worker import celery_worker, wait_until


def _notify(lead, recipient, count=1):
    with transaction.atomic():
        batch = OutboxBatch()
        for n in range(count):
            batch.notify(
                recipient_id=recipient.pk, kind="test", title=f"About {n}", lead_id=lead.pk
            )
        return batch.flush()


@pytest.mark.django_db
def test_one_click_post_unsubscribes_without_csrf_and_records_everything():
    lead = LeadFactory()
    url = reverse("privacy:unsubscribe", args=[unsubscribe_token(lead_id=lead.pk)])
    browser = Client(enforce_csrf_checks=True)  # a mail provider has no session, no CSRF token
    page = browser.get(url)
    assert page.status_code == 200
    assert b"Unsubscribe" in page.content
    lead.refresh_from_db()
    assert not lead.email_opt_out  # GET (link scanners, previews) changes nothing
    response = browser.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    lead.refresh_from_db()
    assert lead.email_opt_out
    assert lead.email_opt_out_at is not None
    event = ConsentEvent.objects.get(lead=lead)
    assert (event.channel, event.granted, event.source) == ("email", False, "one-click unsubscribe")
    activity = Activity.objects.get(lead=lead, kind=ActivityKind.UNSUBSCRIBE)  # scoring's input
    assert activity.source == "privacy"
    lead.refresh_from_db()
    assert lead.rescore_marks.exists()
    assert AuditEvent.objects.filter(action="consent.withdraw", target_id=str(lead.pk)).exists()
    # a second click is harmless: no second activity
    browser.post(url)
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.UNSUBSCRIBE).count() == 1


@pytest.mark.django_db
def test_bad_tokens_are_refused(client):
    lead = LeadFactory()
    token = unsubscribe_token(lead_id=lead.pk)
    for bad in (token[:-3] + "xyz", "nonsense", token.replace(":", "")):
        response = client.post(reverse("privacy:unsubscribe", args=[bad]))
        assert response.status_code == 400
    lead.refresh_from_db()
    assert not lead.email_opt_out


@pytest.mark.django_db
def test_a_merged_leads_old_link_unsubscribes_the_survivor(admin_user):
    from privacy.merge import lead_merge
    from privacy.services import unsubscribe

    survivor, merged = LeadFactory(), LeadFactory()
    token = unsubscribe_token(lead_id=merged.pk)  # sent in an e-mail before the merge
    lead_merge(survivor_id=survivor.pk, duplicate_id=merged.pk, actor=admin_user)
    assert unsubscribe(token=token) == survivor.pk
    survivor.refresh_from_db()
    assert survivor.email_opt_out


def test_list_unsubscribe_headers():
    headers = list_unsubscribe_headers(lead_id=7)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<http")
    assert "/privacy/unsubscribe/" in headers["List-Unsubscribe"]


@pytest.mark.django_db
def test_after_unsubscribe_no_email_about_the_lead_is_queued_or_sent(rep, manager):
    lead, other = LeadFactory(), LeadFactory()
    pending = _notify(lead, rep, 3)  # queued before (not yet delivered)
    consent_record(lead_id=lead.pk, channel="email", granted=False, source="test")
    assert set(Delivery.objects.filter(pk__in=pending).values_list("status", "last_error")) == {
        ("dead", SUPPRESSED)
    }
    mail.outbox.clear()
    assert _notify(lead, rep, 2) == []  # nothing queued after
    assert Notification.objects.filter(lead=lead).count() == 5  # the in-app list still tells reps
    assert len(_notify(other, rep, 1)) == 1  # other leads are unaffected
    deliver_batch(delivery_ids=list(Delivery.objects.values_list("pk", flat=True)))
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_claimed_email_is_refused_at_send_time(rep):
    lead = LeadFactory()
    ids = _notify(lead, rep, 1)
    lead.email_opt_out = True  # as if the unsubscribe committed after the worker claimed the row
    lead.save(update_fields=["email_opt_out"])
    assert deliver_batch(delivery_ids=ids) == {ids[0]: "dead"}
    attempt = DeliveryAttempt.objects.get(delivery_id=ids[0])
    assert (attempt.ok, attempt.error) == (False, SUPPRESSED)
    assert mail.outbox == []


@pytest.mark.django_db
def test_consent_per_channel_via_api(marketer, rep):
    lead = LeadFactory()
    api = APIClient()
    api.force_authenticate(marketer)
    url = f"/api/v1/privacy/leads/{lead.pk}/consent/"
    assert (
        api.post(url, {"channel": "email", "granted": True, "source": "web form"}).status_code
        == 201
    )
    assert (
        api.post(url, {"channel": "phone", "granted": False, "source": "call"}).status_code == 201
    )
    state = api.get(f"/api/v1/privacy/leads/{lead.pk}/consent-state/").json()
    assert state["consent"]["email"]["granted"] is True
    assert state["consent"]["phone"]["granted"] is False
    assert state["do_not_call"] is True
    assert state["email_opt_out"] is False
    bad = api.post(url, {"channel": "pigeon", "granted": True, "source": "x"})
    assert bad.status_code == 400
    assert "channel" in bad.json()["error"]["fields"]
    api.force_authenticate(rep)  # reps have no consent permission
    assert api.post(url, {"channel": "email", "granted": False, "source": "x"}).status_code == 403
    assert consent_state(lead=lead)["phone"]["source"] == "call"


@pytest.mark.worker
def test_real_worker_100_queued_unsubscribe_none_delivered_after(live_celery, monkeypatch):
    from tests.leads.factories import UserFactory

    live_celery.control.purge()
    monkeypatch.setenv("DJANGO_EMAIL_BACKEND", "tests.privacy.slow_email.SlowEmailBackend")
    rep = UserFactory(username="worker-rep")
    lead = LeadFactory()

    def delivered() -> int:
        return Delivery.objects.filter(status="delivered").count()

    with celery_worker():
        ids = _notify(lead, rep, 100)  # two tasks of 50 go to the broker on commit
        assert len(ids) == 100
        assert wait_until(lambda: delivered() >= 5, timeout=60), "the worker delivered nothing"
        consent_record(lead_id=lead.pk, channel="email", granted=False, source="one-click")
        committed = timezone.now()
        assert wait_until(
            lambda: not Delivery.objects.filter(status__in=["pending", "sending"]).exists(),
            timeout=60,
        )
    sent_after = DeliveryAttempt.objects.filter(ok=True, started_at__gt=committed).count()
    suppressed = Delivery.objects.filter(status="dead", last_error=SUPPRESSED).count()
    assert sent_after == 0
    assert delivered() + suppressed == 100
    assert suppressed > 0, "everything went out before the unsubscribe: nothing was tested"
    assert _notify(lead, rep, 1) == []  # and nothing new is queued
    print(f"\nunsubscribe with a real worker: {delivered()} before, {suppressed} suppressed")  # noqa: T201
