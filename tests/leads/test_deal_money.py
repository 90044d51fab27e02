"""Deal money: the expected value and currency a rep sets (usually at SQL), the won value, and
the exchange rates reports convert them at. Every door (service, API, lead page) refuses bad
input naming the field and writes nothing."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.urls import reverse
from rest_framework.test import APIClient

from handover.services import checklist_save
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads import money
from leads.lifecycle import Stage
from leads.models import ExchangeRate, Lead, StageChange
from leads.services import lead_deal_set
from tests.handover.factories import framework
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def huf(db):
    return ExchangeRate.objects.create(currency="HUF", rate=Decimal("0.0025"))


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _money(lead):
    lead.refresh_from_db()
    return lead.expected_value, lead.deal_value, lead.currency


def test_a_rep_sets_the_expected_value_in_a_currency_with_a_rate_and_it_is_audited(rep, huf):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    lead_deal_set(lead_id=lead.pk, actor=rep, expected_value="4500000", currency="huf")
    assert _money(lead) == (Decimal("4500000.00"), None, "HUF")
    event = AuditEvent.objects.get(action="lead.deal_set", target_id=str(lead.pk))
    assert event.details["expected_value"] == {"from": None, "to": "4500000.00"}
    assert event.details["currency"] == {"from": "", "to": "HUF"}
    # the reporting currency is stored as "" (the default), so a changed setting follows it
    lead_deal_set(lead_id=lead.pk, actor=rep, currency="EUR")
    assert _money(lead) == (Decimal("4500000.00"), None, "")


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"expected_value": "-1"}, "expected_value", "cannot be negative"),
        ({"expected_value": "12.345"}, "expected_value", "2 after it"),
        ({"expected_value": "1e13"}, "expected_value", "12 digits"),
        ({"expected_value": "lots"}, "expected_value", "Enter a number"),
        ({"expected_value": "NaN"}, "expected_value", "Enter a number"),
        ({"expected_value": "10", "currency": "XYZ"}, "currency", "not an ISO 4217"),
        ({"expected_value": "10", "currency": "EURO"}, "currency", "not an ISO 4217"),
        ({"expected_value": "10", "currency": "SEK"}, "currency", "no exchange rate for SEK"),
        ({"deal_value": "10"}, "deal_value", "once the lead is a Customer"),
        ({}, "expected_value", "Give expected_value"),
    ],
)
def test_bad_money_is_refused_naming_the_field_and_nothing_is_written(
    rep, huf, given, field, message
):
    lead = LeadFactory(stage=Stage.SQL, owner=rep, expected_value=Decimal(5), currency="HUF")
    with pytest.raises(ValidationError) as err:
        lead_deal_set(lead_id=lead.pk, actor=rep, **given)
    assert list(err.value.message_dict) == [field]
    assert message in err.value.message_dict[field][0]
    assert _money(lead) == (Decimal(5), None, "HUF")
    assert not AuditEvent.objects.filter(action="lead.deal_set").exists()


def test_a_closed_deal_takes_a_won_value_not_an_expected_one(rep, huf):
    won = LeadFactory(stage=Stage.CUSTOMER, owner=rep)
    with pytest.raises(ValidationError) as err:
        lead_deal_set(lead_id=won.pk, actor=rep, expected_value="10")
    assert list(err.value.message_dict) == ["expected_value"]
    lead_deal_set(lead_id=won.pk, actor=rep, deal_value="9000", currency="HUF")
    assert _money(won) == (None, Decimal(9000), "HUF")


def test_the_api_sets_the_deal_and_answers_400_naming_the_field(rep, huf):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    api = _api(rep)
    url = f"/api/v1/leads/{lead.pk}/deal/"
    for body, field in (
        ({"expected_value": "-5"}, "expected_value"),
        ({"expected_value": "10", "currency": "ABC"}, "currency"),
        ({"expected_value": "10", "currency": "SEK"}, "currency"),
        ({"deal_value": "10"}, "deal_value"),
        ({"expected_value": "x"}, "expected_value"),
    ):
        response = api.patch(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in str(response.json()), (body, response.json())
        assert _money(lead) == (None, None, "")
    response = api.patch(url, {"expected_value": "2500000.50", "currency": "HUF"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["expected_value"], body["currency"]) == ("2500000.50", "HUF")
    # the lead's fields are read-only through PATCH /leads/{id}/: the deal has its own door
    response = api.patch(f"/api/v1/leads/{lead.pk}/", {"expected_value": "1"}, format="json")
    assert _money(lead)[0] == Decimal("2500000.50")


def test_another_reps_lead_is_not_theirs_to_price(rep, huf):
    other = LeadFactory(stage=Stage.SQL, owner=UserFactory(username="olga", role=Role.SALES_REP))
    response = _api(rep).patch(
        f"/api/v1/leads/{other.pk}/deal/", {"expected_value": "10"}, format="json"
    )
    assert response.status_code == 404
    assert _money(other) == (None, None, "")


def test_mark_sql_with_a_value_records_it_on_the_sql_entry_and_a_bad_one_moves_nothing(rep, huf):
    lead = LeadFactory(stage=Stage.SAL, owner=rep)
    api = _api(rep)
    url = f"/api/v1/leads/{lead.pk}/mark-sql/"
    bad = api.post(url, {"expected_value": "100", "currency": "SEK"}, format="json")
    assert bad.status_code == 400
    assert "currency" in bad.json()["error"]["fields"]
    # a good value but a move the qualification gate refuses: the value goes back too
    gated = api.post(url, {"expected_value": "100", "currency": "HUF"}, format="json")
    assert gated.status_code == 409, gated.content
    assert _money(lead) == (None, None, "")
    assert not AuditEvent.objects.filter(action="lead.deal_set").exists()
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    answers = {k: {"met": True} for k in ("budget", "authority", "need", "timeline")}
    checklist_save(lead_id=lead.pk, framework_code=framework().code, answers=answers, actor=rep)
    ok = api.post(url, {"expected_value": "800000", "currency": "HUF"}, format="json")
    assert ok.status_code == 200, ok.content
    entry = StageChange.objects.filter(lead=lead, to_stage=Stage.SQL).get()
    assert (entry.value, entry.currency) == (Decimal(800000), "HUF")


def test_convert_with_a_won_value_and_currency_and_a_bad_currency_converts_nothing(rep, huf):
    lead = LeadFactory(stage=Stage.SQL, owner=rep, expected_value=Decimal(7))
    url = f"/api/v1/leads/{lead.pk}/convert/"
    api = _api(rep)
    bad = api.post(url, {"deal_value": "100", "currency": "QQQ"}, format="json")
    assert bad.status_code == 400
    assert "currency" in bad.json()["error"]["fields"]
    negative = api.post(url, {"deal_value": "-100"}, format="json")
    assert negative.status_code == 400
    assert "deal_value" in negative.json()["error"]["fields"]
    lead.refresh_from_db()
    assert (lead.stage, lead.deal_value) == (Stage.SQL, None)
    ok = api.post(url, {"deal_value": "950000", "currency": "HUF"}, format="json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["stage"] == "customer"
    assert _money(lead) == (Decimal(7), Decimal(950000), "HUF")


def test_a_rate_in_use_cannot_be_deleted(rep, huf):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    lead_deal_set(lead_id=lead.pk, actor=rep, currency="HUF")
    with pytest.raises(ProtectedError):
        huf.delete()
    lead_deal_set(lead_id=lead.pk, actor=rep, currency="")
    huf.delete()
    assert not ExchangeRate.objects.exists()


def test_settings_refuse_the_reporting_currency_and_a_rate_in_use(client, manager, huf):
    client.force_login(manager)
    response = client.post(
        reverse("configure:exchange_rates_new"), {"currency": "EUR", "rate": "1"}
    )
    assert response.status_code == 422
    assert "is the reporting currency" in response.content.decode()
    response = client.post(
        reverse("configure:exchange_rates_new"), {"currency": "DKK", "rate": "0"}
    )
    assert response.status_code == 422
    LeadFactory(stage=Stage.SQL, currency="HUF", expected_value=Decimal(1))
    response = client.post(reverse("configure:exchange_rates_delete", args=[huf.pk]))
    assert ExchangeRate.objects.filter(pk=huf.pk).exists()
    assert "1 lead" in response.content.decode()


def test_converted_is_one_expression_for_every_currency(rep, huf, settings):
    ExchangeRate.objects.create(currency="DKK", rate=Decimal("0.134"))
    LeadFactory(expected_value=Decimal(1000), currency="")
    LeadFactory(expected_value=Decimal(1000), currency="HUF")
    LeadFactory(expected_value=Decimal(1000), currency="DKK")
    LeadFactory(expected_value=None, currency="DKK")
    values = sorted(
        v
        for v in Lead.objects.values_list(money.converted("expected_value", "currency"), flat=True)
        if v is not None
    )
    assert values == [Decimal("2.5"), Decimal(134), Decimal(1000)]


def test_the_lead_page_edits_the_deal(client, rep, huf):
    lead = LeadFactory(stage=Stage.SQL, owner=rep)
    client.force_login(rep)
    page = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'id="deal-h"' in page
    assert 'name="expected_value"' in page
    url = reverse("leads:deal", args=[lead.pk])
    bad = client.post(url, {"expected_value": "-3", "currency": "HUF"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert "Nothing was saved" in bad.content.decode()
    assert _money(lead) == (None, None, "")
    ok = client.post(url, {"expected_value": "1200000", "currency": "HUF"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    assert "Deal saved." in ok.content.decode()
    assert _money(lead) == (Decimal(1200000), None, "HUF")
    # another rep's lead: 404 (cannot see it), nothing written
    other = UserFactory(username="otto", role=Role.SALES_REP)
    client.force_login(other)
    assert client.post(url, {"expected_value": "1", "currency": "EUR"}).status_code == 404
    assert _money(lead)[0] == Decimal(1200000)
