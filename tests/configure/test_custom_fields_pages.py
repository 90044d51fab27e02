"""Settings › Custom fields in the browser: an admin creates a choice field, renames a choice
without touching values, previews and confirms a type change, and deletes a field after seeing
how many values go; other roles get 403."""

import pytest
from django.test import Client
from django.urls import reverse

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads import services
from leads.models import CustomField, Lead
from tests.leads.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="fields-admin", role=Role.ADMIN))
    return client


def test_an_admin_creates_renames_retypes_and_deletes_a_field(admin_client) -> None:
    new = admin_client.post(
        reverse("configure:custom_fields_new"),
        {
            "label": "ERP in use",
            "key": "erp",
            "type": "choice",
            "choices": "sap = SAP\noracle = Oracle",
            "visible_to": ["marketer", "sales_rep"],
            "position": 0,
            "show_on_cards": "on",
            "filterable": "on",
        },
    )
    assert new.status_code == 302, new.content.decode()
    field = CustomField.objects.get(key="erp")
    assert (field.type, field.visible_to, field.show_on_cards) == (
        "choice",
        ["marketer", "sales_rep"],
        True,
    )
    lead = services.lead_create(data={"email": "p@x.com", "custom": {"erp": "SAP"}})
    assert lead.custom == {"erp": "sap"}
    listing = admin_client.get(reverse("configure:custom_fields")).content.decode()
    assert "ERP in use" in listing
    assert "<code>erp</code>" in listing

    # a label renames a choice; the lead keeps its value
    edit = admin_client.post(
        reverse("configure:custom_fields_edit", args=[field.pk]),
        {"label": "ERP", "choices": "sap = SAP S/4HANA\noracle = Oracle", "position": 1},
    )
    assert edit.status_code == 302
    assert Lead.objects.get(pk=lead.pk).custom == {"erp": "sap"}
    # taking away a choice a lead holds is refused with the count
    refused = admin_client.post(
        reverse("configure:custom_fields_edit", args=[field.pk]),
        {"label": "ERP", "choices": "oracle = Oracle", "position": 1},
    )
    assert refused.status_code == 422
    assert "1 lead(s) hold the choice" in refused.content.decode()

    # type change: preview first, then confirm with the count seen
    url = reverse("configure:custom_fields_type", args=[field.pk])
    preview = admin_client.post(url, {"to": "boolean", "preview": "1"})
    assert preview.status_code == 200
    assert "would be dropped" in preview.content.decode()
    assert CustomField.objects.get(pk=field.pk).type == "choice"  # nothing changed yet
    done = admin_client.post(url, {"to": "boolean", "expect_dropped": "1", "confirm": "1"})
    assert done.status_code == 302
    assert CustomField.objects.get(pk=field.pk).type == "boolean"
    assert Lead.objects.get(pk=lead.pk).custom == {}
    assert AuditEvent.objects.get(action="custom_field.values_dropped").details["values"] == {
        str(lead.pk): "sap"
    }

    # delete: the page says how many values go
    services.lead_update(lead_id=lead.pk, data={"custom": {"erp": "yes"}})
    page = admin_client.get(reverse("configure:custom_fields_delete", args=[field.pk]))
    assert "<strong>1</strong> lead(s) hold a value" in page.content.decode()
    assert (
        admin_client.post(reverse("configure:custom_fields_delete", args=[field.pk])).status_code
        == 302
    )
    assert not CustomField.objects.exists()
    assert Lead.objects.get(pk=lead.pk).custom == {}


def test_bad_definitions_are_shown_on_the_form(admin_client) -> None:
    page = admin_client.post(
        reverse("configure:custom_fields_new"),
        {"label": "Budget", "key": "Budget!", "type": "money", "position": 0},
    )
    assert page.status_code == 422
    body = page.content.decode()
    assert "lower-case letters" in body
    assert not CustomField.objects.exists()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SALES_REP, Role.SALES_MANAGER])
def test_only_admins_define_fields(role) -> None:
    client = Client()
    client.force_login(UserFactory(role=role))
    assert client.get(reverse("configure:custom_fields")).status_code == 403
    assert client.post(reverse("configure:custom_fields_new"), {"label": "x"}).status_code == 403
