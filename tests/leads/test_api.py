import pytest
from rest_framework.test import APIClient

from leads.lifecycle import Stage
from leads.models import Lead, StageChange, Team
from tests.leads.factories import LeadFactory, UserFactory


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.mark.django_db
def test_disallowed_move_is_409_with_a_stable_code(client_for, manager):
    lead = LeadFactory(stage=Stage.SUSPECT)
    response = client_for(manager).post(f"/api/v1/leads/{lead.pk}/transition/", {"to": "customer"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert StageChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_allowed_move_and_history(client_for, marketer):
    lead = LeadFactory(stage=Stage.SUSPECT)
    client = client_for(marketer)
    response = client.post(f"/api/v1/leads/{lead.pk}/transition/", {"to": "lead"})
    assert response.status_code == 200, response.json()
    assert response.json()["stage"] == "lead"
    history = client.get(f"/api/v1/leads/{lead.pk}/history/").json()
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        ("", "suspect"),
        ("suspect", "lead"),
    ]


@pytest.mark.django_db
def test_unknown_stage_and_missing_reason_name_the_field(client_for, manager):
    lead = LeadFactory(stage=Stage.MQL)
    client = client_for(manager)
    bad = client.post(f"/api/v1/leads/{lead.pk}/transition/", {"to": "won"})
    assert bad.status_code == 400
    assert "to" in bad.json()["error"]["fields"]
    no_reason = client.post(f"/api/v1/leads/{lead.pk}/transition/", {"to": "disqualified"})
    assert no_reason.status_code == 400
    assert no_reason.json()["error"] == {
        "code": "reason_required",
        "message": "Moving a lead to Disqualified needs a reason.",
        "field": "reason",
    }


@pytest.mark.django_db
def test_stage_is_read_only_and_bad_email_is_a_field_error(client_for, marketer):
    client = client_for(marketer)
    created = client.post(
        "/api/v1/leads/", {"email": "A@B.example", "stage": "customer"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["stage"] == "suspect"
    bad = client.post("/api/v1/leads/", {"email": "nope"}, format="json")
    assert bad.status_code == 400
    assert "email" in bad.json()["error"]["fields"]
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_rep_sees_only_own_and_team_leads(client_for, rep):
    mate = UserFactory(username="mate")
    team = Team.objects.create(name="EMEA")
    team.members.add(rep, mate)
    mine = LeadFactory(owner=rep)
    teams = LeadFactory(owner=mate, team=team)
    other = LeadFactory()
    client = client_for(rep)
    ids = {row["id"] for row in client.get("/api/v1/leads/").json()["results"]}
    assert ids == {mine.pk, teams.pk}
    assert client.get(f"/api/v1/leads/{other.pk}/").status_code == 404
    assert client.post(f"/api/v1/leads/{other.pk}/transition/", {"to": "lead"}).status_code == 404


@pytest.mark.django_db
def test_anonymous_is_refused():
    response = APIClient().get("/api/v1/leads/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="leadflow"'


@pytest.mark.django_db
def test_filters_are_shared_with_the_ui(client_for, marketer):
    LeadFactory(stage=Stage.MQL, source="webinar")
    LeadFactory(stage=Stage.MQL, source="email")
    LeadFactory(stage=Stage.LEAD, source="webinar")
    rows = client_for(marketer).get("/api/v1/leads/?stage=mql&source=webinar").json()["results"]
    assert [(r["stage"], r["source"]) for r in rows] == [("mql", "webinar")]


@pytest.mark.django_db
def test_upsert_with_a_phone_creates_then_updates_and_normalises_it(client_for, marketer):
    """The upsert cleaned the fields and handed them to create/update, which cleaned them
    again and refused the derived ``phone_normalized`` as a field no one may set."""
    client = client_for(marketer)
    body = {"email": "ann@acme.example", "phone": "+49 (30) 1234-56"}
    created = client.post("/api/v1/leads/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["phone"] == "+49 (30) 1234-56"
    updated = client.post("/api/v1/leads/", {**body, "phone": "0049 30 999"}, format="json")
    assert updated.status_code == 200, updated.content
    lead = Lead.objects.get(email="ann@acme.example")
    assert (lead.phone, lead.phone_normalized) == ("0049 30 999", "+4930999")
    refused = client.post("/api/v1/leads/", {**body, "phone_normalized": "+1"}, format="json")
    assert refused.status_code == 400
    assert "phone_normalized" in refused.json()["error"]["fields"]
