"""A lead holding a value of every custom field type is returned as /api/schema/ documents it
(the schema is made with the fields defined, as a client generator would fetch it)."""

import pytest

from leads.models import FieldType
from tests.api.test_input_shapes import schema_call  # noqa: F401  (the fixture)
from tests.leads.custom_fields import make_field
from tests.leads.factories import LeadFactory, UserFactory

CHOICES = [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]


@pytest.fixture
def every_type(db):
    champion = UserFactory(username="champion")
    values = {
        FieldType.TEXT: "hello",
        FieldType.LONG_TEXT: "a\nlong text",
        FieldType.INTEGER: 12,
        FieldType.DECIMAL: "0.125",
        FieldType.MONEY: "1250.50",
        FieldType.DATE: "2027-01-31",
        FieldType.DATETIME: "2026-12-05T09:30:00Z",
        FieldType.BOOLEAN: True,
        FieldType.CHOICE: "a",
        FieldType.MULTI_CHOICE: ["a", "b"],
        FieldType.URL: "https://acme.example/x",
        FieldType.EMAIL: "ann@acme.example",
        FieldType.USER: champion.pk,
    }
    for kind in values:
        make_field(f"f_{kind}", kind, choices=CHOICES, currency="EUR" if kind == "money" else "")
    assert set(values) == set(FieldType.values)
    return {f"f_{kind}": value for kind, value in values.items()}


@pytest.mark.django_db
def test_every_custom_field_type_is_returned_as_the_schema_documents(every_type, schema_call):  # noqa: F811
    lead = LeadFactory(custom=every_type)
    body, _ = schema_call("GET", "/api/v1/leads/{id}/", id=lead.pk)
    assert body["custom"] == every_type
    page, _ = schema_call("GET", "/api/v1/leads/")
    assert page["results"][0]["custom"] == every_type
