"""Repeat wins and lifetime value: a customer's later wins (renewals, upsells) recorded through
the service, the API and the lead page, and the LTV report per first-touch channel, source,
account and customer against sums computed here from the rows themselves."""

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from attribution.channels import Grouping
from attribution.services import rebuild
from companies.models import Account
from companies.services import member_link
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Win
from leads.services import lead_win_add, lead_win_remove
from tests.leads.factories import LeadFactory, UserFactory
from tests.reports.conftest import RATES

pytestmark = pytest.mark.django_db


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _customer(rep, **kwargs):
    kwargs.setdefault("stage_changed_at", timezone.now() - timedelta(days=30))
    return LeadFactory(stage=Stage.CUSTOMER, owner=rep, **kwargs)


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"value": "-5"}, "value", "cannot be negative"),
        ({"value": None}, "value", "required"),
        ({"value": "5", "currency": "XYZ"}, "currency", "not an ISO 4217"),
        ({"value": "5", "currency": "SEK"}, "currency", "no exchange rate"),
        ({"value": "5", "note": "x" * 201}, "note", "200 characters"),
        ({"value": "5", "won_at": timezone.now() + timedelta(days=2)}, "won_at", "future"),
        ({"value": "5", "won_at": timezone.now() - timedelta(days=60)}, "won_at", "after the"),
    ],
)
def test_a_bad_repeat_win_is_refused_naming_the_field_and_nothing_is_written(
    rates, rep, given, field, message
):
    lead = _customer(rep)
    with pytest.raises(ValidationError) as err:
        lead_win_add(lead_id=lead.pk, actor=rep, **given)
    assert list(err.value.message_dict) == [field]
    assert message in err.value.message_dict[field][0]
    assert not Win.objects.exists()
    assert not AuditEvent.objects.filter(action="lead.win_add").exists()


def test_only_a_customer_takes_a_repeat_win_and_removal_is_audited(rates, rep):
    sql = LeadFactory(stage=Stage.SQL, owner=rep)
    with pytest.raises(ValidationError) as err:
        lead_win_add(lead_id=sql.pk, actor=rep, value="10")
    assert list(err.value.message_dict) == ["lead"]
    lead = _customer(rep)
    win = lead_win_add(lead_id=lead.pk, actor=rep, value="1200", currency="DKK", note="renewal")
    assert (win.value, win.currency, win.note) == (Decimal(1200), "DKK", "renewal")
    lead_win_remove(lead_id=lead.pk, win_id=win.pk, actor=rep)
    assert not Win.objects.exists()
    removed = AuditEvent.objects.get(action="lead.win_remove")
    assert removed.details["value"] == "1200.00"


def test_the_api_records_lists_and_removes_repeat_wins(rates, rep):
    lead = _customer(rep, deal_value=Decimal(1000))
    api = _api(rep)
    url = f"/api/v1/leads/{lead.pk}/wins/"
    for body, field in (({"value": "-1"}, "value"), ({"value": "1", "currency": "QQQ"}, "currency"),
                        ({}, "value")):  # fmt: skip
        bad = api.post(url, body, format="json")
        assert bad.status_code == 400, bad.content
        assert field in bad.json()["error"]["fields"]
    assert not Win.objects.exists()
    made = api.post(url, {"value": "400000", "currency": "HUF", "note": "upsell"}, format="json")
    assert made.status_code == 201, made.content
    listed = api.get(url).json()
    assert [(w["value"], w["currency"], w["note"]) for w in listed] == [
        ("400000.00", "HUF", "upsell")
    ]
    assert api.delete(f"{url}{made.json()['id']}/").status_code == 204
    assert api.delete(f"{url}{made.json()['id']}/").status_code == 404
    other = UserFactory(username="olga", role=Role.SALES_REP)
    assert _api(other).post(url, {"value": "1"}, format="json").status_code == 404


def test_the_lead_page_records_a_repeat_win_and_shows_the_lifetime_value(client, rates, rep):
    lead = _customer(rep, deal_value=Decimal(1000))
    client.force_login(rep)
    page = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "Record a repeat win" in page
    url = reverse("leads:win_add", args=[lead.pk])
    bad = client.post(url, {"win-value": "-1", "win-currency": "EUR"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert not Win.objects.exists()
    ok = client.post(url, {"win-value": "400000", "win-currency": "HUF"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    html = ok.content.decode()
    assert 'data-key="lifetime_value">2,000.00' in html  # 1,000 EUR + 400,000 HUF × 0.0025


@pytest.fixture
def book(rates):
    """40 customers over three sources, two accounts, some with repeat wins in 3 currencies."""
    rnd = random.Random(7)
    reps = [UserFactory(username=f"r{i}", role=Role.SALES_REP) for i in range(2)]
    accounts = [Account.objects.create(name=n) for n in ("Acme", "Globex")]
    now = timezone.now()
    for i in range(40):
        lead = LeadFactory(
            stage=Stage.CUSTOMER, owner=rnd.choice(reps),
            source=rnd.choice(["ads", "webinar", "fair"]),
            utm_source=rnd.choice(["google", "newsletter", ""]),
            utm_medium=rnd.choice(["cpc", "email", ""]),
            currency=rnd.choice(list(RATES)),
            deal_value=rnd.choice([None, Decimal(rnd.randrange(100, 10**6)) / 100]),
            stage_changed_at=now - timedelta(days=rnd.randrange(1, 400)),
        )  # fmt: skip
        if i % 3:
            member_link(lead_id=lead.pk, account_id=rnd.choice(accounts).pk, source="explicit")
        for _ in range(rnd.choice([0, 0, 1, 3])):
            lead_win_add(lead_id=lead.pk, actor=None, value=str(rnd.randrange(1, 5000)),
                         currency=rnd.choice(list(RATES)))  # fmt: skip
    LeadFactory(stage=Stage.SQL, deal_value=Decimal(99))  # not a customer: not counted
    rebuild()
    return now


def _expected(key):
    out = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for lead in Lead.objects.filter(stage=Stage.CUSTOMER):
        g = out[key(lead)]
        g[0] += 1
        if lead.deal_value is not None:
            g[2] += (lead.deal_value * RATES[lead.currency]).quantize(Decimal("0.0000001"))
        wins = list(lead.wins.all())
        if wins:
            g[1] += 1
            g[3] += sum((w.value * RATES[w.currency] for w in wins), Decimal(0))
    return {
        k: (
            n,
            rep,
            round(float(first), 2),
            round(float(repeat), 2),
            round(float(first + repeat), 2),
        )
        for k, (n, rep, first, repeat) in out.items()
    }


def _channel(lead):
    from attribution.models import Touch

    first = Touch.objects.filter(lead=lead).order_by("occurred_at", "id").first()
    return Grouping().channel((first.source, first.medium, first.campaign))


def _account(lead):
    m = lead.memberships.filter(ended_at__isnull=True, account__isnull=False).first()
    return m.account.name if m else "(none)"


@pytest.mark.parametrize(
    ("by", "key"),
    [
        ("source", lambda lead: lead.source),
        ("account", _account),
        ("channel", _channel),
        ("customer", lambda lead: f"{lead.first_name} {lead.last_name}"),
    ],
)
def test_lifetime_value_per_group_equals_the_sums_of_the_rows(book, manager, by, key):
    response = _api(manager).get("/api/v1/reports/ltv/", {"ltv_by": by})
    assert response.status_code == 200, response.content
    got = {
        r["group"]: (r["customers"], r["repeat_customers"], r["first_revenue"],
                     r["repeat_revenue"], r["lifetime_value"])
        for r in response.json()["rows"]
    }  # fmt: skip
    assert got == _expected(key)
    for r in response.json()["rows"]:
        assert r["average"] == round(r["lifetime_value"] / r["customers"], 2)


def test_the_period_picks_customers_won_in_it(book, manager):
    since = (book - timedelta(days=100)).date()
    body = (
        _api(manager)
        .get("/api/v1/reports/ltv/", {"ltv_by": "source", "date_from": since.isoformat()})
        .json()
    )
    won = Lead.objects.filter(stage=Stage.CUSTOMER, stage_changed_at__date__gte=since).count()
    assert sum(r["customers"] for r in body["rows"]) == won
    bad = _api(manager).get("/api/v1/reports/ltv/", {"ltv_by": "planet"})
    assert bad.status_code == 400
