"""Money in Chromium, each role doing its part: a rep prices an SQL in forints (a negative value
is refused in place), records a customer's repeat win; a marketer enters a month of spend (a
misspelt campaign is refused in place) and reads its return; a manager reads the pipeline, the return on spend and
the lifetime value, converted to euros."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from playwright.sync_api import expect

from attribution.models import Spend
from attribution.services import refresh_marked
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ExchangeRate, Win
from tests.leads.factories import LeadFactory, UserFactory
from tests.reports.conftest import make_lead

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_a_rep_prices_deals_a_marketer_enters_spend_and_a_manager_reads_the_money(
    page, login, transactional_db
):
    rep = UserFactory(username="rita", role=Role.SALES_REP)
    UserFactory(username="mara", role=Role.MARKETER)
    UserFactory(username="maria", role=Role.SALES_MANAGER)
    ExchangeRate.objects.create(currency="HUF", rate=Decimal("0.0025"))
    sql = LeadFactory(stage=Stage.SQL, owner=rep, first_name="Ann", last_name="Sql")
    won = make_lead(
        "w", "", Decimal("1000.00"),
        [("suspect", T0), ("sql", T0 + timedelta(days=3)), ("customer", T0 + timedelta(days=9))],
        utm_source="google", utm_medium="cpc", utm_campaign="spring-sale", owner=rep,
    )  # fmt: skip
    refresh_marked()

    login("rita")
    page.goto(f"/leads/{sql.pk}/")
    deal = page.locator("#deal-section")
    deal.get_by_text("Edit deal").click()
    deal.get_by_label("Expected value").fill("-5")
    deal.get_by_role("button", name="Save deal").click()
    expect(deal.get_by_text("Nothing was saved")).to_be_visible()
    deal.get_by_label("Expected value").fill("4000000")
    deal.get_by_label("Currency").select_option("HUF")
    deal.get_by_role("button", name="Save deal").click()
    expect(deal.locator('[data-key="expected_value"]')).to_have_text("4,000,000.00 HUF")
    page.goto(f"/leads/{won.pk}/")
    deal.get_by_text("Record a repeat win").click()
    deal.locator("#id_win-value").fill("500")
    deal.get_by_label("Note").fill("renewal")
    deal.get_by_role("button", name="Record win").click()
    expect(deal.locator('[data-key="lifetime_value"]')).to_have_text("1,500.00 EUR")
    assert Win.objects.get(lead=won).note == "renewal"

    login("mara")
    page.goto("/settings/spend/new/")
    page.get_by_label("Month").fill("2026-03")
    page.get_by_label("Campaign").fill("sprng-sale")
    page.get_by_label("Amount").fill("250")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("No touch has the campaign")).to_be_visible()
    page.get_by_label("Campaign").fill("SPRING-SALE")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="spring-sale", exact=True)).to_be_visible()
    assert Spend.objects.get().campaign == "spring-sale"
    # ... and reads what it returned, from the Reports menu (the marketing reports only)
    page.get_by_role("link", name="Reports", exact=True).click()
    expect(page.get_by_role("link", name="Pipeline", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Return on spend").click()
    page.get_by_label("Attribute to").select_option("campaign")
    page.get_by_role("button", name="Apply").click()
    row = page.locator(".report-table tbody tr").filter(has_text="spring-sale")
    expect(row).to_contain_text("300.0 %")  # (1,000 − 250) / 250 under every model

    login("maria")
    page.goto("/reports/pipeline/?pipeline_by=rep")
    rows = page.locator(".report-table tbody tr")
    expect(rows.filter(has_text="10,000.00")).to_have_count(1)  # 4,000,000 HUF × 0.0025
    page.goto("/reports/roi/?attribution_by=campaign&models=first")
    row = page.locator(".report-table tbody tr").filter(has_text="spring-sale")
    expect(row).to_contain_text("250.00")
    expect(row).to_contain_text("1,000.00")
    expect(row).to_contain_text("300.0 %")  # (1,000 − 250) / 250
    page.goto("/reports/ltv/?ltv_by=customer")
    expect(page.locator(".report-table tbody tr").first).to_contain_text("1,500.00")
    expect(page.locator("canvas")).to_be_visible()
    assert page.csp_violations == []
