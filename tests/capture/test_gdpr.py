"""A person's form submissions and consent records are in their export and go with their
erasure; rejected submissions are kept for review only for a while."""

from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import ConsentRecord, Rejection, Submission
from capture.submit import rejections_purge
from leads.models import Lead
from privacy.gdpr import lead_erase, lead_export
from tests.capture.factories import make_form, solved_challenge

pytestmark = pytest.mark.django_db

NEWSLETTER = {"key": "newsletter", "channel": "email", "text": "Send me the newsletter."}


def _submitted(visitor, email="ada@example.com"):
    form = make_form(consents=[NEWSLETTER], ip_storage="full")
    data = {
        "email": email,
        "firstName": "Ada",
        "consent.newsletter": "1",
        "lf_page": "https://shop.example/landing?utm_source=news",
        **solved_challenge(form),
    }
    assert visitor.submit(form, data, REMOTE_ADDR="198.51.100.7").status_code == 200
    return form, Lead.objects.get(email=email)


def test_the_export_holds_the_submissions_and_the_consent_text_agreed_to(visitor):
    form, lead = _submitted(visitor)
    data = lead_export(lead_id=lead.pk, actor=None)
    [submission] = data["form_submissions"]
    assert submission["answers"]["firstName"] == "Ada"
    assert submission["ip"] == "198.51.100.7"
    [consent] = data["form_consents"]
    assert (consent["consent"], consent["version"]) == ("newsletter", 1)
    assert consent["text"] == "Send me the newsletter."


def test_erasure_clears_the_answers_pages_and_addresses_but_keeps_the_counts(visitor):
    form, lead = _submitted(visitor)
    Rejection.objects.create(
        form=form, reason="invalid", excerpt='{"email": "ada@example.com", "x": 1}'
    )
    lead_erase(lead_id=lead.pk, actor=None)
    submission = Submission.objects.get()
    assert submission.answers == {}
    assert (submission.page_url, submission.anonymous_id, submission.ip) == ("", "", None)
    assert submission.created_lead  # the form's figures stay right
    record = ConsentRecord.objects.get()
    assert (record.page_url, record.ip) == ("", None)
    assert record.consent_text.version == 1
    assert "ada@example.com" not in Rejection.objects.get().excerpt


def test_rejections_older_than_the_retention_are_purged(settings):
    settings.LEADFLOW_CAPTURE_REJECTION_DAYS = 30
    form = make_form()
    old = Rejection.objects.create(form=form, reason="honeypot")
    Rejection.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    recent = Rejection.objects.create(form=form, reason="honeypot")
    assert rejections_purge() == 1
    assert list(Rejection.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_rejection_keeps_the_address_as_the_form_says(visitor):
    form = make_form(ip_storage="truncated")
    reply = visitor.submit(
        form, {"email": "x@example.com", "lf_website": "bot"}, REMOTE_ADDR="203.0.113.77"
    )
    assert reply.status_code == 403
    assert Rejection.objects.get().ip == "203.0.113.0"
