"""The scoring API: CRUD, publish, new version, dry run, runs, breakdown; 400/403/404/409 paths."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from leads.lifecycle import Stage
from leads.models import ActivityKind, CustomField, Lead
from scoring.models import ScoringModel, ScoringRun
from tests.leads.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/scoring"


@pytest.fixture
def api(client, marketer):
    client.force_login(marketer)
    return client


def _model(api, **extra):
    response = api.post(
        f"{BASE}/models/",
        {"name": "Q3", "mql_threshold": 30, "lead_fit_threshold": 5, **extra},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def _rule(api, model_id, **data):
    return api.post(
        f"{BASE}/rules/", {"model": model_id, "name": "r", **data}, content_type="application/json"
    )


def test_marketer_builds_publishes_and_reads_a_breakdown(api, django_capture_on_commit_callbacks):
    lead = LeadFactory(stage=Stage.LEAD)
    for _ in range(2):
        ActivityFactory(lead=lead, kind=ActivityKind.WEBINAR, occurred_at=timezone.now())
    model = _model(api)
    rule = _rule(api, model["id"], kind="activity", activity_kind="webinar", points=15)
    assert rule.status_code == 201, rule.json()
    fit = _rule(
        api,
        model["id"],
        name="sw",
        kind="fit",
        field="industry",
        op="in",
        value=["software"],
        points=5,
    )
    assert fit.status_code == 201, fit.json()
    with django_capture_on_commit_callbacks(execute=True):
        published = api.post(f"{BASE}/models/{model['id']}/publish/")
    assert published.status_code == 202
    run = api.get(f"{BASE}/runs/{published.json()['id']}/").json()
    assert (run["status"], run["progress"], run["kind"]) == ("done", 1.0, "rescore")
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (35, Stage.MQL)
    body = api.get(f"{BASE}/breakdowns/{lead.pk}/").json()
    assert body["score"] == 35
    assert {(x["name"], x["points"], x["count"]) for x in body["rules"]} == {
        ("r", 30, 2),
        ("sw", 5, 1),
    }
    assert api.get(f"{BASE}/models/{model['id']}/").json()["status"] == "published"


def test_bad_rules_get_the_one_error_shape(api):
    model = _model(api)
    bad_points = _rule(api, model["id"], kind="activity", activity_kind="webinar", points="ten")
    assert bad_points.status_code == 400
    assert "points" in bad_points.json()["error"]["fields"]
    bad_field = _rule(api, model["id"], kind="fit", field="salary", op="in", value=["x"], points=1)
    assert bad_field.status_code == 400
    error = bad_field.json()["error"]
    assert error["code"] == "invalid"
    assert "salary" in str(error["fields"]["field"])
    bad_op = _rule(
        api,
        model["id"],
        kind="activity",
        activity_kind="page_view",
        points=1,
        conditions=[{"property": "url", "op": "matches", "value": "x"}],
    )
    assert bad_op.status_code == 400
    assert "matches" in str(bad_op.json()["error"]["fields"]["conditions"])
    nul_value = _rule(
        api,
        model["id"],
        kind="activity",
        activity_kind="page_view",
        points=1,
        conditions=[{"property": "url", "op": "contains", "value": "/pri\u0000cing"}],
    )
    assert nul_value.status_code == 400  # PostgreSQL would refuse the NUL with a 500
    assert "0.value" in str(nul_value.json()["error"]["fields"]["conditions"])
    nul_fit = _rule(
        api, model["id"], kind="fit", field="industry", op="in", value=["a\u0000"], points=1
    )
    assert nul_fit.status_code == 400
    assert "NUL" in str(nul_fit.json()["error"]["fields"]["value"])
    cycle = api.patch(
        f"{BASE}/models/{model['id']}/", {"recycle_below": 40}, content_type="application/json"
    )
    assert cycle.status_code == 400
    assert "recycle_below" in cycle.json()["error"]["fields"]
    assert ScoringModel.objects.get(pk=model["id"]).rules.count() == 0


def test_published_versions_are_frozen_and_copied_into_drafts(api):
    model = _model(api)
    rule = _rule(api, model["id"], kind="activity", activity_kind="webinar", points=15).json()
    api.post(f"{BASE}/models/{model['id']}/publish/")
    frozen = api.patch(
        f"{BASE}/rules/{rule['id']}/", {"points": 1}, content_type="application/json"
    )
    assert frozen.status_code == 409
    assert frozen.json()["error"]["code"] == "scoring_model_not_draft"
    assert api.delete(f"{BASE}/models/{model['id']}/").status_code == 409
    draft = api.post(f"{BASE}/models/{model['id']}/new-version/").json()
    assert (draft["status"], draft["version"], len(draft["rules"])) == ("draft", 2, 1)
    changed = api.patch(
        f"{BASE}/rules/{draft['rules'][0]['id']}/", {"points": 1}, content_type="application/json"
    )
    assert changed.json()["points"] == 1
    listed = api.get(f"{BASE}/rules/", {"model": draft["id"]}).json()["results"]
    assert [r["points"] for r in listed] == [1]


def test_dry_run_through_the_api_writes_no_scores(api, django_capture_on_commit_callbacks):
    lead = LeadFactory(stage=Stage.LEAD)
    ActivityFactory(lead=lead, kind=ActivityKind.WEBINAR, occurred_at=timezone.now())
    model = _model(api, mql_min_grade="D")  # no fit rules: every lead is grade D
    _rule(api, model["id"], kind="activity", activity_kind="webinar", points=40)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{BASE}/models/{model['id']}/dry-run/")
    assert response.status_code == 202
    run = ScoringRun.objects.get(pk=response.json()["id"])
    assert (run.status, run.result["enter_mql"], run.result["after"]) == ("done", 1, {"40-49": 1})
    lead.refresh_from_db()
    assert (lead.score, lead.scored_at, lead.stage) == (0, None, Stage.LEAD)


def test_permissions(client, rep, marketer):
    client.force_login(rep)
    assert client.get(f"{BASE}/models/").status_code == 403
    assert client.post(f"{BASE}/models/", {"name": "x"}).status_code == 403
    lead = LeadFactory(owner=None)
    assert client.get(f"{BASE}/breakdowns/{lead.pk}/").status_code == 404  # not visible
    client.force_login(marketer)
    assert client.get(f"{BASE}/models/").status_code == 200
    assert client.get(f"{BASE}/breakdowns/{lead.pk}/").status_code == 404  # never scored


def test_seed_is_idempotent_and_scores_the_demo(django_capture_on_commit_callbacks):
    lead = LeadFactory(stage=Stage.SUSPECT, industry="Software", company_size="5001+")
    ActivityFactory(lead=lead, kind=ActivityKind.UNSUBSCRIBE, occurred_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_scoring_demo")
        call_command("seed_scoring_demo")
    assert ScoringModel.objects.filter(status="published").count() == 1
    assert ScoringModel.objects.get().rules.count() == 15  # 11 lead rules, 4 account fit rules
    lead = Lead.objects.get(pk=lead.pk)
    assert (lead.fit_score, lead.engagement_score, lead.stage) == (20, -30, Stage.LEAD)


def test_admin_pages_render(client):
    from django.contrib import admin

    from tests.leads.factories import UserFactory

    call_command("seed_scoring_demo")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    model = ScoringModel.objects.get()
    for name in ("scoringmodel", "scoringrun", "leadscore"):
        assert client.get(f"/admin/scoring/{name}/").status_code == 200
    assert client.get(f"/admin/scoring/scoringmodel/{model.pk}/change/").status_code == 200
    assert client.get("/admin/scoring/scoringmodel/add/").status_code == 200
    assert ScoringModel in admin.site._registry


def test_fit_rules_on_custom_fields_and_tags_through_the_api(api):
    CustomField.objects.create(key="seats", label="Seats", type="integer")
    model = _model(api)
    made = _rule(
        api, model["id"], kind="fit", field="custom.seats", op="at_least", value=50, points=5
    )
    assert made.status_code == 201, made.json()
    tagged = _rule(
        api, model["id"], name="t", kind="fit", field="tags", op="in", value=["VIP"], points=3
    )
    assert tagged.status_code == 201, tagged.json()
    unknown = _rule(
        api, model["id"], name="u", kind="fit", field="custom.erp", op="in", value=["sap"], points=1
    )
    assert unknown.status_code == 400
    assert "Unknown custom field 'erp'; the lead's custom fields are seats." in str(unknown.json())
    wrong = _rule(
        api,
        model["id"],
        name="w",
        kind="fit",
        field="custom.seats",
        op="below",
        value="many",
        points=1,
    )
    assert wrong.status_code == 400
    assert "needs one number" in str(wrong.json())
