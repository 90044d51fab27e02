"""Double opt-in: consent counts only from the click on the e-mailed link."""

import re
import time

import pytest
from django.core import mail, signing

from capture import doi
from capture.models import ConsentRecord, Submission
from leads.ingest import ACTIVITY, Message, ingest
from leads.models import Activity, ActivityKind, Lead
from leads.writepolicy import Caller
from privacy.models import ConsentEvent
from tests.capture.factories import make_form, solved_challenge
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

NEWSLETTER = {"key": "newsletter", "channel": "email", "text": "Send me the newsletter."}


def _submit(visitor, form, capture, **answers):
    data = {"email": "doi@example.com", "consent.newsletter": "1", **answers}
    # the visitor client runs what the commit left: the worker's task, then its e-mail
    return visitor.submit(form, {**data, **solved_challenge(form)})


def _link() -> str:
    assert len(mail.outbox) == 1
    found = re.search(r"https?://\S+/f/confirm/\S+", str(mail.outbox[0].body))
    assert found, mail.outbox[0].body
    return found.group(0)


def _path(link: str) -> str:
    return link[link.index("/f/confirm/") :]


def test_pending_until_the_click_then_confirmed_once(visitor, django_capture_on_commit_callbacks):
    form = make_form(double_opt_in=True, consents=[NEWSLETTER], name="Webinar")
    reply = _submit(visitor, form, django_capture_on_commit_callbacks)
    assert reply.status_code == 200, reply.content
    assert reply.json()["status"] == "pending"
    assert "e-mail" in reply.json()["message"]
    submission = Submission.objects.get()
    assert submission.status == "pending"
    record = ConsentRecord.objects.get()
    assert record.confirmed_at is None
    assert not ConsentEvent.objects.exists()  # no consent before the click
    message = mail.outbox[0]
    assert message.to == ["doi@example.com"]
    assert message.subject == "Please confirm: Webinar"

    path = _path(_link())
    shown = visitor.get(path)  # what a mail scanner's prefetch does: nothing changes
    assert shown.status_code == 200
    assert b'<form method="post">' in shown.content
    submission.refresh_from_db()
    assert submission.status == "pending"
    assert not ConsentEvent.objects.exists()

    clicked = visitor.post(path)
    assert clicked.status_code == 200
    assert b"Confirmed. Thank you!" in clicked.content
    submission.refresh_from_db()
    record.refresh_from_db()
    assert submission.status == "confirmed"
    assert submission.confirmed_at is not None
    assert record.confirmed_at == submission.confirmed_at
    event = ConsentEvent.objects.get()
    assert (event.lead_id, event.channel, event.granted) == (submission.lead_id, "email", True)
    assert event.source == "web form: Webinar (double opt-in)"

    again = visitor.post(path)
    assert again.status_code == 200
    assert b"Already confirmed" in again.content
    assert ConsentEvent.objects.count() == 1
    assert b"Already confirmed" not in visitor.get(path).content  # GET: no button, no change
    assert b"<button" not in visitor.get(path).content


@pytest.mark.parametrize("case", ["nonsense", "expired", "other_salt"])
def test_bad_or_expired_link_is_a_clear_400(visitor, case, monkeypatch):
    submission_id, token = 1, case
    if case == "expired":
        real = time.time
        monkeypatch.setattr(signing.time, "time", lambda: real() - 8 * 86400)
        token = doi.confirmation_token(submission_id)
        monkeypatch.setattr(signing.time, "time", real)
    elif case == "other_salt":
        token = signing.dumps({"s": submission_id}, salt="something.else")
    for method in (visitor.get, visitor.post):
        reply = method(f"/f/confirm/{token}")
        assert reply.status_code == 400
        assert b"wrong or has expired" in reply.content


def test_the_e_mail_is_written_in_the_visitors_language(
    visitor, django_capture_on_commit_callbacks, monkeypatch
):
    seen = []
    render = doi.render_to_string

    def spy(*args, **kwargs):
        from django.utils import translation

        seen.append(translation.get_language())
        return render(*args, **kwargs)

    monkeypatch.setattr(doi, "render_to_string", spy)
    form = make_form(double_opt_in=True, consents=[NEWSLETTER])
    data = {"email": "de@example.com", "consent.newsletter": "1", **solved_challenge(form)}
    reply = visitor.submit(form, data, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert reply.status_code == 200
    assert seen == ["de"]


def test_double_opt_in_needs_an_e_mail_field(visitor):
    form = make_form(double_opt_in=True, fields=["firstName"])
    reply = visitor.submit(form, {"firstName": "Nomail", **solved_challenge(form)})
    assert reply.status_code == 400
    assert list(reply.json()["errors"]) == ["email"]


def test_the_click_stitches_a_known_leads_page_views(visitor, django_capture_on_commit_callbacks):
    """A public form may not link a known person's lead to a browser; the click proves the
    mailbox, so only then do the visitor's anonymous page views move to the lead."""
    lead = LeadFactory(email="known@example.com")
    ingest(
        messages=[
            Message(index=0, type=ACTIVITY, kind=ActivityKind.PAGE_VIEW, anonymous_id="anon-k")
        ],
        caller=Caller(public=True),
    )
    form = make_form(double_opt_in=True, consents=[NEWSLETTER])
    reply = _submit(
        visitor,
        form,
        django_capture_on_commit_callbacks,
        email="known@example.com",
        lf_anonymous_id="anon-k",
    )
    assert reply.status_code == 200
    assert not Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEW).exists()
    assert visitor.post(_path(_link())).status_code == 200
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEW).count() == 1
    assert Lead.objects.count() == 1  # the anonymous visitor merged into the lead
