"""Exchange rates over the REST API: a rate sync PUTs each currency's rate (created when new),
every change is validated and audited as in Settings, and a rate a deal is in stays."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from attribution.models import RefreshMark
from leadflow.models import AuditEvent
from leads.lifecycle import Stage
from leads.models import ExchangeRate
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

RATES = "/api/v1/exchange-rates/"


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_put_creates_a_rate_then_changes_it_and_both_are_audited(manager):
    api = _api(manager)
    made = api.put(f"{RATES}huf/", {"rate": "0.0025"}, format="json")  # any case in the path
    assert made.status_code == 201, made.content
    assert made.json()["currency"] == "HUF"
    changed = api.put(f"{RATES}HUF/", {"rate": "0.00255"}, format="json")
    assert changed.status_code == 200, changed.content
    assert ExchangeRate.objects.get(currency="HUF").rate == Decimal("0.00255")
    assert [r["currency"] for r in api.get(RATES).json()["results"]] == ["HUF"]
    assert api.get(f"{RATES}huf/").json()["rate"] == "0.00255000"
    actions = AuditEvent.objects.filter(target_type="leads.exchangerate")
    assert sorted(actions.values_list("action", flat=True)) == [
        "settings.create",
        "settings.update",
    ]


def test_a_new_rate_restates_the_won_revenue_in_that_currency(manager):
    ExchangeRate.objects.create(currency="DKK", rate=Decimal("0.134"))
    won = LeadFactory(stage=Stage.CUSTOMER, currency="DKK", deal_value=Decimal("10000"))
    other = LeadFactory(stage=Stage.CUSTOMER, deal_value=Decimal("500"))
    RefreshMark.objects.all().delete()
    response = _api(manager).patch(f"{RATES}DKK/", {"rate": "0.1341"}, format="json")
    assert response.status_code == 200, response.content
    marked = set(RefreshMark.objects.values_list("lead_id", flat=True))
    assert won.pk in marked
    assert other.pk not in marked


def test_post_adds_a_rate_and_a_second_one_for_the_same_code_is_refused(manager):
    api = _api(manager)
    assert api.post(RATES, {"currency": "czk", "rate": "0.04"}, format="json").status_code == 201
    again = api.post(RATES, {"currency": "CZK", "rate": "0.05"}, format="json")
    assert again.status_code == 400
    assert "currency" in again.json()["error"]["fields"]
    assert ExchangeRate.objects.get().rate == Decimal("0.04")


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("EUR/", {"rate": "1"}, "currency", "reporting currency"),
        ("HUF/", {"rate": "-0.1"}, "rate", "more than 0"),
        ("HUF/", {"rate": "0"}, "rate", "more than 0"),
        ("HUF/", {"rate": "cheap"}, "rate", "valid number"),
        ("HUF/", {}, "rate", "required"),
        ("HUF/", {"rate": "0.0025", "currency": "DKK"}, "currency", "the one in the path, HUF"),
        ("HUF/", {"rate": "0.0025", "currency": 7}, "currency", "the one in the path, HUF"),
        ("XYZ/", {"rate": "1.5"}, "currency", "not an ISO 4217 currency code"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(
    manager, path, body, field, message
):
    response = _api(manager).put(f"{RATES}{path}", body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["error"]["fields"][field])
    assert not ExchangeRate.objects.exists()
    assert not AuditEvent.objects.filter(target_type="leads.exchangerate").exists()


def test_patch_of_a_rate_not_held_is_a_404(manager):
    response = _api(manager).patch(f"{RATES}HUF/", {"rate": "0.0025"}, format="json")
    assert response.status_code == 404
    assert not ExchangeRate.objects.exists()


def test_a_rate_a_deal_is_in_cannot_be_deleted(manager):
    ExchangeRate.objects.create(currency="HUF", rate=Decimal("0.0025"))
    ExchangeRate.objects.create(currency="DKK", rate=Decimal("0.134"))
    LeadFactory(stage=Stage.SQL, currency="HUF", deal_value=Decimal("1000000"))
    api = _api(manager)
    refused = api.delete(f"{RATES}HUF/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "in_use"
    assert ExchangeRate.objects.filter(currency="HUF").exists()
    assert api.delete(f"{RATES}dkk/").status_code == 204
    assert not ExchangeRate.objects.filter(currency="DKK").exists()


def test_only_roles_that_keep_rates_read_or_change_them(marketer, rep):
    for user in (marketer, rep):
        api = _api(user)
        assert api.get(RATES).status_code == 403
        assert api.put(f"{RATES}HUF/", {"rate": "0.0025"}, format="json").status_code == 403
    assert not ExchangeRate.objects.exists()
