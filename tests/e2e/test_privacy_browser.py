"""End-to-end in real headless Chromium (issue 17): an admin answers a data-subject request —
finds the person by e-mail, downloads the export, erases them after typing the address, and
finds both actions in the audit log."""

import json

import pytest

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.models import Lead, Note
from leads.services import lead_create
from privacy.gdpr import subject_hash
from tests.leads.factories import ActivityFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "grace.hopper@navy.example"


def test_admin_exports_and_erases_a_person_and_sees_the_audit_entries(page, login, tmp_path):
    UserFactory(username="root", role=Role.ADMIN, is_staff=True)
    lead = lead_create(data={"email": EMAIL, "first_name": "Grace", "last_name": "Hopper"})
    ActivityFactory(lead=lead)
    Note.objects.create(lead=lead, body="Grace prefers e-mail", created_at=lead.created_at)

    login("root")
    page.locator("header.topbar").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role(
        "link", name="Privacy requests"
    ).click()
    page.get_by_label("E-mail address").fill("Grace.Hopper@NAVY.example")
    page.get_by_role("button", name="Find").click()
    held = page.locator("#held")
    assert f"#{lead.pk} Grace Hopper" in held.inner_text()
    assert "blocklist" in page.locator("#erase").inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("button", name=f"Export lead #{lead.pk} (JSON)").click()
    download = download_info.value
    assert download.suggested_filename == f"lead-{lead.pk}-personal-data.json"
    saved = tmp_path / "export.json"
    download.save_as(saved)
    data = json.loads(saved.read_text())
    assert data["lead"]["email"] == EMAIL
    assert data["notes"][0]["body"] == "Grace prefers e-mail"

    erase = page.get_by_role("button", name="Erase 1 lead permanently")
    page.get_by_label("Type the e-mail address").fill("ERASE")  # wrong: nothing happens
    erase.click()
    page.get_by_text("This is not grace.hopper@navy.example").wait_for()
    assert Lead.objects.get(pk=lead.pk).erased_at is None

    page.get_by_label("Type the e-mail address").fill(EMAIL)
    page.get_by_label("Reason (kept in the audit log)").fill("Art. 17 e-mail of 3 Dec")
    page.get_by_role("button", name="Erase 1 lead permanently").click()
    page.locator("#erased").wait_for()
    assert "On the erasure blocklist" in page.locator("#blocked").inner_text()
    assert Lead.objects.get(pk=lead.pk).erased_at is not None

    page.locator("#erased").get_by_role("link", name="lead.erase").click()
    page.wait_for_url(f"**/privacy/audit/?lead={lead.pk}")
    rows = page.locator("#audit tbody tr")
    assert rows.count() == 2
    assert "lead.erase" in rows.nth(0).inner_text()
    assert "lead.export" in rows.nth(1).inner_text()
    assert "root" in rows.nth(0).inner_text()
    assert subject_hash(EMAIL)[:12] in rows.nth(0).inner_text()
    assert AuditEvent.objects.filter(action__in=["lead.export", "lead.erase"]).count() == 2
    rows.nth(0).get_by_role("link", name=f"Lead #{lead.pk}").click()
    page.wait_for_url(f"**/leads/{lead.pk}/")
    assert page.csp_violations == []
