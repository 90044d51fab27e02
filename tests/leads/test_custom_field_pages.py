"""Custom fields where people work leads (issue 24): the lead page's Details (view and edit),
the New lead form, board cards, list columns and the filter form, each by role."""

import pytest
from django.test import Client
from django.urls import reverse

from leadflow.roles import Role
from leads import customfield_services as cfs
from leads.lifecycle import Stage
from leads.models import Lead
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields():
    cfs.field_create(
        data={
            "key": "erp",
            "label": "ERP in use",
            "type": "choice",
            "choices": ["SAP", "Oracle"],
            "show_on_cards": True,
            "required": True,
        },
        actor=None,
    )
    cfs.field_create(data={"key": "locations", "label": "Locations", "type": "integer"}, actor=None)
    cfs.field_create(
        data={
            "key": "budget",
            "label": "Budget",
            "type": "money",
            "currency": "EUR",
            "visible_to": [Role.SALES_REP, Role.SALES_MANAGER],
        },
        actor=None,
    )


def client_for(role: Role) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


def test_the_lead_page_shows_and_edits_the_fields_the_role_may_see(fields) -> None:
    lead = LeadFactory(custom={"erp": "SAP", "locations": 4, "budget": "9000.00"})
    marketer = client_for(Role.MARKETER)
    page = marketer.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'data-key="erp">SAP</dd>' in page
    assert 'data-key="locations">4</dd>' in page
    assert "Budget" not in page  # seen by sales only
    rep_page = client_for(Role.SALES_MANAGER).get(reverse("leads:detail", args=[lead.pk]))
    assert 'data-key="budget">9000.00 EUR</dd>' in rep_page.content.decode()

    url = reverse("leads:custom", args=[lead.pk])
    form = {"custom-cf_erp": "SAP", "custom-cf_locations": "4"}
    bad = marketer.post(url, {**form, "custom-cf_locations": "four"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert "Locations: expected a whole number" in bad.content.decode()
    assert Lead.objects.get(pk=lead.pk).custom["locations"] == 4  # nothing half-written
    ok = marketer.post(
        url,
        {**form, "custom-cf_erp": "Oracle", "custom-cf_locations": "12"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200
    assert "Details saved." in ok.content.decode()
    assert Lead.objects.get(pk=lead.pk).custom == {
        "erp": "Oracle",
        "locations": 12,
        "budget": "9000.00",
    }
    # a required field cannot be emptied
    emptied = marketer.post(url, {**form, "custom-cf_erp": ""}, HTTP_HX_REQUEST="true")
    assert emptied.status_code == 422
    assert "this field is required" in emptied.content.decode()
    # a field the role may not see is not in the form, and a forged input changes nothing
    marketer.post(url, {**form, "custom-cf_budget": "1.00"}, HTTP_HX_REQUEST="true")
    assert Lead.objects.get(pk=lead.pk).custom["budget"] == "9000.00"


def test_new_lead_form_takes_custom_fields_and_requires_the_required(fields) -> None:
    manager = client_for(Role.SALES_MANAGER)
    page = manager.get(reverse("leads:new")).content.decode()
    assert 'name="cf_erp"' in page
    assert 'name="cf_budget"' in page
    missing = manager.post(reverse("leads:new"), {"email": "new@x.com", "cf_locations": "3"})
    assert missing.status_code == 422
    assert "ERP in use: this field is required." in missing.content.decode()
    assert not Lead.objects.filter(email="new@x.com").exists()
    made = manager.post(
        reverse("leads:new"),
        {"email": "new@x.com", "cf_erp": "SAP", "cf_locations": "3", "cf_budget": "120.5"},
    )
    assert made.status_code == 302
    assert Lead.objects.get(email="new@x.com").custom == {
        "erp": "SAP",
        "locations": 3,
        "budget": "120.50",
    }


def test_cards_columns_and_filters_show_custom_fields(fields) -> None:
    # full names fixed: a random last name such as "Adams" must not match "Ada"
    LeadFactory(stage=Stage.MQL, first_name="Ada", last_name="Lovelace", custom={"erp": "SAP"})
    LeadFactory(stage=Stage.MQL, first_name="Bob", last_name="Noyce", custom={"erp": "Oracle"})
    marketer = client_for(Role.MARKETER)
    board = marketer.get(reverse("leads:board")).content.decode()
    assert "<dt>ERP in use</dt><dd>SAP</dd>" in board  # "show on cards"
    assert 'name="cf_erp"' in board
    assert 'name="cf_locations__min"' in board
    assert 'name="cf_budget"' not in board  # not the marketer's to see
    filtered = marketer.get(reverse("leads:board"), {"cf_erp": "Oracle"}).content.decode()
    assert "Bob Noyce" in filtered
    assert "Ada Lovelace" not in filtered
    listing = marketer.get(reverse("leads:list"), {"cf_erp": "SAP"}).content.decode()
    assert '<th scope="col">ERP in use</th>' in listing
    assert "Ada Lovelace" in listing
    assert "Bob Noyce" not in listing
    bad = marketer.get(reverse("leads:list"), {"cf_locations__min": "many"})
    assert "Locations: expected a whole number" in bad.content.decode()
