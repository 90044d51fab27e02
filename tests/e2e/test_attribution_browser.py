"""Attribution in Chromium: a marketer adds a channel rule (a bad pattern is refused in place),
a manager reads the six models, narrows them to two and an outcome, and the lead page lists
the touches under the new channel."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from playwright.sync_api import expect

from attribution.models import ChannelRule
from attribution.services import refresh_marked
from leadflow.roles import Role
from leads.models import Activity, ActivityKind
from tests.leads.factories import UserFactory
from tests.reports.conftest import make_lead

T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)


def _won_lead():
    lead = make_lead(
        "w",
        "",
        Decimal("900.00"),
        [("suspect", T0), ("mql", T0 + timedelta(days=5)), ("sal", T0 + timedelta(days=6)),
         ("sql", T0 + timedelta(days=8)), ("customer", T0 + timedelta(days=18))],
        utm_source="google", utm_medium="cpc", utm_campaign="brand",
    )  # fmt: skip
    Activity.objects.create(
        lead=lead,
        kind=ActivityKind.EMAIL_CLICK,
        occurred_at=T0 + timedelta(days=7),
        properties={"campaign": "nl-7"},
    )
    refresh_marked()
    return lead


def test_a_marketer_names_a_channel_and_a_manager_compares_the_models(
    page, login, transactional_db
):
    UserFactory(username="mara", role=Role.MARKETER)
    UserFactory(username="maria", role=Role.SALES_MANAGER)
    lead = _won_lead()

    login("mara")
    page.goto("/settings/channel-rules/new/")
    page.get_by_label("Channel").fill("Newsletter")
    page.get_by_label("Position").fill("1")
    page.get_by_label("Source pattern").fill("^(email")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Not a regular expression")).to_be_visible()
    page.get_by_label("Source pattern").fill("^email$")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="Newsletter", exact=True)).to_be_visible()
    assert ChannelRule.objects.filter(channel="Newsletter", source_pattern="^email$").exists()

    login("maria")
    page.goto("/reports/")
    page.get_by_role("link", name="Attribution").click()
    expect(page.get_by_role("heading", name="Attribution", exact=True)).to_be_visible()
    headers = page.locator(".report-table th")
    expect(headers).to_have_count(7)  # the channel and six models
    page.get_by_label("Outcome").select_option("revenue")
    page.get_by_label("First touch").check()
    page.get_by_label("Last touch").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_label("Outcome")).to_have_value("revenue")
    expect(headers).to_have_text(["Channel", "First touch", "Last touch"])
    rows = page.locator(".report-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Paid Search")).to_contain_text("900.00")
    expect(rows.filter(has_text="Newsletter")).to_contain_text("0.00")
    expect(page.locator("canvas")).to_be_visible()
    csv = page.get_by_role("link", name="Download CSV")
    expect(csv).to_have_attribute(
        "href", "/reports/attribution/export.csv?" + page.url.split("?")[1]
    )

    page.goto(f"/leads/{lead.pk}/")
    panel = page.locator("#touches-panel")
    expect(panel).to_contain_text("Paid Search")
    expect(panel).to_contain_text("Newsletter")
    assert page.csp_violations == []
