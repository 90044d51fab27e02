"""``?ordering=`` on lists: declared fields work (and page), anything else is a 400 naming it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from leads.models import Lead
from tests.leads.factories import LeadFactory


@pytest.fixture
def api(manager):
    client = APIClient()
    client.force_authenticate(manager)
    return client


@pytest.fixture
def five_leads(db):
    now = timezone.now()
    leads = [LeadFactory() for _ in range(5)]
    for i, lead in enumerate(leads):  # created_at runs against id
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(hours=i))
    return [lead.pk for lead in leads]


def _ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.django_db
def test_leads_order_by_a_declared_field_both_ways_and_page_in_that_order(api, five_leads):
    assert _ids(api.get("/api/v1/leads/?ordering=created_at")) == five_leads[::-1]
    assert _ids(api.get("/api/v1/leads/?ordering=-created_at")) == five_leads
    assert _ids(api.get("/api/v1/leads/")) == five_leads[::-1]  # default: newest id first
    first = api.get("/api/v1/leads/?ordering=created_at&page_size=2").json()
    seen = [row["id"] for row in first["results"]]
    url = first["next"]
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == five_leads[::-1]


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["score", "-email", "created_at,bogus", "", "-"])
def test_an_unknown_ordering_field_is_a_400_naming_it(api, five_leads, value):
    response = api.get("/api/v1/leads/", {"ordering": value})
    assert response.status_code == 400, response.content
    message = response.json()["error"]["fields"]["ordering"][0]
    assert "Cannot order by" in message
    assert "created_at" in message  # says what works
    if value and value != "-":
        assert value.split(",")[-1] in message


@pytest.mark.django_db
def test_a_list_without_declared_fields_orders_by_id_only(api):
    assert api.get("/api/v1/handover/rejection-reasons/?ordering=-id").status_code == 200
    refused = api.get("/api/v1/handover/rejection-reasons/?ordering=label")
    assert refused.status_code == 400
    assert "'label'" in refused.json()["error"]["fields"]["ordering"][0]


@pytest.mark.django_db
def test_one_object_ignores_ordering(api, five_leads):
    assert api.get(f"/api/v1/leads/{five_leads[0]}/?ordering=bogus").status_code == 200


@pytest.mark.django_db
def test_the_schema_documents_each_lists_ordering_fields(api):
    schema = api.get("/api/schema/?format=json").json()
    params = schema["paths"]["/api/v1/leads/"]["get"]["parameters"]
    ordering = next(p for p in params if p["name"] == "ordering")
    assert "created_at, updated_at, stage_changed_at" in ordering["description"]
    assert ordering["schema"]["pattern"].startswith("^-?(id|created_at")
