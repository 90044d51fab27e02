"""CSV imports into custom fields (``custom.<key>`` mapping targets): typed cells, row errors
naming row, column, field and type, required fields for new leads, unknown targets refused."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from leads.models import FieldType, Lead
from privacy.models import DedupePolicy, ImportJob
from privacy.selectors import error_report_rows
from tests.leads.custom_fields import make_field, standard_fields
from tests.leads.factories import LeadFactory

CSV = (
    b"Email,Seats,ERP,Renewal\r\n"
    b"ada@engines.example,12,SAP,2027-01-31\r\n"
    b"eve@evil.example,lots,sap,\r\n"
    b"bob@b.example,3,sage,\r\n"
    b"cy@c.example,,odoo,31/01/2027\r\n"
)
MAPPING = {
    "Email": "email",
    "Seats": "custom.seats",
    "ERP": "custom.erp",
    "Renewal": "custom.renewal",
}


@pytest.mark.django_db
def test_cells_are_checked_as_their_fields_type_and_bad_ones_are_row_errors(run_import):
    standard_fields()
    job = run_import(CSV, mapping=MAPPING)
    assert job.status == ImportJob.Status.DONE, job.error
    assert (job.created, job.failed) == (1, 3)
    assert Lead.objects.get(email="ada@engines.example").custom == {
        "seats": 12,
        "erp": "sap",
        "renewal": "2027-01-31",
    }
    assert not Lead.objects.filter(email__in=["eve@evil.example", "bob@b.example"]).exists()
    report = {r[0]: r for r in error_report_rows(job=job)}
    row, column, value, message, _ = report[3]
    assert (row, column, value) == (3, "Seats", "lots")
    assert "Seats (custom.seats)" in message
    assert "a whole number" in message
    assert report[4][1] == "ERP"
    assert "sap, odoo" in report[4][3]
    assert report[5][1] == "Renewal"
    assert "a date (YYYY-MM-DD)" in report[5][3]


@pytest.mark.django_db
def test_required_custom_fields_are_required_for_rows_that_create_leads(run_import):
    make_field("erp", FieldType.TEXT, label="ERP", required=True)
    make_field("tier", FieldType.TEXT, default="bronze")
    existing = LeadFactory(email="old@x.example", custom={"erp": "sap"})
    data = b"Email,ERP\r\nold@x.example,\r\nnew@x.example,\r\nok@x.example,odoo\r\n"
    job = run_import(data, mapping={"Email": "email", "ERP": "custom.erp"}, policy="overwrite")
    assert (job.created, job.failed) == (1, 1)
    report = list(error_report_rows(job=job))
    assert [(r[0], r[1]) for r in report] == [(3, "ERP")]
    assert "ERP: this field is required." in report[0][3]
    assert Lead.objects.get(email="ok@x.example").custom == {"erp": "odoo", "tier": "bronze"}
    existing.refresh_from_db()
    assert existing.custom == {"erp": "sap"}  # an empty cell changes nothing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (DedupePolicy.SKIP, {"seats": 1}),
        (DedupePolicy.FILL, {"seats": 1, "erp": "odoo"}),
        (DedupePolicy.OVERWRITE, {"seats": 9, "erp": "odoo"}),
    ],
)
def test_policies_apply_to_custom_values_key_by_key(run_import, policy, expected):
    standard_fields()
    lead = LeadFactory(email="ada@engines.example", custom={"seats": 1})
    data = b"Email,Seats,ERP\r\nada@engines.example,9,odoo\r\n"
    mapping = {"Email": "email", "Seats": "custom.seats", "ERP": "custom.erp"}
    job = run_import(data, mapping=mapping, policy=policy)
    assert job.failed == 0
    lead.refresh_from_db()
    assert lead.custom == expected


@pytest.mark.django_db
def test_an_unknown_custom_field_in_a_mapping_is_a_400_naming_it(marketer):
    standard_fields()
    api = APIClient()
    api.force_authenticate(marketer)
    upload = SimpleUploadedFile("p.csv", CSV, content_type="text/csv")
    response = api.post(
        "/api/v1/privacy/imports/",
        {"file": upload, "mapping": json.dumps({**MAPPING, "ERP": "custom.nope"})},
        format="multipart",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "mapping"
    assert "'custom.nope'" in error["message"]
    assert "custom.seats" in error["message"]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_the_mapping_page_offers_custom_fields_and_refuses_an_unknown_one(marketer, client):
    standard_fields()
    client.force_login(marketer)
    upload = SimpleUploadedFile("p.csv", CSV, content_type="text/csv")
    response = client.post("/privacy/imports/new/", {"file": upload, "policy": "skip"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert 'value="custom.seats"' in page
    assert "Seats (custom)" in page
    form = {"policy": "skip", "map_0": "email", "map_1": "custom.nope"}
    refused = client.post(response["Location"], form)
    assert "unknown custom field" in refused.content.decode()
    assert "custom.nope" in refused.content.decode()
    assert ImportJob.objects.get().status == ImportJob.Status.DRAFT


@pytest.mark.django_db
def test_the_preview_shows_clean_custom_values_and_cell_errors(marketer):
    standard_fields()
    api = APIClient()
    api.force_authenticate(marketer)
    upload = SimpleUploadedFile("p.csv", CSV, content_type="text/csv")
    preview = api.post(
        "/api/v1/privacy/imports/preview/",
        {"file": upload, "mapping": json.dumps(MAPPING)},
        format="multipart",
    )
    assert preview.status_code == 200, preview.content
    rows = preview.json()["rows"]
    assert rows[0]["fields"]["custom.seats"] == "12"
    assert rows[1]["errors"][0]["column"] == "Seats"
