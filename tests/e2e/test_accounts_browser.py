"""Accounts (issue 18) in real headless Chromium: a marketer creates an account with a domain,
finds the existing lead of that e-mail domain among its members, sets the lead's buying role
(the row's form, swapped by htmx) and sees the account on the lead page."""

import pytest

from companies.models import Account, BuyingRole, Membership
from leadflow.roles import Role
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_marketer_creates_an_account_and_works_its_buying_group(page, login):
    UserFactory(username="marketer", role=Role.MARKETER)
    lead = LeadFactory(
        email="dana@northwind.example", first_name="Dana", last_name="Ruiz", job_title=""
    )
    LeadFactory(email="sam@gmail.com", first_name="Sam", last_name="Free")  # free mail: never
    login("marketer")

    page.locator("header.topbar").get_by_role("link", name="Accounts").click()
    page.wait_for_url("**/companies/")
    page.get_by_role("link", name="New account").click()
    page.get_by_label("Name").fill("Northwind")
    # a free-mail domain first: refused on the field, nothing saved
    page.get_by_label("Domains").fill("northwind.example\ngmail.com")
    page.get_by_role("button", name="Create account").click()
    page.locator(".field-error").filter(has_text="gmail.com").wait_for()
    assert Account.objects.count() == 0
    page.get_by_label("Domains").fill("northwind.example")
    page.get_by_label("Tier").select_option("1")
    page.get_by_role("button", name="Create account").click()
    page.locator("#flash .success").filter(has_text="Northwind").wait_for()
    account = Account.objects.get(name="Northwind")
    assert page.url.endswith(f"/companies/{account.pk}/")

    # the existing lead of that domain is a member; the free-mail one is not
    row = page.locator(f"#member-{lead.pk}")
    assert "Dana Ruiz" in row.inner_text()
    assert "Sam Free" not in page.locator("main").inner_text()

    row.get_by_label("Buying role of Dana Ruiz").select_option(BuyingRole.DECISION_MAKER)
    row.get_by_role("button", name="Set").click()
    page.locator(f"#member-{lead.pk} [role=status]").wait_for()  # htmx swapped the row
    member = Membership.objects.get(lead=lead, ended_at__isnull=True)
    assert member.role == BuyingRole.DECISION_MAKER
    assert member.role_source == Membership.RoleSource.PERSON

    page.get_by_role("link", name="Dana Ruiz").click()
    panel = page.locator("#account-panel")
    panel.wait_for()
    assert panel.get_by_role("link", name="Northwind").get_attribute("href") == (
        f"/companies/{account.pk}/"
    )
    assert "Decision maker" in panel.inner_text()
    assert "E-mail domain" in panel.inner_text()
    assert page.csp_violations == []
