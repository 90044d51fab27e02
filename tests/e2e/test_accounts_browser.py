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


def test_a_rep_finds_an_mqa_account_in_the_inbox_rejects_wrongly_then_accepts(page, login):
    """The bell's MQA → the inbox's account row → the panel: a reason that needs a comment is
    refused with the reason said and nothing decided; Accept decides it."""
    from companies import services as company_services
    from handover.models import AccountHandover
    from leads.models import Lead, Team
    from scoring import services as scoring_services
    from tests.scoring.factories import make_model

    rep = UserFactory(username="rep1", role=Role.SALES_REP)
    Team.objects.create(name="Inside").members.add(rep)
    make_model(
        [{"kind": "account_fit", "field": "tier", "op": "in", "value": ["1"], "points": 50}],
        account_mqa_threshold=60,
        account_member_points=10,
        account_engagement_cap=0,
        account_role_points=0,
    )
    account = company_services.account_create(
        data={"name": "Fjord Data ApS", "tier": "1", "owner": rep.pk}, actor=None
    )
    lead = LeadFactory(email="ida@fjord.example", owner=rep)
    Lead.objects.filter(pk=lead.pk).update(engagement_score=20)
    company_services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
    scoring_services.account_scores_sweep()
    handover = AccountHandover.objects.get()
    login("rep1")

    page.goto("/handover/inbox/")
    page.get_by_role("link", name="Fjord Data ApS").click()
    panel = page.locator("#account-mqa")
    panel.wait_for()
    assert "score of 60" in panel.inner_text()
    panel.get_by_text("Reject…").click()
    panel.get_by_label("Reason").select_option("other")
    panel.get_by_role("button", name="Reject the account").click()
    page.locator("#flash .error").filter(has_text="needs a comment").wait_for()
    assert AccountHandover.objects.get().status == "open"
    page.locator("#account-mqa").get_by_role("button", name="Accept the account").click()
    page.locator("#flash .success").filter(has_text="Accepted").wait_for()
    assert "Not marketing-qualified now." in page.locator("#account-mqa").inner_text()
    handover.refresh_from_db()
    assert (handover.status, handover.decided_by_id) == ("accepted", rep.pk)
    assert page.csp_violations == []
