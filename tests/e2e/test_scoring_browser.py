"""End-to-end with the real scoring engine: the lead page shows the breakdown the API returns,
and publishing a changed rule in the editor changes the score on the board."""

import pytest
from django.test import Client
from django.utils import timezone

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ActivityKind
from scoring import services
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer_user(transactional_db):
    return UserFactory(username="mara", role=Role.MARKETER, first_name="Mara")


def _published(**points):
    model = services.model_create(data={"name": "Web", "mql_threshold": 500})
    services.rule_create(
        model_id=model.pk,
        data={"name": "Webinar", "kind": "activity", "activity_kind": "webinar",
              "points": points.get("webinar", 10)},
    )  # fmt: skip
    services.rule_create(
        model_id=model.pk,
        data={"name": "Software", "kind": "fit", "field": "industry", "op": "in",
              "value": ["software"], "points": points.get("software", 7)},
    )  # fmt: skip
    services.model_publish(model_id=model.pk)  # (its run is queued on commit: runs eagerly)
    return model


def _lead_with_webinars(n: int):
    lead = LeadFactory(stage=Stage.LEAD, first_name="Wes", last_name="Webinar", industry="software")
    for _ in range(n):
        ActivityFactory(lead=lead, kind=ActivityKind.WEBINAR, occurred_at=timezone.now())
    return lead


def test_lead_page_shows_the_breakdown_the_api_returns(page, login, marketer_user):
    _published()
    lead = _lead_with_webinars(2)
    services.score_lead(lead_id=lead.pk)
    api = Client()
    api.force_login(marketer_user)
    expected = api.get(f"/api/v1/scoring/breakdowns/{lead.pk}/").json()
    assert expected["score"] == 27

    login("mara")
    page.goto(f"/leads/{lead.pk}/")
    table = page.locator("table.breakdown")
    table.wait_for()
    rows = table.locator("tbody tr")
    shown = {
        rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(2).inner_text()
        for i in range(rows.count())
    }
    assert shown == {r["name"]: str(r["points"]) for r in expected["rules"]}
    assert page.locator(".score.big").first.inner_text().startswith(str(expected["score"]))
    assert page.csp_violations == []


def test_publishing_a_changed_rule_changes_the_score_on_the_board(page, login, marketer_user):
    model = _published(webinar=10)
    lead = _lead_with_webinars(1)
    services.score_lead(lead_id=lead.pk)
    login("mara")
    page.goto("/leads/board/")
    card_score = page.locator(f"#lead-{lead.pk} .score")
    assert card_score.inner_text().startswith("17")

    page.goto("/scoring/")
    page.get_by_role("button", name=f"New draft from v{model.version}").click()
    page.get_by_role("link", name="Edit Webinar").click()
    page.get_by_label("Points", exact=True).fill("30")
    page.get_by_role("button", name="Save rule").click()
    page.locator("#flash").get_by_text("saved").wait_for()
    page.on("dialog", lambda dialog: dialog.accept())  # "Publish v2? It will rescore..."
    page.get_by_role("button", name="Publish").click()
    page.locator("#run").get_by_text("Done").wait_for()

    page.goto("/leads/board/")
    assert card_score.inner_text().startswith("37")
    assert page.csp_violations == []
