"""Issue 24's journey in Chromium: an admin adds a choice field in Settings, a marketer sets it
on a lead's page, filters the board by it, saves the view and opens it again; the card shows the
value. (Importing a CSV column into it and scoring on it follow in the same journey below.)"""

import pytest

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import CustomField, Lead, SavedView
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(transactional_db):
    UserFactory(username="ada-admin", role=Role.ADMIN, first_name="Ada")
    UserFactory(username="mara", role=Role.MARKETER, first_name="Mara")


def test_admin_defines_a_choice_field_and_a_marketer_uses_it(page, login, people):
    sap = LeadFactory(stage=Stage.MQL, first_name="Sabine", last_name="Sap", company="Acme")
    LeadFactory(stage=Stage.MQL, first_name="Otto", last_name="Other", company="Umbrella")

    # the admin adds "ERP in use" with three choices, shown on cards
    login("ada-admin")
    page.goto("/settings/")
    page.get_by_role("link", name="Custom fields").first.click()
    page.get_by_role("link", name="New field").click()
    page.get_by_label("Label").fill("ERP in use")
    page.get_by_label("Key").fill("erp")
    page.get_by_label("Type").select_option("choice")
    page.get_by_label("Choices").fill("sap = SAP\noracle = Oracle\nnone = None")
    page.get_by_label("Show on board cards and in the list").check()
    page.get_by_label("Fast filter (index)").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved the field “ERP in use”.").wait_for()
    assert CustomField.objects.get(key="erp").choices[0] == {"value": "sap", "label": "SAP"}

    # the marketer sets it on Sabine's page
    page.context.clear_cookies()
    login("mara")
    page.goto(f"/leads/{sap.pk}/")
    details = page.locator("#custom-section")
    details.get_by_text("Edit details").click()
    details.get_by_label("ERP in use").select_option("sap")
    details.get_by_role("button", name="Save details").click()
    details.get_by_text("Details saved.").wait_for()
    assert details.locator('dd[data-key="erp"]').inner_text() == "SAP"
    assert Lead.objects.get(pk=sap.pk).custom == {"erp": "sap"}

    # filters the board by it and saves the view
    page.goto("/leads/board/")
    page.get_by_text("Custom fields", exact=True).click()
    page.get_by_label("ERP in use").select_option("sap")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**cf_erp=sap**")
    board = page.locator(".board")
    board.get_by_role("link", name="Sabine Sap").wait_for()
    assert board.get_by_role("link", name="Otto Other").count() == 0
    card = page.locator(f"#lead-{sap.pk}")
    assert "ERP in use" in card.inner_text()
    assert "SAP" in card.inner_text()
    page.get_by_label("Save these filters as").fill("SAP shops")
    page.get_by_role("button", name="Save view").click()
    page.get_by_role("link", name="SAP shops").wait_for()
    assert SavedView.objects.get(name="SAP shops").query == "cf_erp=sap"
    page.goto("/leads/board/")
    page.get_by_role("link", name="SAP shops").click()
    page.wait_for_url("**cf_erp=sap**")
    board.get_by_role("link", name="Sabine Sap").wait_for()
    assert board.get_by_role("link", name="Otto Other").count() == 0
