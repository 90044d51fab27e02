"""The integration API on leads: upsert, filters, lifecycle endpoints, events, visibility."""

import pytest
from rest_framework.test import APIClient

from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange, Team
from tests.leads.factories import LeadFactory, UserFactory


def keyed(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api(make_api_key):
    secret, _ = make_api_key("leads:read", "leads:write", "events:write")
    return keyed(secret)


@pytest.mark.django_db
def test_create_is_an_upsert_by_email_or_external_id(api):
    created = api.post(
        "/api/v1/leads/", {"email": "Up@Sert.example", "company": "A"}, format="json"
    )
    assert created.status_code == 201
    same = api.post(
        "/api/v1/leads/",
        {"email": "up@sert.example", "external_id": "crm-1", "company": "B"},
        format="json",
    )
    assert same.status_code == 200
    assert same.json()["id"] == created.json()["id"]
    by_ext = api.post("/api/v1/leads/", {"external_id": "crm-1", "job_title": "CTO"}, format="json")
    assert by_ext.json()["id"] == created.json()["id"]
    lead = Lead.objects.get()
    assert (lead.company, lead.external_id, lead.job_title) == ("B", "crm-1", "CTO")
    assert StageChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_upsert_naming_two_different_leads_is_409(api):
    LeadFactory(email="one@x.example")
    LeadFactory(email="two@x.example", external_id="ext-2")
    response = api.post(
        "/api/v1/leads/", {"email": "one@x.example", "external_id": "ext-2"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "identity_conflict"


@pytest.mark.django_db
def test_unknown_fields_and_wrong_types_are_named(api):
    response = api.post("/api/v1/leads/", {"email": "x@y.example", "favourite": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"favourite": ["Unknown field."]}
    wrong = api.post("/api/v1/leads/", {"email": ["x"]}, format="json")
    assert wrong.status_code == 400
    assert "email" in wrong.json()["error"]["fields"]
    malformed = api.post("/api/v1/leads/", "{oops", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "parse_error"
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_patch_cannot_write_stage(api):
    lead = LeadFactory(stage=Stage.LEAD)
    response = api.patch(
        f"/api/v1/leads/{lead.pk}/", {"stage": "customer", "company": "Z"}, format="json"
    )
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.stage, lead.company) == (Stage.LEAD, "Z")


@pytest.mark.django_db
def test_lifecycle_endpoints_walk_the_funnel_and_refuse_a_bad_move(api):
    lead = LeadFactory(stage=Stage.SUSPECT)
    base = f"/api/v1/leads/{lead.pk}"
    assert api.post(f"{base}/qualify/", {}, format="json").json()["stage"] == "lead"
    assert (
        api.post(f"{base}/mark-mql/", {"reason": "score"}, format="json").json()["stage"] == "mql"
    )
    bad = api.post(f"{base}/convert/", {}, format="json")
    assert bad.status_code == 409
    assert bad.json()["error"]["code"] in {"invalid_transition", "transition_not_permitted"}
    not_theirs = api.post(f"{base}/disqualify/", {"reason": "competitor"}, format="json")
    assert not_theirs.status_code == 403  # integrations may not disqualify (the table says so)
    assert not_theirs.json()["error"]["code"] == "transition_not_permitted"
    history = [(h["from_stage"], h["to_stage"]) for h in api.get(f"{base}/history/").json()]
    assert history == [("", "suspect"), ("suspect", "lead"), ("lead", "mql")]
    assert StageChange.objects.filter(lead=lead, source="api").count() == 2

    won = LeadFactory(stage=Stage.SQL)
    no_reason = api.post(f"/api/v1/leads/{won.pk}/recycle/", {}, format="json")
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["fields"]
    converted = api.post(
        f"/api/v1/leads/{won.pk}/convert/", {"deal_value": "1200.50"}, format="json"
    )
    assert converted.json()["stage"] == "customer"
    won.refresh_from_db()
    assert str(won.deal_value) == "1200.50"


@pytest.mark.django_db
def test_filters_and_cursor_pages(api):
    for n in range(5):
        LeadFactory(stage=Stage.MQL, industry="Software", country="DE", score=10 * n)
    LeadFactory(stage=Stage.MQL, industry="Retail", country="DE", score=99)
    page = api.get("/api/v1/leads/?industry=software&score_min=20&page_size=2").json()
    assert len(page["results"]) == 2
    assert all(r["industry"] == "Software" and r["score"] >= 20 for r in page["results"])
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    assert rest["next"] is None


@pytest.mark.django_db
def test_events_single_and_batch(api):
    lead = LeadFactory(email="ev@x.example")
    one = api.post(
        "/api/v1/events/",
        {"email": "ev@x.example", "kind": "webinar", "message_id": "w-1"},
        format="json",
    )
    assert one.status_code == 201
    assert one.json()["lead"] == lead.pk
    again = api.post(
        "/api/v1/events/",
        {"email": "ev@x.example", "kind": "webinar", "message_id": "w-1"},
        format="json",
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == one.json()["id"]
    batch = api.post(
        "/api/v1/events/batch/",
        {
            "events": [
                {"lead": lead.pk, "kind": "download", "message_id": "d-1"},
                {"lead": lead.pk, "kind": "teleport"},
                {"kind": "download"},
                {"lead": 999999, "kind": "download"},
                {"external_id": "new-ext", "kind": "trial", "occurred_at": "2025-01-01T00:00:00Z"},
                {"lead": lead.pk, "kind": "download", "message_id": "w-1"},
            ]
        },
        format="json",
    ).json()
    assert (batch["stored"], batch["duplicates"]) == (2, 1)
    assert [(e["index"], e["field"]) for e in batch["errors"]] == [
        (1, "kind"),
        (2, "lead"),
        (3, "lead"),
    ]
    assert Lead.objects.get(external_id="new-ext").activities.count() == 1
    assert Activity.objects.filter(lead=lead).count() == 2


@pytest.mark.django_db
def test_rep_session_cannot_read_or_change_leads_it_may_not_see(rep):
    mine = LeadFactory(owner=rep)
    other = LeadFactory()
    client = APIClient()
    client.force_login(rep)
    assert client.get(f"/api/v1/leads/{mine.pk}/").status_code == 200
    for method, path, body in [
        ("get", f"/api/v1/leads/{other.pk}/", None),
        ("get", f"/api/v1/leads/{other.pk}/activities/", None),
        ("get", f"/api/v1/leads/{other.pk}/history/", None),
        ("patch", f"/api/v1/leads/{other.pk}/", {"company": "hijack"}),
        ("post", f"/api/v1/leads/{other.pk}/qualify/", {}),
    ]:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
    # events naming a lead the rep cannot see are refused too (reps may not add activities)
    assert (
        client.post(
            "/api/v1/events/", {"lead": other.pk, "kind": "meeting"}, format="json"
        ).status_code
        == 403
    )
    other.refresh_from_db()
    assert other.company != "hijack"
    assert other.stage == Stage.SUSPECT


@pytest.mark.django_db
def test_session_user_with_activity_permission_cannot_post_events_to_invisible_leads(manager):
    # managers see everything; a team-bound user with add_activity is the case to refuse
    user = UserFactory(username="teamed")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        Permission.objects.get(codename="add_activity"),
        Permission.objects.get(codename="view_lead"),
    )
    team = Team.objects.create(name="T")
    team.members.add(user)
    hidden = LeadFactory()
    client = APIClient()
    client.force_login(user)
    response = client.post("/api/v1/events/", {"lead": hidden.pk, "kind": "meeting"}, format="json")
    assert response.status_code == 404
    assert Activity.objects.filter(lead=hidden).count() == 0


@pytest.mark.django_db
def test_date_filters_with_extreme_offsets_are_400_or_utc_not_500(api):
    # found by schemathesis: PostgreSQL refuses an offset of +23:48 in a literal
    ok = api.get("/api/v1/leads/?created_before=0278-12-28T17%3A22%3A44.1%2B23%3A48")
    assert ok.status_code == 200
    bad = api.get("/api/v1/leads/?changed_after=0001-01-01T00%3A22%3A44%2B23%3A48")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"changed_after": ["Date-time out of range."]}


@pytest.mark.django_db
def test_a_nul_character_in_event_properties_is_named_not_a_500(api):
    # PostgreSQL stores no NUL in text or jsonb: the API must refuse it by name, on every backend.
    lead = LeadFactory(email="nul@x.example")
    one = api.post(
        "/api/v1/events/",
        {"lead": lead.pk, "kind": "page_view", "properties": {"url": "/a\u0000b"}},
        format="json",
    )
    assert one.status_code == 400
    assert "properties" in str(one.json())
    assert "'url' contains a NUL" in str(one.json())
    batch = api.post(
        "/api/v1/events/batch/",
        {
            "events": [
                {"lead": lead.pk, "kind": "download", "message_id": "ok-1"},
                {"lead": lead.pk, "kind": "download", "properties": {"k\u0000": 1}},
            ]
        },
        format="json",
    )
    assert batch.status_code == 200
    body = batch.json()
    assert body["stored"] == 1
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "properties")]
    assert Activity.objects.filter(lead=lead).count() == 1
