"""The attribution report (page, CSV, JSON), the channel grouping, and bad input."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from attribution.channels import DEFAULT_RULES, Grouping
from attribution.models import ChannelRule
from attribution.services import refresh_marked
from leads.models import Activity, ActivityKind
from tests.reports.conftest import make_lead

T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)


@pytest.fixture
def won(db):
    """Won on 2026-02-20 for 900.00: created from Google Ads, then a newsletter click and a
    LinkedIn post; SQL after the newsletter."""
    lead = make_lead(
        "w",
        "",
        Decimal("900.00"),
        [
            ("suspect", T0),
            ("mql", T0 + timedelta(days=5)),
            ("sal", T0 + timedelta(days=6)),
            ("sql", T0 + timedelta(days=8)),
            ("customer", T0 + timedelta(days=18)),
        ],
        utm_source="google",
        utm_medium="cpc",
        utm_campaign="brand",
    )
    for at, kind, props in (
        (T0 + timedelta(days=7), ActivityKind.EMAIL_CLICK, {"campaign": "nl-7"}),
        (T0 + timedelta(days=9), ActivityKind.PAGE_VIEW, {"url": "https://a.example/x", "referrer": "https://www.linkedin.com/feed"}),
    ):  # fmt: skip
        Activity.objects.create(lead=lead, kind=kind, occurred_at=at, properties=props)
    refresh_marked()
    return lead


def _api(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_the_models_side_by_side_by_channel_and_campaign(won, manager):
    api = _api(manager)
    body = api.get("/api/v1/reports/attribution/", {"outcome": "revenue"}).json()
    rows = {r["group"]: r for r in body["rows"]}
    assert set(rows) == {"Paid Search", "Email", "Organic Social"}
    assert [rows[c]["first"] for c in ("Paid Search", "Email", "Organic Social")] == [900, 0, 0]
    assert [rows[c]["last"] for c in ("Paid Search", "Email", "Organic Social")] == [0, 0, 900]
    assert [rows[c]["linear"] for c in ("Paid Search", "Email", "Organic Social")] == [
        300,
        300,
        300,
    ]
    assert [rows[c]["u_shaped"] for c in ("Paid Search", "Email", "Organic Social")] == [
        360,
        180,
        360,
    ]
    # W: first + creation (one touch, 60 %), SQL touch (the click, 30 %), the rest 10 %
    assert [rows[c]["w_shaped"] for c in ("Paid Search", "Email", "Organic Social")] == [
        540,
        270,
        90,
    ]
    assert sum(r["time_decay"] for r in rows.values()) == 900
    counts = api.get(
        "/api/v1/reports/attribution/",
        {"outcome": "customer", "attribution_by": "channel_campaign", "models": "first,last"},
    ).json()
    assert [c["key"] for c in counts["columns"]] == ["channel", "campaign", "first", "last"]
    assert {(r["channel"], r["campaign"], r["first"], r["last"]) for r in counts["rows"]} == {
        ("Paid Search", "brand", 1.0, 0.0),
        ("Email", "nl-7", 0.0, 0.0),
        ("Organic Social", "(none)", 0.0, 1.0),
    } - {("Email", "nl-7", 0.0, 0.0)}  # a group every chosen model gives nothing is left out
    period = api.get(
        "/api/v1/reports/attribution/", {"outcome": "mql", "date_from": "2026-02-08"}
    ).json()
    assert period["rows"] == []  # the MQL was on 2026-02-07


def test_page_and_csv(won, client, manager):
    client.force_login(manager)
    page = client.get(reverse("reports:report", args=["attribution"]), {"outcome": "sql"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Paid Search" in html
    assert "W-shaped" in html
    assert 'name="owner"' not in html  # credits are not kept per owner: no such filter shown
    export = client.get(
        reverse("reports:csv", args=["attribution"]), {"outcome": "revenue", "models": "linear"}
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "Channel,Linear"
    assert sorted(lines[1:]) == ["Email,300.0", "Organic Social,300.0", "Paid Search,300.0"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"models": "first,shapley"}, "models"),
        ({"outcome": "pipeline"}, "outcome"),
        ({"attribution_by": "planet"}, "attribution_by"),
        ({"date_from": "2026-03-01", "date_to": "2026-02-01"}, "date_to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(db, manager, params, field):
    response = _api(manager).get("/api/v1/reports/attribution/", params)
    assert response.status_code == 400
    errors = response.json()["error"]["fields"]
    assert list(errors) == [field]
    if field == "models":
        assert "'shapley'" in errors["models"][0]


def test_default_channel_grouping():
    rules = [
        ChannelRule(channel=c, source_pattern=s, medium_pattern=m, campaign_pattern=p)
        for c, s, m, p in DEFAULT_RULES
    ]
    grouping = Grouping(rules)
    cases = {
        ("(direct)", "(none)", ""): "Direct",
        ("google", "cpc", "brand"): "Paid Search",
        ("seznam.cz", "ppc", ""): "Paid Search",
        ("paid_search", "", ""): "Paid Search",
        ("linkedin", "paid_social", ""): "Paid Social",
        ("xing", "social", ""): "Organic Social",
        ("google.de", "organic", ""): "Organic Search",
        ("organic_search", "", ""): "Organic Search",
        ("newsletter", "email", ""): "Email",
        ("email", "", ""): "Email",
        ("partner.example", "referral", ""): "Referral",
        ("youtube", "", ""): "Organic Video",
        ("adnet", "cpm", ""): "Display",
        ("adnet", "", "cross-network-q1"): "Cross-network",
        ("trade fair", "", ""): "Unassigned",
        ("", "", ""): "Unassigned",
    }
    assert {tags: grouping.channel(tags) for tags in cases} == cases


def test_an_edited_rule_regroups_history_at_once(won, manager):
    ChannelRule.objects.create(position=0, channel="Newsletter", source_pattern="^email$")
    body = _api(manager).get("/api/v1/reports/attribution/", {"outcome": "revenue"}).json()
    assert {r["group"] for r in body["rows"]} == {"Paid Search", "Newsletter", "Organic Social"}


def test_channel_rules_in_settings_check_their_patterns(client, marketer):
    client.force_login(marketer)
    listing = client.get(reverse("configure:channel_rules"))
    assert listing.status_code == 200
    assert "Paid Search" in listing.content.decode()
    bad = client.post(
        reverse("configure:channel_rules_new"),
        {"position": 5, "channel": "Events", "source_pattern": "fair(", "active": "on"},
    )
    assert bad.status_code == 422
    assert "Not a regular expression" in bad.content.decode()
    assert not ChannelRule.objects.filter(channel="Events").exists()
    good = client.post(
        reverse("configure:channel_rules_new"),
        {"position": 5, "channel": "Events", "source_pattern": "fair$", "active": "on"},
    )
    assert good.status_code == 302
    assert ChannelRule.objects.filter(channel="Events").exists()


def test_the_lead_page_lists_the_touches_with_their_channels(won, client, manager, rep):
    client.force_login(manager)
    html = client.get(reverse("leads:detail", args=[won.pk])).content.decode()
    panel = html[html.index('id="touches-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert [c for c in ("Paid Search", "Email", "Organic Social") if c in panel] == [
        "Paid Search",
        "Email",
        "Organic Social",
    ]
    assert "(google / cpc / brand)" in panel
    assert panel.index("Paid Search") < panel.index("Email") < panel.index("Organic Social")
