"""Money in the reports: the pipeline (open SQL deals), the value lost after SQL (exits) and won
revenue (sources, attribution), each converted to the reporting currency at the rates held now,
checked against sums computed here from the leads themselves."""

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from attribution.services import rebuild, refresh_marked
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ExchangeRate, Lead, Team
from leads.services import lead_deal_set, lead_move
from tests.leads.factories import LeadFactory, UserFactory
from tests.reports.conftest import RATES

pytestmark = pytest.mark.django_db


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _report(user, slug, **params):
    response = _api(user).get(f"/api/v1/reports/{slug}/", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def deals(rates):
    """60 leads in every stage, SQL ones of several ages, reps, teams, sources and currencies."""
    rnd = random.Random(20)
    teams = [Team.objects.create(name=n) for n in ("North", "South")]
    reps = [UserFactory(username=f"rep{i}", role=Role.SALES_REP) for i in range(3)]
    now = timezone.now()
    for i in range(60):
        stage = Stage.SQL if i % 3 else rnd.choice([Stage.SAL, Stage.CUSTOMER, Stage.NURTURE])
        LeadFactory(
            stage=stage,
            owner=rnd.choice([*reps, None]),
            team=rnd.choice([*teams, None]),
            source=rnd.choice(["webinar", "ads", ""]),
            currency=rnd.choice(list(RATES)),
            expected_value=rnd.choice([None, Decimal(rnd.randrange(1, 10**7)) / 100]),
            stage_changed_at=now - timedelta(days=rnd.randrange(0, 200), hours=1),
        )
    return now


def _expected(now, key):
    """Per group: deals, with a value, total — straight from the leads."""
    out = defaultdict(lambda: [0, 0, Decimal(0)])
    for lead in Lead.objects.filter(stage=Stage.SQL):
        g = out[key(lead, now)]
        g[0] += 1
        if lead.expected_value is not None:
            g[1] += 1
            g[2] += lead.expected_value * RATES[lead.currency]
    return out


def _age(lead, now):
    days = now - lead.stage_changed_at
    for i, limit in enumerate((7, 30, 90)):
        if days < timedelta(days=limit):
            return i
    return 3


@pytest.mark.parametrize(
    ("by", "key", "label"),
    [
        ("age", _age, lambda k: ["0–7 days", "8–30 days", "31–90 days", "over 90 days"][k]),
        ("rep", lambda lead, now: lead.owner_id, None),
        ("team", lambda lead, now: lead.team_id, None),
        ("source", lambda lead, now: lead.source, None),
    ],
)
def test_the_pipeline_totals_open_sql_value_per_group_in_the_reporting_currency(
    deals, manager, by, key, label
):
    body = _report(manager, "pipeline", pipeline_by=by)
    expected = _expected(deals, key)
    names = {
        "rep": lambda k: str(Lead.objects.filter(owner_id=k).first().owner) if k else "(none)",
        "team": lambda k: Team.objects.get(pk=k).name if k else "(none)",
        "source": lambda k: k or "(none)",
    }
    name = label or names[by]
    got = {r["group"]: (r["deals"], r["valued"], r["value"]) for r in body["rows"]}
    assert got == {
        name(k): (n, valued, round(float(total), 2)) for k, (n, valued, total) in expected.items()
    }
    assert sum(r["deals"] for r in body["rows"]) == Lead.objects.filter(stage=Stage.SQL).count()
    assert body["columns"][3]["label"] == "Expected value (EUR)"


def test_the_pipeline_by_month_filters_and_the_period(deals, manager):
    body = _report(manager, "pipeline", pipeline_by="month")
    assert sum(r["deals"] for r in body["rows"]) == Lead.objects.filter(stage=Stage.SQL).count()
    rep = Lead.objects.filter(stage=Stage.SQL, owner__isnull=False).first().owner
    mine = _report(manager, "pipeline", pipeline_by="rep", owner=rep.pk)
    assert [r["deals"] for r in mine["rows"]] == [
        Lead.objects.filter(stage=Stage.SQL, owner=rep).count()
    ]
    since = (deals - timedelta(days=30)).date()
    recent = _report(manager, "pipeline", pipeline_by="age", date_from=since.isoformat())
    entered = Lead.objects.filter(
        stage=Stage.SQL, stage_changed_at__date__gte=since
    ).count()  # (UTC is the test site's zone)
    assert sum(r["deals"] for r in recent["rows"]) == entered


def test_a_changed_rate_restates_the_pipeline(rates, manager):
    LeadFactory(stage=Stage.SQL, currency="HUF", expected_value=Decimal(1_000_000))
    before = _report(manager, "pipeline", pipeline_by="source")["rows"][0]["value"]
    ExchangeRate.objects.filter(currency="HUF").update(rate=Decimal("0.003"))
    after = _report(manager, "pipeline", pipeline_by="source")["rows"][0]["value"]
    assert (before, after) == (2500.0, 3000.0)


def test_bad_grouping_is_a_400_naming_the_field(manager):
    response = _api(manager).get("/api/v1/reports/pipeline/", {"pipeline_by": "planet"})
    assert response.status_code == 400
    assert "pipeline_by" in str(response.json())


def test_the_page_and_csv(deals, client, manager):
    client.force_login(manager)
    page = client.get(reverse("reports:report", args=["pipeline"]), {"pipeline_by": "age"})
    assert page.status_code == 200
    assert "0–7 days" in page.content.decode()
    csv = client.get(reverse("reports:csv", args=["pipeline"]), {"pipeline_by": "team"})
    assert csv.status_code == 200
    text = b"".join(csv.streaming_content).decode() if csv.streaming else csv.content.decode()
    assert "Expected value (EUR)" in text.splitlines()[0]


def test_reps_cannot_open_it(client, rep):
    client.force_login(rep)
    assert client.get(reverse("reports:report", args=["pipeline"])).status_code == 403


def test_value_lost_after_sql_is_the_expected_value_then_converted(rates, manager, rep):
    sql_huf = LeadFactory(stage=Stage.SQL, owner=rep, currency="HUF", expected_value=Decimal(4e6))
    sql_eur = LeadFactory(stage=Stage.SQL, owner=rep, expected_value=Decimal(500))
    sal = LeadFactory(stage=Stage.SAL, owner=rep, expected_value=Decimal(999))
    for lead in (sql_huf, sql_eur, sal):
        lead_move(lead_id=lead.pk, to="nurture", actor=rep, source="ui", reason_code="lost_price")
    # a later edit of the value does not rewrite the loss: it is the value then
    lead_deal_set(lead_id=sql_eur.pk, actor=rep, expected_value="1")
    rows = _report(manager, "exits")["rows"]
    (row,) = [r for r in rows if r["reason"] == "lost_price"]
    assert (row["from_sql"], row["from_sal"]) == (2, 1)
    assert row["lost_value"] == 10_500.0  # 4,000,000 HUF × 0.0025 + 500 EUR; SAL not counted


def test_won_revenue_is_converted_in_sources_and_attribution(rates, manager, rep):
    won = LeadFactory(stage=Stage.SQL, owner=rep, source="fair", currency="DKK")
    lead_move(lead_id=won.pk, to="customer", actor=rep, source="ui")
    lead_deal_set(lead_id=won.pk, actor=rep, deal_value="10000")
    sources = _report(manager, "sources")["rows"]
    assert [(r["key"], r["revenue"]) for r in sources] == [("fair", 1340.0)]
    rebuild()
    first = _report(manager, "attribution", outcome="revenue", attribution_by="source")
    assert [(r["group"], r["first"]) for r in first["rows"]] == [("fair", 1340.0)]
    # a new rate restates won revenue: the rate's save marks the deals in its currency
    rate = ExchangeRate.objects.get(currency="DKK")
    rate.rate = Decimal("0.2")
    rate.save()
    refresh_marked()
    again = _report(manager, "attribution", outcome="revenue", attribution_by="source")
    assert [(r["group"], r["first"]) for r in again["rows"]] == [("fair", 2000.0)]


def test_the_worked_example_of_the_docs(rates, manager, rep):
    """docs/reports.md#pipeline, figure by figure."""
    now = timezone.now()
    huf = LeadFactory(stage=Stage.SQL, owner=rep, source="ads", currency="HUF",
                      expected_value=Decimal(4_000_000), stage_changed_at=now - timedelta(days=3))  # fmt: skip
    dkk = LeadFactory(stage=Stage.SQL, owner=rep, source="ads", currency="DKK",
                      expected_value=Decimal(10_000), stage_changed_at=now - timedelta(days=20))  # fmt: skip
    LeadFactory(stage=Stage.SQL, owner=rep, stage_changed_at=now - timedelta(days=100))
    rows = _report(manager, "pipeline")["rows"]
    assert [(r["group"], r["deals"], r["valued"], r["value"], r["average"]) for r in rows] == [
        ("0–7 days", 1, 1, 10_000.0, 10_000.0),
        ("8–30 days", 1, 1, 1_340.0, 1_340.0),
        ("over 90 days", 1, 0, 0.0, None),
    ]
    lead_move(lead_id=huf.pk, to="nurture", actor=rep, source="ui", reason_code="lost_price")
    (lost,) = [r for r in _report(manager, "exits")["rows"] if r["reason"] == "lost_price"]
    assert lost["lost_value"] == 10_000.0
    lead_move(lead_id=dkk.pk, to="customer", actor=rep, source="ui")
    lead_deal_set(lead_id=dkk.pk, actor=rep, deal_value="12000")
    (ads,) = [r for r in _report(manager, "sources")["rows"] if r["key"] == "ads"]
    assert ads["revenue"] == 1_608.0
