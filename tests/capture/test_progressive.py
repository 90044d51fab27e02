"""Progressive profiling: a known visitor is asked what the lead does not hold yet."""

import pytest

from capture.models import ConsentText
from capture.selectors import current_consents, fields_for_visitor
from leads.models import Identity
from tests.capture.factories import make_form
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

FIELDS = [
    {"trait": "email", "kind": "email", "required": True},
    {"trait": "company", "progressive": True},
    {"trait": "title", "progressive": True},
    {"trait": "phone", "kind": "tel", "progressive": True},
    {"trait": "budget", "progressive": True},
]


def _traits(fields):
    return [f.trait for f in fields]


def test_unknown_visitor_gets_the_first_progressive_fields():
    form = make_form(fields=FIELDS, progressive_slots=2)
    assert _traits(fields_for_visitor(form, None)) == ["email", "company", "title"]
    assert _traits(fields_for_visitor(form, "never-seen")) == ["email", "company", "title"]


def test_known_visitor_gets_the_next_unanswered_fields():
    form = make_form(fields=FIELDS, progressive_slots=2)
    lead = LeadFactory(company="Acme", job_title="CTO", phone="", traits={})
    Identity.objects.create(lead=lead, kind=Identity.Kind.ANONYMOUS_ID, value="anon-p")
    assert _traits(fields_for_visitor(form, "anon-p")) == ["email", "phone", "budget"]
    lead.phone = "+4930123"
    lead.traits = {"budget": "10k"}
    lead.save()
    assert _traits(fields_for_visitor(form, "anon-p")) == ["email"]


def test_slots_zero_shows_every_field():
    form = make_form(fields=FIELDS, progressive_slots=0)
    assert len(fields_for_visitor(form, None)) == len(FIELDS)


def test_current_consents_are_the_unretired_versions():
    form = make_form(consents=[{"key": "newsletter"}, {"key": "terms", "position": 1}])
    ConsentText.objects.filter(form=form, key="newsletter").update(retired=True)
    ConsentText.objects.create(form=form, key="newsletter", version=2, text="v2")
    assert [(c.key, c.version) for c in current_consents(form)] == [
        ("newsletter", 2),
        ("terms", 1),
    ]


def test_a_known_visitors_resubmission_with_only_the_progressive_fields(visitor):
    """The known visitor sees email + the next field: the submission is accepted without the
    fields it was not shown, and the new answer is proposed (the lead is never rewritten)."""
    from tests.capture.factories import solved_challenge

    form = make_form(fields=FIELDS, progressive_slots=1)
    lead = LeadFactory(email="pp@example.com", company="Acme")
    Identity.objects.create(lead=lead, kind=Identity.Kind.ANONYMOUS_ID, value="anon-q")
    assert _traits(fields_for_visitor(form, "anon-q")) == ["email", "title"]
    reply = visitor.submit(
        form,
        {
            "email": "pp@example.com",
            "title": "CEO",
            "lf_anonymous_id": "anon-q",
            **solved_challenge(form),
        },
    )
    assert reply.status_code == 200, reply.content
    lead.refresh_from_db()
    assert lead.job_title == ""
    assert lead.form_submissions.get().proposed_changes == {
        "title": {"current": "", "proposed": "CEO"}
    }
