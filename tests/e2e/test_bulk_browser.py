"""End-to-end in real headless Chromium: a sales manager ticks three leads on the list, moves
them with the action bar, and reads which were refused and why."""

import pytest
from playwright.sync_api import expect

from bulk.models import BulkJob
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Team
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_manager_moves_three_selected_leads_and_sees_the_refusals(page, login):
    manager = UserFactory(username="maria", role=Role.SALES_MANAGER, first_name="Maria")
    team = Team.objects.create(name="Inside sales", manager=manager)
    sql = LeadFactory(stage=Stage.SQL, first_name="Sam", last_name="Won", team=team)
    mql = LeadFactory(stage=Stage.MQL, first_name="Mia", last_name="Early", team=team)
    other = LeadFactory(
        stage=Stage.SQL,
        first_name="Olga",
        last_name="Elsewhere",
        team=Team.objects.create(name="Field"),
    )
    LeadFactory(stage=Stage.LEAD, first_name="Lou", last_name="Untouched", team=team)
    login("maria")
    page.goto("/leads/list/")
    for name in ("Sam Won", "Mia Early", "Olga Elsewhere"):
        box = page.get_by_role("checkbox", name=f"Select {name}")
        box.focus()
        page.keyboard.press("Space")  # keyboard-accessible
        assert box.is_checked()
    assert page.locator("[data-bulk-count]").inner_text() == "3 selected"
    page.get_by_label("Move to").select_option(Stage.CUSTOMER.value)
    page.get_by_role("button", name="Move", exact=True).click()
    page.wait_for_url("**/bulk/*/**")
    assert page.locator("#bulk-done").inner_text() == "1"
    assert page.locator("#bulk-refused").inner_text() == "2"
    problems = page.locator("#bulk-problems").inner_text()
    assert "Mia Early" in problems
    assert "A lead cannot move from MQL to Customer: from MQL it can only go to SAL" in problems
    assert "Olga Elsewhere" in problems
    assert "team you do not manage" in problems
    assert page.csp_violations == []
    stages = dict(Lead.objects.values_list("pk", "stage"))
    assert (stages[sql.pk], stages[mql.pk], stages[other.pk]) == ("customer", "mql", "sql")
    assert BulkJob.objects.get().created_by == manager


def test_marketer_tags_a_lead_filters_by_the_tag_and_tags_a_selection(page, login):
    """The lead page's tag box (htmx), the filter by tag, then bulk tagging from the list."""
    UserFactory(username="mara", role=Role.MARKETER, first_name="Mara")
    first = LeadFactory(stage=Stage.LEAD, first_name="Tara", last_name="Tagged")
    LeadFactory(stage=Stage.LEAD, first_name="Nico", last_name="Notag")
    login("mara")
    page.goto(f"/leads/{first.pk}/")
    page.get_by_label("Add a tag").fill("Trade fair")
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator("#tags-section .lead-tag").filter(has_text="Trade fair").wait_for()
    page.goto("/leads/list/")
    page.get_by_label("Tag", exact=True).select_option("Trade fair")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**tag=Trade+fair**")
    assert page.get_by_text("Nico Notag").count() == 0
    expect(page.get_by_role("link", name="Tara Tagged")).to_be_visible()
    page.goto("/leads/list/")
    for name in ("Tara Tagged", "Nico Notag"):
        page.get_by_role("checkbox", name=f"Select {name}").check()
    page.get_by_label("Tag name").fill("Q3 follow-up")
    page.get_by_role("button", name="Tag", exact=True).click()
    page.wait_for_url("**/bulk/*/**")
    assert page.locator("#bulk-done").inner_text() == "2"
    assert sorted(
        Lead.tags.through.objects.filter(tag__name="Q3 follow-up").values_list("lead_id", flat=True)
    ) == sorted(Lead.objects.values_list("pk", flat=True))
    assert page.csp_violations == []
