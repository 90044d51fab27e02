"""The header search box in Chromium: "/" focuses it from any page, Enter shows the results."""

import re

import pytest
from playwright.sync_api import expect

from leadflow.roles import Role
from leads.lifecycle import Stage
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_slash_focuses_the_header_search_and_enter_shows_results(page, login):
    UserFactory(username="sam", role=Role.MARKETER)
    LeadFactory(
        first_name="Gunnar",
        last_name="Halvorsen",
        company="Fjord Logistics",
        job_title="Fleet manager",
        stage=Stage.MQL,
    )
    LeadFactory(first_name="Other", last_name="Person", company="Unrelated Foods")
    login("sam")
    page.goto("/leads/list/")
    box = page.get_by_role("searchbox", name="Search leads", exact=True)
    expect(box).not_to_be_focused()
    page.locator("h1").click()  # focus on the page, not in a field
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the "/" itself is not typed into the box
    page.keyboard.type("fjord fleet")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/leads/search/\?q=fjord\+fleet$"))
    rows = page.locator("tr.search-result")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Gunnar Halvorsen")
    expect(rows.first).to_contain_text("Fjord Logistics")
    expect(rows.first).to_contain_text("MQL")
    expect(rows.first).to_contain_text("Unassigned")

    # "/" typed inside a field is just a character
    field = page.get_by_label("Search leads by name, e-mail, company, domain, job title or notes")
    field.fill("a")
    field.press("/")
    expect(field).to_have_value("a/")

    # an unsearchable query is explained on the page
    box.fill("%%%")
    box.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("at least one letter or digit")
    assert page.csp_violations == []
