"""The public submission endpoint: a submission becomes a lead through the leads services."""

import re

import pytest
from django.urls import reverse

from capture import challenge
from capture.models import ConsentRecord, ConsentText, Form, Rejection, Submission
from leadflow.roles import Role
from leads.ingest import ACTIVITY, Message, ingest
from leads.models import Activity, ActivityKind, Identity, Lead, RescoreMark
from leads.writepolicy import Caller
from privacy.models import ConsentEvent
from privacy.services import consent_record
from tests.capture.factories import make_form, solved_challenge
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

NEWSLETTER = {"key": "newsletter", "channel": "email", "text": "Send me the newsletter."}
TERMS = {"key": "terms", "required": True, "text": "I accept the terms."}


def _post(visitor, form, **answers):
    return visitor.submit(form, {**answers, **solved_challenge(form)})


def test_new_person_becomes_a_lead_with_activity_consent_record_and_consent_event(visitor):
    form = make_form(consents=[NEWSLETTER, TERMS], ip_storage="full")
    ConsentText.objects.filter(form=form, key="newsletter").update(retired=True)
    current = ConsentText.objects.create(
        form=form, key="newsletter", version=2, text="Newsletter v2", channel="email"
    )
    reply = visitor.submit(
        form,
        {
            "email": "Ann@Example.com",
            "firstName": "Ann",
            "consent.newsletter": "2",
            "consent.terms": "1",
            "lf_page": "https://shop.example/pricing?utm_source=ads&utm_campaign=spring",
            "lf_anonymous_id": "anon-new",
            **solved_challenge(form),
        },
        REMOTE_ADDR="203.0.113.77",
    )
    assert reply.status_code == 200, reply.content
    assert reply.json() == {
        "ok": True,
        "status": "accepted",
        "message": "Thank you! We have received your details.",
        "redirect_url": "",
    }
    assert reply["Access-Control-Allow-Origin"] == "https://shop.example"
    lead = Lead.objects.get(email="ann@example.com")
    assert lead.first_name == "Ann"
    assert lead.source == "web form: Newsletter"
    assert lead.utm_source == "ads"
    assert lead.utm_campaign == "spring"
    assert Identity.objects.filter(lead=lead, kind="anonymous_id", value="anon-new").exists()
    activity = Activity.objects.get(lead=lead, kind=ActivityKind.FORM_SUBMIT)
    assert activity.properties == {
        "form": form.public_id,
        "form_name": "Newsletter",
        "answers": {"email": "ann@example.com", "firstName": "Ann"},
        "page": "https://shop.example/pricing?utm_source=ads&utm_campaign=spring",
        "proposed_changes": {},
    }
    assert RescoreMark.objects.filter(lead=lead).exists()  # ingest marks it for rescoring
    submission = Submission.objects.get(form=form)
    assert (submission.lead, submission.status, submission.created_lead) == (
        lead,
        "accepted",
        True,
    )
    assert submission.ip == "203.0.113.77"
    assert submission.source == "ads"
    records = {r.consent_text.key: r for r in ConsentRecord.objects.filter(submission=submission)}
    assert records["newsletter"].consent_text == current  # the exact version shown
    assert records["terms"].consent_text.version == 1
    assert records["newsletter"].ip == "203.0.113.77"
    assert records["newsletter"].page_url.startswith("https://shop.example/pricing")
    event = ConsentEvent.objects.get(lead=lead)  # terms has no channel: no event
    assert (event.channel, event.granted, event.source) == ("email", True, "web form: Newsletter")
    assert not Rejection.objects.exists()


def test_known_lead_is_added_to_never_rewritten(visitor):
    lead = LeadFactory(email="bob@example.com", first_name="Bob", company="", job_title="CTO")
    form = make_form(fields=["email", "firstName", "company", "title"])
    reply = _post(
        visitor, form, email="BOB@example.com", firstName="Robert", company="Acme", title="CTO"
    )
    assert reply.status_code == 200, reply.content
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.job_title) == ("Bob", "", "CTO")
    submission = Submission.objects.get()
    assert submission.lead == lead
    assert not submission.created_lead
    changes = {
        "firstName": {"current": "Bob", "proposed": "Robert"},
        "company": {"current": "", "proposed": "Acme"},
    }
    assert submission.proposed_changes == changes
    activity = Activity.objects.get(lead=lead, kind=ActivityKind.FORM_SUBMIT)
    assert activity.properties["proposed_changes"] == changes
    assert Lead.objects.count() == 1


def test_a_second_submission_by_the_new_lead_adds_an_activity(visitor):
    form = make_form()
    assert _post(visitor, form, email="c@example.com", firstName="Cy").status_code == 200
    assert _post(visitor, form, email="c@example.com", firstName="Cy").status_code == 200
    lead = Lead.objects.get()
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.FORM_SUBMIT).count() == 2
    assert list(Submission.objects.values_list("created_lead", flat=True)) == [False, True]
    assert Submission.objects.filter(proposed_changes={}).count() == 2  # nothing differs


def test_earlier_anonymous_page_views_are_stitched_onto_the_new_lead(visitor):
    views = [
        Message(index=i, type=ACTIVITY, kind=ActivityKind.PAGE_VIEW, anonymous_id="anon-7", name=p)
        for i, p in enumerate(["/", "/pricing"])
    ]
    ingest(messages=views, caller=Caller(public=True))
    shell = Lead.objects.get()
    assert shell.email is None
    reply = _post(visitor, form := make_form(), email="dee@example.com", lf_anonymous_id="anon-7")
    assert reply.status_code == 200, reply.content
    lead = Lead.objects.get()  # the anonymous visitor became (or merged into) the lead
    assert lead.email == "dee@example.com"
    kinds = sorted(Activity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert kinds == ["form_submit", "page_view", "page_view"]
    assert Submission.objects.get(form=form).created_lead


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ({"firstName": "Ann"}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
        ({"email": "a@example.com", "firstName": "x" * 300}, "firstName", "at most 255"),
        ({"email": "a@example.com", "plan": "Platinum"}, "plan", "Select one of the choices"),
        ({"email": "a@example.com", "consent.terms": ""}, "consent.terms", "Please agree"),
        ({"email": "a@example.com", "consent.terms": "1"}, "consent.terms", "has changed"),
    ],
)
def test_bad_answers_are_refused_naming_the_field_and_nothing_is_stored(
    visitor, answers, field, message
):
    form = make_form(
        fields=[
            {"trait": "email", "kind": "email", "required": True},
            "firstName",
            {"trait": "plan", "kind": "select", "choices": "Free\nPro"},
        ],
        consents=[TERMS],
    )
    ConsentText.objects.filter(form=form).update(retired=True)
    ConsentText.objects.create(form=form, key="terms", version=2, text="v2", required=True)
    answers.setdefault("consent.terms", "2")
    reply = _post(visitor, form, **answers)
    assert reply.status_code == 400, reply.content
    body = reply.json()
    assert body["ok"] is False
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]
    assert message in body["errors"][field][0]
    assert not Lead.objects.exists()
    assert not Submission.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert not Activity.objects.exists()
    rejection = Rejection.objects.get()
    assert rejection.reason == "invalid"
    assert field in rejection.detail
    assert rejection.form == form
    assert rejection.excerpt.startswith("{")


def test_form_encoded_post_gets_a_thank_you_page_or_the_form_again(visitor):
    form = make_form(thank_you_message="Thanks, see you soon.", accepts_plain_posts=True)
    ok = visitor.submit(form, {"email": "e@example.com", "firstName": "Eve"}, as_json=False)
    assert ok.status_code == 200
    assert b"Thanks, see you soon." in ok.content
    assert "frame-ancestors 'self' https://shop.example" in ok["Content-Security-Policy"]
    bad = visitor.submit(form, {"email": "nope", "firstName": "Eve"}, as_json=False)
    assert bad.status_code == 400
    assert b"Enter a valid e-mail address." in bad.content
    assert b'value="Eve"' in bad.content  # what the visitor typed is kept
    assert Lead.objects.count() == 1


def test_plain_post_without_a_challenge_is_shown_again_and_counts_from_there(visitor):
    """By default a plain HTML post cannot count at once (it answered no challenge): LeadFlow's
    own page shows it again, filled in and with any field errors, and a fresh challenge; it is
    not a rejection, and nothing is stored until it is sent from there."""
    form = make_form(min_fill_seconds=3)
    first = visitor.submit(form, {"email": "p@", "firstName": "Pat"}, as_json=False)
    assert first.status_code == 200
    assert b"Please check your answers and send the form again." in first.content
    assert b"Enter a valid e-mail address." in first.content
    assert b'value="Pat"' in first.content
    assert not Lead.objects.exists()
    assert not Submission.objects.exists()
    assert not Rejection.objects.exists()
    token = re.search(rb'name="lf_token" value="([^"]+)"', first.content).group(1).decode()
    proof = challenge.solve(token, challenge.difficulty())
    # the fill time was spent on the host page: sent at once from here, it is not "too fast"
    again = {"email": "p@example.com", "firstName": "Pat", "lf_token": token, "lf_proof": proof}
    assert visitor.submit(form, again, as_json=False).status_code == 200
    assert Lead.objects.get().email == "p@example.com"


def test_form_encoded_post_is_redirected_when_the_form_says_so(visitor):
    form = make_form(redirect_url="https://shop.example/thanks", accepts_plain_posts=True)
    bad = visitor.submit(form, {"email": "f@"}, as_json=False)
    assert bad.status_code == 400
    assert "form-action 'self' https://shop.example" in bad["Content-Security-Policy"]
    reply = visitor.submit(form, {"email": "f@example.com"}, as_json=False)
    assert reply.status_code == 303
    assert reply["Location"] == "https://shop.example/thanks"


@pytest.mark.parametrize(
    ("mode", "ip", "stored"),
    [
        ("full", "198.51.100.23", "198.51.100.23"),
        ("truncated", "198.51.100.23", "198.51.100.0"),
        ("truncated", "2001:db8:abcd:12:1::5", "2001:db8:abcd::"),
        ("none", "198.51.100.23", None),
    ],
)
def test_consent_record_keeps_the_ip_as_the_form_says(visitor, mode, ip, stored):
    form = make_form(consents=[NEWSLETTER], ip_storage=mode)
    data = {"email": "g@example.com", "consent.newsletter": "1", **solved_challenge(form)}
    assert visitor.submit(form, data, REMOTE_ADDR=ip).status_code == 200
    assert ConsentRecord.objects.get().ip == stored
    assert Submission.objects.get().ip == stored


def test_progressive_field_not_shown_is_not_required(visitor):
    form = make_form(
        fields=[
            {"trait": "email", "kind": "email", "required": True},
            {"trait": "company", "required": True, "progressive": True},
        ],
        progressive_slots=1,
    )
    assert _post(visitor, form, email="h@example.com").status_code == 200
    shown_but_empty = _post(visitor, form, email="h@example.com", company="")
    assert shown_but_empty.status_code == 400
    assert list(shown_but_empty.json()["errors"]) == ["company"]


def test_draft_form_is_unknown(visitor):
    form = make_form(status=Form.Status.DRAFT)
    reply = _post(visitor, form, email="i@example.com")
    assert reply.status_code == 404
    assert Rejection.objects.get().reason == "unknown_form"


def test_the_lead_page_shows_the_proposed_changes(visitor, client):
    lead = LeadFactory(email="tl@example.com", first_name="Tom")
    form = make_form(name="Contact us")
    reply = _post(visitor, form, email="tl@example.com", firstName="Thomas")
    assert reply.status_code == 200
    client.force_login(UserFactory(role=Role.MARKETER))
    html = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "Form submitted: Contact us" in html
    assert "Proposed changes, not applied" in html
    assert "firstName: Tom → Thomas" in html


def test_a_new_person_on_a_known_persons_browser_gets_a_lead_of_their_own(visitor):
    """The anonymous id names Ann's lead (she used this computer); Ben types his own address:
    Ben becomes a lead, Ann's lead gets nothing."""
    ann = LeadFactory(email="ann@example.com", first_name="Ann")
    Identity.objects.create(lead=ann, kind=Identity.Kind.ANONYMOUS_ID, value="shared-pc")
    form = make_form()
    reply = _post(
        visitor, form, email="ben@example.com", firstName="Ben", lf_anonymous_id="shared-pc"
    )
    assert reply.status_code == 200, reply.content
    ben = Lead.objects.get(email="ben@example.com")
    assert ben.first_name == "Ben"
    submission = Submission.objects.get()
    assert submission.lead == ben
    assert submission.created_lead
    assert not Activity.objects.filter(lead=ann).exists()
    assert Identity.objects.get(value="shared-pc").lead == ann


def test_consent_sent_as_true_instead_of_its_version_is_refused(visitor):
    form = make_form(consents=[NEWSLETTER])
    reply = _post(visitor, form, email="t@example.com", **{"consent.newsletter": True})
    assert reply.status_code == 400
    assert list(reply.json()["errors"]) == ["consent.newsletter"]


def test_a_form_does_not_sign_up_again_a_known_person_who_withdrew(visitor):
    lead = LeadFactory(email="gone@example.com")
    consent_record(lead_id=lead.pk, channel="email", granted=False, source="unsubscribe link")
    form = make_form(consents=[NEWSLETTER])
    reply = _post(visitor, form, email="gone@example.com", **{"consent.newsletter": "1"})
    assert reply.status_code == 200
    lead.refresh_from_db()
    assert lead.email_opt_out
    assert ConsentEvent.objects.filter(lead=lead, granted=True).count() == 0
    assert ConsentRecord.objects.get().consent_text.key == "newsletter"  # what was ticked
    assert Submission.objects.get().proposed_changes == {
        "consent.newsletter": {"current": "withdrawn", "proposed": "granted"}
    }


def test_a_known_persons_submission_from_another_site_is_a_form_touch(visitor):
    """The referrer travels on the activity: attribution counts the submission as a touch from
    the referring site even when the lead already exists (its source stays the first one)."""
    from attribution.models import Touch
    from attribution.services import refresh_marked

    form = make_form()
    known = LeadFactory(email="kim@example.com", source="trade fair")
    reply = _post(
        visitor,
        form,
        email="kim@example.com",
        lf_page="https://shop.example/demo",
        lf_referrer="https://www.linkedin.com/feed/",
    )
    assert reply.status_code == 200, reply.content
    activity = Activity.objects.get(lead=known, kind=ActivityKind.FORM_SUBMIT)
    assert activity.properties["referrer"] == "https://www.linkedin.com/feed/"
    refresh_marked()
    touches = Touch.objects.filter(lead=known).order_by("occurred_at")
    assert list(touches.values_list("kind", "source", "medium")) == [
        ("created", "trade fair", ""),
        ("form", "linkedin.com", "referral"),
    ]
