"""End-to-end: an admin's Settings journey in real headless Chromium (issue 17 item 2) — add a
holiday to a business calendar, create a sales rep in a team, and that person logs in."""

import pytest

from handover.models import BusinessCalendarConfig
from leadflow.models import AuditEvent, User
from leadflow.roles import Role
from leads.models import Team
from tests.e2e.test_browser import handover_defaults  # noqa: F401 (a fixture)
from tests.leads.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_adds_a_holiday_and_a_sales_rep_who_then_logs_in(page, login, handover_defaults):  # noqa: F811
    ada = UserFactory(username="ada", role=Role.ADMIN, first_name="Ada")
    Team.objects.create(name="Inside sales")
    calendar = BusinessCalendarConfig.objects.get(name="Mon–Fri 09:00–17:00")

    login("ada")
    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_role("navigation", name="Settings").get_by_role(
        "link", name="Business calendars"
    ).click()
    page.get_by_role("link", name=f"Edit {calendar}").click()
    page.get_by_label("Holidays").fill("2026-12-25\n2026-12-26")
    page.get_by_role("button", name="Save").click()
    page.locator("#flash .success").filter(has_text="Saved business calendar").wait_for()
    calendar.refresh_from_db()
    assert calendar.holidays == ["2026-12-25", "2026-12-26"]

    # a bad time zone: the model's rule, shown on the field, nothing saved
    page.get_by_role("link", name=f"Edit {calendar}").click()
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Unknown time zone 'Mars/Olympus'.").wait_for()
    calendar.refresh_from_db()
    assert calendar.time_zone == "UTC"

    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Username").fill("nina")
    page.get_by_label("First name").fill("Nina")
    page.get_by_label("Last name").fill("New")
    page.get_by_label("E-mail").fill("nina@example.test")
    page.get_by_label("Role").select_option(label="Sales rep")
    page.get_by_label("Inside sales").check()
    page.get_by_label("Initial password (required)", exact=True).fill("correct horse battery 7")
    page.get_by_label("Initial password again").fill("correct horse battery 7")
    page.get_by_role("button", name="Create user").click()
    page.locator("#flash .success").filter(has_text="Created nina").wait_for()
    row = page.locator("tr").filter(has_text="nina@example.test")
    assert "sales_rep" in row.inner_text()
    assert "Inside sales" in row.inner_text()
    assert page.csp_violations == []

    page.get_by_role("button", name="Log out").click()
    login("nina", "correct horse battery 7")
    assert page.url.endswith("/handover/inbox/")  # a rep starts in the SAL inbox
    assert "Nina New" in page.locator(".logout").inner_text()

    nina = User.objects.get(username="nina")
    assert list(nina.teams.values_list("name", flat=True)) == ["Inside sales"]
    actions = set(AuditEvent.objects.filter(actor=ada).values_list("action", flat=True))
    assert {"settings.update", "user.create"} <= actions
