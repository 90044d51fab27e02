"""Campaign spend (imported over the API or from a CSV file, or entered in Settings) and the
return-on-spend report that sets it against attributed revenue."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from attribution.models import Spend
from attribution.services import rebuild
from leadflow.models import AuditEvent
from leads.lifecycle import Stage
from leads.models import ExchangeRate
from leads.services import lead_convert
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _won(rep, campaign: str, value: str, *, source="google", medium="cpc", at=MARCH):
    lead = LeadFactory(
        stage=Stage.SQL, owner=rep, utm_source=source, utm_medium=medium,
        utm_campaign=campaign, stage_changed_at=at,
    )  # fmt: skip
    lead_convert(lead_id=lead.pk, actor=rep, source="ui", at=at, deal_value=Decimal(value))
    return lead


@pytest.fixture
def journeys(rep):
    """Two won campaigns (March 2026) and one newsletter touch that won nothing."""
    _won(rep, "Spring-Sale", "10000")
    _won(rep, "brand", "3000", medium="organic", source="google")
    LeadFactory(stage=Stage.LEAD, utm_source="newsletter", utm_medium="email",
                utm_campaign="march-news")  # fmt: skip
    rebuild()


ROWS = [
    {"month": "2026-03", "source": "google", "medium": "cpc", "campaign": "spring-sale",
     "amount": "2000"},
    {"month": "2026-03", "source": "newsletter", "medium": "email", "campaign": "march-news",
     "amount": "500.50"},
]  # fmt: skip


def test_an_import_stores_every_row_spelled_as_the_touches_and_replaces_on_reimport(
    journeys, marketer
):
    api = _api(marketer)
    response = api.post("/api/v1/spend/", {"rows": ROWS}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"stored": 2}
    spring = Spend.objects.get(campaign="Spring-Sale")  # the touches' spelling
    assert (spring.month.isoformat(), spring.amount) == ("2026-03-01", Decimal(2000))
    again = [{**ROWS[0], "amount": "2500"}]
    assert api.post("/api/v1/spend/", {"rows": again}, format="json").status_code == 200
    assert Spend.objects.count() == 2
    assert Spend.objects.get(campaign="Spring-Sale").amount == Decimal(2500)
    assert AuditEvent.objects.filter(action="spend.import").count() == 2
    listed = api.get("/api/v1/spend/", {"month_from": "2026-03"}).json()["results"]
    assert sorted(r["campaign"] for r in listed) == ["Spring-Sale", "march-news"]


@pytest.mark.parametrize(
    ("bad", "key", "message"),
    [
        ({"campaign": "no-such-campaign"}, "rows[1].campaign", "No touch has the campaign"),
        ({"campaign": "", "source": "altavista"}, "rows[1].source", "No touch has the source"),
        ({"campaign": "", "source": ""}, "rows[1].campaign", "Give a campaign, a source"),
        ({"amount": "-1"}, "rows[1].amount", "cannot be negative"),
        ({"amount": None}, "rows[1].amount", "required"),
        ({"month": "2026-13"}, "rows[1].month", "YYYY-MM"),
        ({"month": "March"}, "rows[1].month", "YYYY-MM"),
        ({"currency": "XYZ"}, "rows[1].currency", "not an ISO 4217"),
        ({"currency": "SEK"}, "rows[1].currency", "no exchange rate for SEK"),
        ({"colour": "red"}, "rows[1].colour", "Unknown field"),
        (
            {"campaign": "SPRING-SALE", "source": "google", "medium": "cpc"},
            "rows[1].campaign",
            "same month and tags as row 0",
        ),  # fmt: skip
    ],
)
def test_a_bad_row_is_a_400_naming_it_and_nothing_is_stored(journeys, marketer, bad, key, message):
    rows = [ROWS[0], {**ROWS[1], **bad}]
    if "colour" in bad:
        rows[1] = {**ROWS[1], "colour": "red"}
    response = _api(marketer).post("/api/v1/spend/", {"rows": rows}, format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == [key]
    assert message in " ".join(fields[key])
    assert not Spend.objects.exists()


def test_malformed_bodies_and_who_may_import(journeys, marketer, rep):
    api = _api(marketer)
    for body in ({"rows": []}, {"rows": "x"}, {}, {"rows": ["x"]}):
        assert api.post("/api/v1/spend/", body, format="json").status_code == 400, body
    assert _api(rep).post("/api/v1/spend/", {"rows": ROWS}, format="json").status_code == 403
    assert _api(rep).get("/api/v1/spend/").status_code == 403
    assert not Spend.objects.exists()


def test_the_csv_command_imports_or_names_the_bad_line(journeys, tmp_path):
    good = tmp_path / "spend.csv"
    good.write_text(
        "month,source,medium,campaign,amount,currency\n"
        "2026-03,google,cpc,spring-sale,1200.00,\n2026-04,google,cpc,Spring-Sale,800,EUR\n"
    )
    call_command("import_spend", str(good))
    assert Spend.objects.count() == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("month,campaign,amount\n2026-05,brand,10\n2026-05,brand,-5\n2026-05,nope,5\n")
    with pytest.raises(CommandError) as err:
        call_command("import_spend", str(bad))
    assert "line 3.amount: An amount cannot be negative." in str(err.value)
    assert "line 4.campaign: No touch has the campaign 'nope'" in str(err.value)
    assert Spend.objects.count() == 2


def test_settings_entry_checks_the_campaign(journeys, client, marketer):
    client.force_login(marketer)
    url = reverse("configure:spend_new")
    data = {"month": "2026-03", "source": "", "medium": "", "campaign": "nope", "amount": "5"}
    refused = client.post(url, data)
    assert refused.status_code == 422
    assert "No touch has the campaign" in refused.content.decode()
    assert client.post(url, data | {"campaign": "brand"}).status_code == 302
    assert Spend.objects.get().campaign == "brand"


def _roi(user, **params):
    response = _api(user).get("/api/v1/reports/roi/", params)
    assert response.status_code == 200, response.content
    return {r["label"]: r for r in response.json()["rows"]}


def test_return_on_spend_per_campaign_and_channel(journeys, marketer, manager):
    ExchangeRate.objects.create(currency="HUF", rate=Decimal("0.0025"))
    rows = [ROWS[0], {**ROWS[1], "amount": "200000", "currency": "HUF"}]  # 500 EUR
    assert _api(marketer).post("/api/v1/spend/", {"rows": rows}, format="json").status_code == 200
    by_campaign = _roi(manager, attribution_by="campaign", models="first,last")
    spring = by_campaign["Spring-Sale"]
    assert (spring["spend"], spring["revenue_first"], spring["roi_first"]) == (2000.0, 10000.0, 4.0)
    news = by_campaign["march-news"]
    assert (news["spend"], news["revenue_first"], news["roi_first"]) == (500.0, 0.0, -1.0)
    brand = by_campaign["brand"]  # revenue without spend: no return figure
    assert (brand["spend"], brand["revenue_first"], brand["roi_first"]) == (0.0, 3000.0, None)
    by_channel = _roi(manager, attribution_by="channel", models="linear")
    assert by_channel["Paid Search"]["spend"] == 2000.0
    assert by_channel["Email"]["roi_linear"] == -1.0


def test_a_period_takes_the_share_of_each_months_days(journeys, marketer, manager):
    _api(marketer).post("/api/v1/spend/", {"rows": [ROWS[0]]}, format="json")  # 2,000 in March
    half = _roi(manager, attribution_by="campaign", date_from="2026-03-01", date_to="2026-03-15")
    assert half["Spring-Sale"]["spend"] == round(2000 * 15 / 31, 2)
    april = _roi(manager, attribution_by="campaign", date_from="2026-04-01")
    assert "Spring-Sale" not in april


def test_the_roi_page_and_csv(journeys, client, marketer, manager):
    _api(marketer).post("/api/v1/spend/", {"rows": ROWS}, format="json")
    client.force_login(manager)
    page = client.get(reverse("reports:report", args=["roi"]), {"attribution_by": "campaign"})
    assert page.status_code == 200
    assert "Spring-Sale" in page.content.decode()
    csv = client.get(reverse("reports:csv", args=["roi"]), {"models": "first"})
    text = b"".join(csv.streaming_content).decode() if csv.streaming else csv.content.decode()
    assert "Spend (EUR)" in text.splitlines()[0]
    assert "First touch: return" in text.splitlines()[0]
