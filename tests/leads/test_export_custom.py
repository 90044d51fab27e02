"""The lead CSV export: a tags column and one column per custom field the user may see, at a
cost that does not grow by a query per lead."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leadflow.roles import Role
from leads.models import FieldType, Tag
from tests.leads.custom_fields import make_field
from tests.leads.factories import LeadFactory


def export(client, **params):
    response = client.get(reverse("leads:export"), params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def fields(db, manager):
    return [
        make_field("seats", FieldType.INTEGER, label="Seats"),
        make_field(
            "erp", FieldType.CHOICE, label="ERP", choices=[{"value": "sap", "label": "SAP"}]
        ),
        make_field("budget", FieldType.MONEY, label="Budget", currency="EUR"),
        make_field("active", FieldType.BOOLEAN, label="Active"),
        make_field("champion", FieldType.USER, label="Champion"),
        make_field("margin", FieldType.DECIMAL, label="Margin", visible_to=[Role.SALES_MANAGER]),
        make_field("email", FieldType.TEXT, label="email"),
    ]


@pytest.mark.django_db
def test_the_export_has_tags_and_the_visible_custom_fields_as_pages_show_them(
    client, marketer, manager, fields
):
    lead = LeadFactory(
        custom={
            "seats": 12,
            "erp": "sap",
            "budget": "900.00",
            "active": True,
            "champion": manager.pk,
            "margin": "0.3",
        }
    )
    lead.tags.add(Tag.objects.create(name="webinar"), Tag.objects.create(name="Cold"))
    other = LeadFactory()
    client.force_login(marketer)
    rows = export(client)
    header = rows[0]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert header[-7:] == [
        "tags",
        "Seats",
        "ERP",
        "Budget",
        "Active",
        "Champion",
        "email (custom)",
    ]
    assert "Margin" not in header  # the marketer's role may not see it
    row = by_id[str(lead.pk)]
    assert row["tags"] == "Cold; webinar"
    assert (row["Seats"], row["ERP"], row["Budget"], row["Active"]) == (
        "12",
        "SAP",
        "900.00 EUR",
        "Yes",
    )
    assert row["Champion"] == str(manager)
    empty = by_id[str(other.pk)]
    assert (empty["tags"], empty["Seats"], empty["Active"]) == ("", "", "")

    client.force_login(manager)
    assert "Margin" in export(client)[0]


@pytest.mark.django_db
def test_the_export_costs_no_query_per_lead(client, marketer, manager, fields):
    tag = Tag.objects.create(name="webinar")

    def cost(n):
        for _ in range(n):
            lead = LeadFactory(custom={"seats": 1, "champion": manager.pk})
            lead.tags.add(tag)
        with CaptureQueriesContext(connection) as queries:
            rows = export(client)
        return len(rows), len(queries.captured_queries)

    client.force_login(marketer)
    small_rows, small = cost(3)
    large_rows, large = cost(30)
    assert (small_rows, large_rows) == (4, 34)
    assert large == small, (small, large)
