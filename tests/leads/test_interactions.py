"""Issue 17: a rep logs a call, meeting or e-mail on a lead page — the rules, the form, the
view, who may, the timeline, the audit, and the same kinds through the event API."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads import interactions, services
from leads.forms import InteractionForm
from leads.models import Activity, ActivityKind, RescoreMark, Team
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _local(dt):
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def _post(**fields):
    data = {
        "kind": "sales_call",
        "outcome": "connected",
        "duration_minutes": "12",
        "occurred_at": _local(timezone.now() - timedelta(minutes=5)),
        "notes": "Wants pricing for 40 seats",
        **fields,
    }
    return {f"log-{k}": v for k, v in data.items()}


@pytest.fixture
def rita():
    return UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita", last_name="Rep")


@pytest.fixture
def her_lead(rita):
    return LeadFactory(owner=rita, first_name="Lena")


# --- the rules (pure) ----------------------------------------------------------------------------


def test_every_kind_has_its_outcomes_and_bad_values_are_named():
    now = timezone.now()
    ok = interactions.interaction_errors(
        kind="sales_meeting", outcome="no_show", duration_minutes=None, occurred_at=now, now=now
    )
    assert ok == {}
    errors = interactions.interaction_errors(
        kind="sales_email",
        outcome="connected",  # a call's outcome
        duration_minutes=5,  # e-mails have none
        occurred_at=now + timedelta(minutes=2),
        notes="x" * 5001,
        now=now,
    )
    assert set(errors) == {"outcome", "duration_minutes", "occurred_at", "notes"}
    assert "sent, replied" in errors["outcome"]
    for minutes in (0, 481, -3, True, 1.5):
        errors = interactions.interaction_errors(
            kind="sales_call",
            outcome="no_answer",
            duration_minutes=minutes,
            occurred_at=now,
            now=now,
        )
        assert "1 to 480" in errors["duration_minutes"], minutes
    old = interactions.interaction_errors(
        kind="sales_call",
        outcome="no_answer",
        duration_minutes=None,
        occurred_at=now - timedelta(days=367),
        now=now,
    )
    assert "more than a year ago" in old["occurred_at"]
    # within a minute ahead is a clock difference, not the future
    assert not interactions.interaction_errors(
        kind="sales_call",
        outcome="no_answer",
        duration_minutes=None,
        occurred_at=now + timedelta(seconds=50),
        now=now,
    )
    assert interactions.interaction_errors(
        kind="page_view", outcome="x", duration_minutes=None, occurred_at=now, now=now
    ).keys() == {"kind"}


def test_labels_read_like_a_sentence():
    label = interactions.interaction_label
    assert label("sales_call", {"outcome": "connected", "duration_minutes": 12}) == (
        "Call — connected, 12 min"
    )
    assert label("sales_meeting", {"outcome": "no_show"}) == "Meeting — no-show"
    assert label("sales_email", {"outcome": "replied"}) == "E-mail — replied"
    assert label("sales_call", {"outcome": "<b>", "duration_minutes": "9"}) == "Call"


# --- the service ---------------------------------------------------------------------------------


def test_service_stores_one_scored_activity_by_the_actor_and_an_audit_row(rita, her_lead):
    at = timezone.now() - timedelta(hours=2)
    activity = services.interaction_log(
        lead_id=her_lead.pk,
        actor=rita,
        kind="sales_call",
        outcome="left_voicemail",
        occurred_at=at,
        duration_minutes=2,
        notes="  call back Friday  ",
    )
    activity.refresh_from_db()
    assert (activity.kind, activity.actor, activity.occurred_at, activity.source) == (
        ActivityKind.SALES_CALL,
        rita,
        at,
        "ui",
    )
    assert activity.properties == {
        "outcome": "left_voicemail",
        "duration_minutes": 2,
        "notes": "call back Friday",
    }
    assert RescoreMark.objects.filter(lead=her_lead).exists()
    audit = AuditEvent.objects.get(action="lead.log_interaction")
    assert (audit.actor, audit.target_id, audit.details["activity_id"]) == (
        rita,
        str(her_lead.pk),
        activity.pk,
    )


def test_service_refuses_bad_input_and_writes_nothing(rita, her_lead):
    with pytest.raises(ValidationError) as caught:
        services.interaction_log(
            lead_id=her_lead.pk,
            actor=rita,
            kind="sales_meeting",
            outcome="sent",
            occurred_at=timezone.now() + timedelta(days=1),
            duration_minutes=600,
        )
    assert set(caught.value.message_dict) == {"outcome", "occurred_at", "duration_minutes"}
    assert not Activity.objects.exists()
    assert not AuditEvent.objects.filter(action="lead.log_interaction").exists()
    assert not RescoreMark.objects.filter(lead=her_lead).exists()


# --- the form and the page -----------------------------------------------------------------------


def test_form_names_every_bad_field():
    form = InteractionForm(
        _post(
            kind="sales_email",
            outcome="held",
            duration_minutes="lots",
            occurred_at="2015-01-01T10:00",
            notes="n" * 5001,
        ),
        prefix="log",
    )
    assert not form.is_valid()
    assert set(form.errors) == {"outcome", "duration_minutes", "occurred_at", "notes"}
    assert "Enter a whole number." in form.errors["duration_minutes"]
    missing = InteractionForm({}, prefix="log")
    assert not missing.is_valid()
    assert set(missing.errors) == {"kind", "outcome", "occurred_at"}


def test_rep_logs_a_call_and_sees_it_on_the_timeline(client, rita, her_lead):
    client.force_login(rita)
    page = client.get(reverse("leads:detail", args=[her_lead.pk])).content.decode()
    assert "Log a call, meeting or e-mail" in page
    response = client.post(reverse("leads:interaction_create", args=[her_lead.pk]), _post(), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Call — connected, 12 min" in html
    assert "Rita Rep" in html  # who logged it
    assert "Wants pricing for 40 seats" in html
    assert Activity.objects.get().actor == rita


def test_without_javascript_success_redirects_and_errors_render_the_page(client, rita, her_lead):
    client.force_login(rita)
    url = reverse("leads:interaction_create", args=[her_lead.pk])
    done = client.post(url, _post(kind="sales_meeting", outcome="held", duration_minutes="45"))
    assert done.status_code == 302
    assert Activity.objects.get().properties["outcome"] == "held"
    bad = client.post(url, _post(kind="sales_email", outcome="sent", duration_minutes="5"))
    assert bad.status_code == 422
    html = bad.content.decode()
    assert 'id="id_log-duration_minutes_error"' in html
    assert "has no duration" in html
    assert Activity.objects.count() == 1


def test_htmx_errors_come_back_in_the_form_with_what_was_typed(client, rita, her_lead):
    client.force_login(rita)
    response = client.post(
        reverse("leads:interaction_create", args=[her_lead.pk]),
        _post(outcome="held", notes="<script>x</script>"),
        **HTMX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Choose the outcome of the call: connected" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x" not in html
    assert not Activity.objects.exists()


def test_only_people_who_may_edit_the_lead_may_log(client, rita, her_lead):
    url = reverse("leads:interaction_create", args=[her_lead.pk])
    other = UserFactory(username="otto", role=Role.SALES_REP)
    client.force_login(other)
    assert client.post(url, _post(), **HTMX).status_code == 404  # cannot even see it
    viewer = UserFactory(username="viewer")  # sees every lead, may change none
    viewer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="leads", codename__in=["view_lead", "view_all_leads"]
        )
    )
    client.force_login(viewer)
    assert client.post(url, _post(), **HTMX).status_code == 403
    page = client.get(reverse("leads:detail", args=[her_lead.pk])).content.decode()
    assert "Log a call" not in page
    # a teammate sees the team's lead and may change it
    team = Team.objects.create(name="Inside")
    team.members.add(rita, other)
    her_lead.team = team
    her_lead.save(update_fields=["team"])
    client.force_login(other)
    assert client.post(url, _post(), **HTMX).status_code == 200
    assert Activity.objects.get().actor == other


def test_the_form_needs_csrf(rita, her_lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita)
    url = reverse("leads:interaction_create", args=[her_lead.pk])
    assert client.post(url, _post()).status_code == 403
    assert not Activity.objects.exists()


def test_timeline_shows_the_year_only_when_it_is_not_this_year(client, rita, her_lead):
    now = timezone.localtime()
    last_year = now.replace(year=now.year - 1, month=6, day=15, hour=10, minute=0)
    ActivityFactory(lead=her_lead, occurred_at=last_year)
    ActivityFactory(lead=her_lead, occurred_at=now - timedelta(minutes=1))
    client.force_login(rita)
    html = client.get(reverse("leads:detail", args=[her_lead.pk])).content.decode()
    assert f"15 Jun {now.year - 1} 10:00" in html
    assert f"{now:%d %b} {now.year}" not in html.split('id="timeline-h"')[1].split("</ol>")[0]


# --- the event API takes the same kinds, by the same rules -----------------------------------------


@pytest.fixture
def api(make_api_key):
    secret, _ = make_api_key("leads:read", "leads:write", "events:write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_event_api_accepts_logged_kinds_and_checks_them(api):
    lead = LeadFactory(email="api@x.example")
    ok = api.post(
        "/api/v1/events/",
        {
            "lead": lead.pk,
            "kind": "sales_meeting",
            "properties": {"outcome": "held", "duration_minutes": 30},
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert Activity.objects.get(lead=lead).kind == "sales_meeting"
    bad = api.post(
        "/api/v1/events/",
        {"lead": lead.pk, "kind": "sales_call", "properties": {"duration_minutes": 999}},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"].keys() >= {
        "properties.outcome",
        "properties.duration_minutes",
    }
    batch = api.post(
        "/api/v1/events/batch/",
        {
            "events": [
                {"lead": lead.pk, "kind": "sales_email", "properties": {"outcome": "replied"}},
                {"lead": lead.pk, "kind": "sales_email", "properties": {"outcome": "opened"}},
            ]
        },
        format="json",
    )
    body = batch.json()
    assert body["stored"] == 1
    assert [e["index"] for e in body["errors"]] == [1]
    assert Activity.objects.filter(lead=lead).count() == 2


def test_openapi_schema_lists_the_new_kinds(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    kinds = schema["components"]["schemas"]["ActivityKindEnum"]["enum"]
    assert {"sales_call", "sales_meeting", "sales_email"} <= set(kinds)
    event = schema["components"]["schemas"]["EventInputRequest"]["properties"]["kind"]
    assert "ActivityKindEnum" in str(event)
    assert "properties.outcome" in str(event)
