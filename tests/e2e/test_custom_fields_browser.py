"""Issue 24's journey in Chromium: an admin adds a choice field in Settings, a marketer sets it
on a lead's page, filters the board by it, saves the view and opens it again; the card shows the
value. (Importing a CSV column into it and scoring on it follow in the same journey below.)"""

import pytest

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import CustomField, Lead, SavedView
from scoring import services as scoring
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(transactional_db):
    UserFactory(username="ada-admin", role=Role.ADMIN, first_name="Ada")
    UserFactory(username="mara", role=Role.MARKETER, first_name="Mara")


def test_admin_defines_a_choice_field_and_a_marketer_uses_it(page, login, people, tmp_path):
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

    # imports a CSV whose "ERP" column goes into the field: one new lead, one bad cell
    csv = tmp_path / "erp.csv"
    csv.write_text(
        "Email,First name,Last name,ERP\n"
        "olga.oracle@fjord.example,Olga,Oracle,Oracle\n"
        "nina.nav@kumo.example,Nina,Nav,Navision\n"
    )
    page.goto("/privacy/imports/new/")
    page.locator("input[type=file]").set_input_files(str(csv))
    page.get_by_role("button", name="Upload and preview").click()
    erp_row = page.locator("tr", has=page.get_by_role("cell", name="ERP", exact=True))
    erp_row.locator("select").select_option("custom.erp")
    page.get_by_role("button", name="Import", exact=True).click()
    problems = page.locator("#import-errors")  # the refused cell, named with its row
    problems.get_by_role("cell", name="Navision", exact=True).wait_for()
    first = problems.locator("tbody tr").first.inner_text()
    assert first.startswith("3")
    assert "ERP in use (custom.erp): 'Navision' is not one of its choices" in first
    assert Lead.objects.get(email="olga.oracle@fjord.example").custom == {"erp": "oracle"}
    assert not Lead.objects.filter(email="nina.nav@kumo.example").exists()

    # and scores it: a fit rule "ERP in use is SAP" (+20) in a new draft, published
    model = scoring.model_create(data={"name": "Fit", "mql_threshold": 500})
    scoring.rule_create(
        model_id=model.pk,
        data={"name": "Webinar", "kind": "activity", "activity_kind": "webinar", "points": 10},
    )
    scoring.model_publish(model_id=model.pk)
    scoring.score_lead(lead_id=sap.pk)
    page.goto("/scoring/")
    page.get_by_role("button", name=f"New draft from v{model.version}").click()
    form = page.locator("form", has=page.get_by_role("button", name="Add rule"))
    form.get_by_label("Name", exact=True).fill("Runs SAP")
    form.get_by_label("Kind", exact=True).select_option("fit")
    form.get_by_label("Points", exact=True).fill("20")
    form.get_by_label("Field", exact=True).select_option("custom.erp")
    form.get_by_label("Operator").select_option("in")
    form.get_by_label("Value", exact=True).fill("sap")
    form.get_by_role("button", name="Add rule").click()
    page.locator("#flash").get_by_text("added").wait_for()
    page.on("dialog", lambda dialog: dialog.accept())  # "Publish v2? It will rescore..."
    page.get_by_role("button", name="Publish").click()
    page.locator("#run").get_by_text("Done").wait_for()
    page.goto("/leads/board/")
    assert page.locator(f"#lead-{sap.pk} .score").inner_text().startswith("20")
    assert Lead.objects.get(pk=sap.pk).fit_score == 20
    assert page.csp_violations == []
