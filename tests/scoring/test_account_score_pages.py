"""The account score where people and integrations see it (issue 18 items 5, 6, 8): the account
page's "Account score" panel, the list's Score and Grade columns and grade filter, the API's
`score`/`grade` fields, `grade=` filter and `/api/v1/accounts/{id}/score/`, and the account
settings of the scoring model's settings form. All read the STORED AccountScore row."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from companies import services as company_services
from companies.models import Account, BuyingRole
from leadflow.roles import Role
from leads.models import Lead
from scoring import services
from scoring.models import AccountScore, ScoringModel, ScoringRule
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import make_model
from tests.scoring.test_views import ACCOUNT_SETTINGS

pytestmark = pytest.mark.django_db


def _account(name: str, **data) -> Account:
    return company_services.account_create(data={"name": name, **data}, actor=None)


def _member(account: Account, engagement: int, role: str = BuyingRole.UNKNOWN, **lead) -> Lead:
    made = LeadFactory(email=f"p{Lead.objects.count()}@free-{account.pk}.example", **lead)
    Lead.objects.filter(pk=made.pk).update(engagement_score=engagement)
    company_services.member_link(lead_id=made.pk, account_id=account.pk, source="explicit")
    company_services.member_set_role(lead_id=made.pk, role=role, actor=None)
    return made


@pytest.fixture
def scored():
    """The worked example of test_account_scores: Acme (tier 1, rule "Tier one accounts" +20):
    Ann 30 decision maker, Bob 20 champion, Cy 0 → fit 20 (B), engagement 50+10+20, score 100.
    Globex (tier 3) scored with no members: fit 0 (D). Initech: never scored."""
    make_model([{"kind": "account_fit", "field": "tier", "op": "in", "value": ["1"], "points": 20}])
    ScoringRule.objects.filter(kind="account_fit").update(name="Tier one accounts")
    acme = _account("Acme", tier="1")
    ann = _member(acme, 30, BuyingRole.DECISION_MAKER, first_name="Ann", last_name="Able")
    _member(acme, 20, BuyingRole.CHAMPION, first_name="Bob", last_name="Best")
    _member(acme, 0, BuyingRole.USER, first_name="Cy", last_name="Cole")
    globex = _account("Globex", tier="3")
    initech = _account("Initech")
    services.score_account(account_id=acme.pk)
    services.score_account(account_id=globex.pk)
    AccountScore.objects.filter(account_id=initech.pk).delete()
    return {"acme": acme, "globex": globex, "initech": initech, "ann": ann}


# --- the account page's panel -------------------------------------------------------------------


def test_the_panel_shows_the_stored_numbers_rules_and_members(client, marketer, scored):
    acme = scored["acme"]
    row = AccountScore.objects.get(account_id=acme.pk)
    assert (row.score, row.fit_score, row.engagement_score, row.grade) == (100, 20, 80, "B")
    # the panel reads the stored row, not a fresh evaluation: change it and the page follows
    AccountScore.objects.filter(pk=acme.pk).update(score=123)
    client.force_login(marketer)
    html = client.get(reverse("companies:detail", args=[acme.pk])).content.decode()
    panel = html[html.index('id="account-score"') :]
    panel = panel[: panel.index("</section>")]
    assert '<b class="score-total">123</b>' in panel
    assert "Grade B" in panel
    assert "<dt>Fit</dt><dd>20</dd>" in panel
    assert "<dt>Engagement</dt><dd>80</dd>" in panel
    assert "<dd>50</dd>" in panel  # member engagement, capped at 60
    assert "2 (10 points)" in panel  # engaged members
    assert "Champion" in panel
    assert "Decision maker" in panel
    assert "Tier one accounts" in panel
    assert "+20" in panel
    ann_url = reverse("leads:detail", args=[scored["ann"].pk])
    assert f'<a href="{ann_url}">Ann Able</a>' in panel
    assert "30 points" in panel
    assert "Cy Cole" not in panel  # no engagement: not among the members listed
    version = ScoringModel.objects.get(status="published").version
    assert f"model version {version}" in panel


def test_the_panel_lists_ten_members_and_says_how_many_more(client, marketer, scored):
    acme = scored["acme"]
    for i in range(12):
        _member(acme, 40 + i)
    services.score_account(account_id=acme.pk)
    client.force_login(marketer)
    html = client.get(reverse("companies:detail", args=[acme.pk])).content.decode()
    panel = html[html.index('id="account-score"') :]
    panel = panel[: panel.index("</section>")]
    assert panel.count("<li>", panel.index("score-members")) == 10
    assert "and 4 more" in panel  # 14 members with engagement > 0
    body = client.get(f"/api/v1/accounts/{acme.pk}/score/").json()
    assert body["members_with_engagement"] == 14
    assert len(body["members"]) == 14


def test_a_rep_sees_no_name_of_a_member_they_cannot_open(client, scored):
    rep = UserFactory(username="other-rep", role=Role.SALES_REP)
    client.force_login(rep)
    html = client.get(reverse("companies:detail", args=[scored["acme"].pk])).content.decode()
    assert "Ann Able" not in html
    assert "A lead you cannot open" in html


def test_an_unscored_account_says_so(client, marketer, scored):
    client.force_login(marketer)
    html = client.get(reverse("companies:detail", args=[scored["initech"].pk])).content.decode()
    panel = html[html.index('id="account-score"') :]
    assert "Not scored yet" in panel[: panel.index("</section>")]


# --- the list -----------------------------------------------------------------------------------


def _row(html: str, account: Account) -> str:
    row = html[html.index(f'id="account-{account.pk}"') :]
    return row[: row.index("</tr>")]


def test_the_list_shows_score_and_grade_and_filters_by_grade(client, marketer, scored):
    client.force_login(marketer)
    html = client.get(reverse("companies:list")).content.decode()
    assert '<td class="num">100</td>' in _row(html, scored["acme"])
    assert "<td>B</td>" in _row(html, scored["acme"])
    assert "<td>D</td>" in _row(html, scored["globex"])
    assert "Not scored yet" in _row(html, scored["initech"])
    only_b = client.get(reverse("companies:list"), {"grade": "B"})
    assert [a.name for a in only_b.context["page"].object_list] == ["Acme"]
    b_or_d = client.get(reverse("companies:list"), {"grade": ["B", "D"]})
    assert sorted(a.name for a in b_or_d.context["page"].object_list) == ["Acme", "Globex"]
    bad = client.get(reverse("companies:list"), {"grade": "Z"})
    assert bad.status_code == 400
    assert "grade" in bad.context["filter_errors"]


def test_the_list_reads_scores_in_one_query_for_the_page(client, marketer, scored):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(marketer)
    client.get(reverse("companies:list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("companies:list"))
    for i in range(5):
        services.score_account(account_id=_account(f"More {i}").pk)
    with CaptureQueriesContext(connection) as more:
        client.get(reverse("companies:list"))
    assert len(more.captured_queries) == len(few.captured_queries)
    assert sum("scoring_accountscore" in q["sql"] for q in more.captured_queries) == 1


# --- the API ------------------------------------------------------------------------------------


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_the_api_reads_score_and_grade_and_filters_by_grade(marketer, scored):
    api = _api(marketer)
    rows = {a["name"]: a for a in api.get("/api/v1/accounts/").json()["results"]}
    assert (rows["Acme"]["score"], rows["Acme"]["grade"]) == (100, "B")
    assert (rows["Globex"]["score"], rows["Globex"]["grade"]) == (0, "D")
    assert (rows["Initech"]["score"], rows["Initech"]["grade"]) == (None, None)
    one = api.get(f"/api/v1/accounts/{scored['acme'].pk}/").json()
    assert (one["score"], one["grade"]) == (100, "B")
    graded = api.get("/api/v1/accounts/", {"grade": ["D"]}).json()["results"]
    assert [a["name"] for a in graded] == ["Globex"]
    bad = api.get("/api/v1/accounts/", {"grade": "Z"})
    assert bad.status_code == 400
    assert "grade" in bad.json()["error"]["fields"]


def test_the_score_endpoint_gives_the_stored_breakdown_with_rule_names(marketer, scored):
    acme = scored["acme"]
    body = _api(marketer).get(f"/api/v1/accounts/{acme.pk}/score/").json()
    assert (body["score"], body["fit_score"], body["engagement_score"]) == (100, 20, 80)
    assert body["grade"] == "B"
    assert body["rules"] == [
        {"rule_id": body["rules"][0]["rule_id"], "name": "Tier one accounts", "points": 20}
    ]
    assert body["parts"] == {"member_engagement": 50, "engaged_members": 10, "roles": 20}
    assert body["engaged_members"] == 2
    assert sorted(body["engaged_roles"]) == ["champion", "decision_maker"]
    assert body["members"][0] == {"lead_id": scored["ann"].pk, "engagement": 30}


def test_the_score_endpoint_is_404_naming_account_when_unscored_or_unknown(marketer, scored):
    api = _api(marketer)
    for pk in (scored["initech"].pk, 999_999, 2**70):
        response = api.get(f"/api/v1/accounts/{pk}/score/")
        assert response.status_code == 404, pk
        assert response.json()["error"]["field"] == "account"


def test_the_score_endpoint_needs_accounts_read_and_view_account(make_api_key, scored):
    url = f"/api/v1/accounts/{scored['acme'].pk}/score/"
    reader, _ = make_api_key("accounts:read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert api.get(url).status_code == 200
    leads_only, _ = make_api_key("leads:read")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {leads_only}")
    assert api.get(url).status_code == 403
    nobody = UserFactory(username="no-role", role=None)
    assert _api(nobody).get(url).status_code == 403


# --- the scoring model's settings form ----------------------------------------------------------


def _settings(**overrides):
    return {
        "name": "Spring", "lead_fit_threshold": "5", "mql_threshold": "30",
        "mql_min_grade": "C", "grade_a_min": "30", "grade_b_min": "15",
        "grade_c_min": "5", "decay": "none", **ACCOUNT_SETTINGS, **overrides,
    }  # fmt: skip


def test_the_settings_form_saves_the_account_settings_of_a_draft(client, marketer):
    draft = services.model_create(data={"name": "Spring", "mql_threshold": 30})
    client.force_login(marketer)
    page = client.get(reverse("scoring:model", args=[draft.pk])).content.decode()
    assert 'name="account_mqa_threshold"' in page
    saved = client.post(
        reverse("scoring:model", args=[draft.pk]),
        _settings(account_engaged_min="15", account_role_points="7", account_mqa_threshold="90"),
    )
    assert saved.status_code == 302, saved.context and saved.context["settings_form"].errors
    draft.refresh_from_db()
    assert (draft.account_engaged_min, draft.account_role_points) == (15, 7)
    assert draft.account_mqa_threshold == 90


@pytest.mark.parametrize("field", sorted(ACCOUNT_SETTINGS))
def test_a_negative_account_setting_is_refused_naming_the_field(client, marketer, field):
    draft = services.model_create(data={"name": "Spring", "mql_threshold": 30})
    before = getattr(draft, field)
    client.force_login(marketer)
    refused = client.post(reverse("scoring:model", args=[draft.pk]), _settings(**{field: "-1"}))
    assert refused.status_code == 422
    assert list(refused.context["settings_form"].errors) == [field]
    draft.refresh_from_db()
    assert getattr(draft, field) == before
