"""Custom field values and tags on the REST API: read by role, written by role and type, the
OpenAPI schema lists each field."""

import pytest
from rest_framework.test import APIClient

from leadflow.roles import Role
from leads.models import CustomField, FieldType, Lead, Tag
from tests.leads.custom_fields import make_field, standard_fields
from tests.leads.factories import LeadFactory, UserFactory


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def fields_of(response):
    return response.json()["error"]["fields"]


@pytest.mark.django_db
def test_lead_shows_only_the_custom_fields_the_role_may_see_and_its_tags(marketer, manager):
    standard_fields()
    make_field("margin", FieldType.DECIMAL, visible_to=[Role.SALES_MANAGER.value])
    lead = LeadFactory(custom={"seats": 12, "margin": "0.3", "erp": "sap"})
    lead.tags.add(Tag.objects.create(name="webinar"))

    seen = client_for(marketer).get(f"/api/v1/leads/{lead.pk}/").json()
    assert seen["custom"] == {"seats": 12, "erp": "sap"}
    assert seen["tags"] == ["webinar"]
    listed = client_for(marketer).get("/api/v1/leads/").json()["results"]
    assert listed[0]["custom"] == {"seats": 12, "erp": "sap"}
    assert client_for(manager).get(f"/api/v1/leads/{lead.pk}/").json()["custom"] == {
        "seats": 12,
        "margin": "0.3",
        "erp": "sap",
    }


@pytest.mark.django_db
def test_an_api_key_sees_what_its_user_may_see(make_api_key, manager):
    make_field("seats", FieldType.INTEGER)
    make_field("margin", FieldType.DECIMAL, visible_to=[Role.SALES_MANAGER.value])
    lead = LeadFactory(custom={"seats": 3, "margin": "0.3"})
    integration, _ = make_api_key("leads:read")
    as_manager, _ = make_api_key("leads:read", user=manager)

    def read(secret):
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client.get(f"/api/v1/leads/{lead.pk}/").json()["custom"]

    assert read(integration) == {"seats": 3}
    assert read(as_manager) == {"seats": 3, "margin": "0.3"}


@pytest.mark.django_db
def test_create_and_update_write_typed_values_merged_key_by_key(marketer):
    standard_fields()
    client = client_for(marketer)
    created = client.post(
        "/api/v1/leads/",
        {"email": "ada@acme.example", "custom": {"seats": "12", "erp": "SAP", "budget": 900}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["custom"] == {"seats": 12, "erp": "sap", "budget": "900.00"}
    lead_id = created.json()["id"]

    changed = client.patch(
        f"/api/v1/leads/{lead_id}/",
        {"custom": {"renewal": "2027-01-31", "erp": None}},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert Lead.objects.get(pk=lead_id).custom == {
        "seats": 12,
        "budget": "900.00",
        "renewal": "2027-01-31",
    }

    upserted = client.post(
        "/api/v1/leads/", {"email": "ada@acme.example", "custom": {"seats": 14}}, format="json"
    )
    assert upserted.status_code == 200
    assert upserted.json()["custom"]["seats"] == 14


@pytest.mark.django_db
def test_a_wrong_type_or_unknown_key_is_a_400_naming_it_and_nothing_is_written(marketer):
    standard_fields()
    lead = LeadFactory(first_name="Ada", custom={"seats": 2})
    client = client_for(marketer)

    bad = client.patch(
        f"/api/v1/leads/{lead.pk}/",
        {"first_name": "Grace", "custom": {"seats": "many", "erp": "sap", "nope": 1}},
        format="json",
    )
    assert bad.status_code == 400
    fields = fields_of(bad)
    assert "a whole number" in fields["custom.seats"][0]
    assert "'many'" in fields["custom.seats"][0]
    assert "nope" in fields["custom.nope"][0]
    lead.refresh_from_db()
    assert (lead.first_name, lead.custom) == ("Ada", {"seats": 2})

    choice = client.post(
        "/api/v1/leads/", {"email": "x@y.example", "custom": {"erp": "sage"}}, format="json"
    )
    assert choice.status_code == 400
    assert "sap, odoo" in fields_of(choice)["custom.erp"][0]
    assert not Lead.objects.filter(email="x@y.example").exists()

    not_an_object = client.patch(f"/api/v1/leads/{lead.pk}/", {"custom": [1]}, format="json")
    assert not_an_object.status_code == 400
    assert "custom" in fields_of(not_an_object)


@pytest.mark.django_db
def test_a_field_the_role_may_not_edit_is_a_400_naming_it(marketer, manager):
    make_field("seats", FieldType.INTEGER)
    make_field("discount", FieldType.INTEGER, editable_by=[Role.SALES_MANAGER.value])
    make_field("margin", FieldType.DECIMAL, visible_to=[Role.SALES_MANAGER.value])
    lead = LeadFactory(custom={"discount": 5})

    refused = client_for(marketer).patch(
        f"/api/v1/leads/{lead.pk}/",
        {"custom": {"seats": 3, "discount": 10, "margin": "0.5"}},
        format="json",
    )
    assert refused.status_code == 400
    assert set(fields_of(refused)) == {"custom.discount", "custom.margin"}
    lead.refresh_from_db()
    assert lead.custom == {"discount": 5}

    allowed = client_for(manager).patch(
        f"/api/v1/leads/{lead.pk}/", {"custom": {"discount": 10}}, format="json"
    )
    assert allowed.status_code == 200
    assert allowed.json()["custom"] == {"discount": 10}


@pytest.mark.django_db
def test_a_required_custom_field_is_required_when_the_api_creates_a_lead(marketer):
    make_field("erp", FieldType.TEXT, required=True, label="ERP")
    client = client_for(marketer)
    missing = client.post("/api/v1/leads/", {"email": "a@b.example"}, format="json")
    assert missing.status_code == 400
    assert "required" in fields_of(missing)["custom.erp"][0]
    assert not Lead.objects.exists()
    ok = client.post(
        "/api/v1/leads/", {"email": "a@b.example", "custom": {"erp": "SAP"}}, format="json"
    )
    assert ok.status_code == 201


@pytest.mark.django_db
def test_the_schema_lists_each_custom_field_with_its_type(marketer):
    standard_fields()
    make_field("tools", FieldType.MULTI_CHOICE, choices=[{"value": "a"}, {"value": "b"}])
    make_field("site", FieldType.URL)
    make_field("active", FieldType.BOOLEAN)
    user = UserFactory(username="reader", role=Role.MARKETER)
    schema = client_for(user).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    custom = components["Lead"]["properties"]["custom"]
    props = custom["properties"]
    assert props["seats"]["type"] == "integer"
    assert props["erp"]["type"] == "string"
    assert props["erp"]["enum"] == ["sap", "odoo"]
    assert props["erp"]["description"] == "The customer's ERP system."
    assert props["renewal"] == {**props["renewal"], "type": "string", "format": "date"}
    assert props["budget"]["format"] == "decimal"
    assert props["tools"]["items"]["enum"] == ["a", "b"]
    assert props["site"]["format"] == "uri"
    assert props["active"]["type"] == "boolean"
    assert custom["additionalProperties"] is False
    request_props = components["PatchedLeadRequest"]["properties"]["custom"]["properties"]
    assert request_props["seats"]["nullable"] is True
    assert components["Lead"]["properties"]["tags"]["type"] == "array"

    CustomField.objects.filter(key="seats").delete()
    again = client_for(user).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert (
        "seats" not in again["components"]["schemas"]["Lead"]["properties"]["custom"]["properties"]
    )


@pytest.mark.django_db
def test_the_list_reads_the_visible_fields_once_not_per_lead(marketer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    standard_fields()
    client = client_for(marketer)

    def cost():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/leads/").status_code == 200
        return len(queries.captured_queries)

    LeadFactory(custom={"seats": 1})
    cost()  # warm: permission caches
    few = cost()
    for _ in range(20):
        LeadFactory(custom={"seats": 2, "erp": "sap"})
    assert cost() == few
