"""The import page and API: upload, mapping, preview, dry run, background job, report, limits."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from leadflow.models import AuditEvent
from leads.models import Lead
from privacy.models import ImportJob, SavedMapping

CSV = (
    "Work E-mail;Given name;Land;Headcount\r\n"
    "ada@engines.example;Ada;GB;12\r\n"
    '=HYPERLINK("http://evil");Eve;XX;3\r\n'
    "grace@navy.example;Grace;US;5000\r\n"
).encode("utf-8-sig")
MAPPING = {
    "Work E-mail": "email",
    "Given name": "first_name",
    "Land": "country",
    "Headcount": "employees",
}


def _upload(data=CSV, name="people.csv"):
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.mark.django_db
def test_api_import_runs_in_the_background_and_reports(
    marketer, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(marketer)
    import json

    with django_capture_on_commit_callbacks(execute=True):  # the worker task runs on commit
        response = api.post(
            "/api/v1/privacy/imports/",
            {"file": _upload(), "mapping": json.dumps(MAPPING), "policy": "fill"},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    job = api.get(f"/api/v1/privacy/imports/{response.json()['id']}/").json()
    assert job["status"] == "done"
    assert job["summary"] == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1}
    assert Lead.objects.get(email="grace@navy.example").company_size == "1001-5000"
    report = api.get(f"/api/v1/privacy/imports/{job['id']}/errors/")
    assert report.status_code == 200
    text = b"".join(report.streaming_content).decode()
    assert text.splitlines()[0] == "row,column,value,error,outcome"
    # the bad cell is quoted back, neutralised for spreadsheets (no formula)
    assert '3,Work E-mail,"\'=HYPERLINK(""http://evil"")",not a valid e-mail address,failed' in text
    assert AuditEvent.objects.filter(action="import.create", actor=marketer).exists()


@pytest.mark.django_db
def test_api_preview_and_saved_mapping(marketer, django_capture_on_commit_callbacks):
    api = APIClient()
    api.force_authenticate(marketer)
    preview = api.post("/api/v1/privacy/imports/preview/", {"file": _upload()}, format="multipart")
    assert preview.status_code == 200
    body = preview.json()
    assert (body["encoding"], body["delimiter"]) == ("utf-8-sig", ";")
    assert body["mapping"] == MAPPING  # guessed from the column names
    assert body["rows"][0]["fields"]["company_size"] == "11-50"
    assert body["rows"][1]["errors"][0]["column"] == "Work E-mail"
    saved = api.post(
        "/api/v1/privacy/mappings/", {"name": "engines", "mapping": MAPPING}, format="json"
    )
    assert saved.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/privacy/imports/",
            {"file": _upload(), "mapping_name": "engines", "dry_run": True},
            format="multipart",
        )
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.dry_run
    assert job.summary["created"] == 2
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_api_refuses_over_the_limit_before_reading_and_bad_files(marketer, settings):
    settings.PRIVACY_IMPORT_MAX_BYTES = 1024 * 1024
    api = APIClient()
    api.force_authenticate(marketer)
    huge = api.post(
        "/api/v1/privacy/imports/", {"file": _upload()}, format="multipart",
        CONTENT_LENGTH=str(2 * 1024**3),  # a 2 GB upload: refused from its header
    )  # fmt: skip
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "import_too_large"
    not_csv = api.post(
        "/api/v1/privacy/imports/", {"file": _upload(b"%PDF-1.7 ...", "x.pdf")}, format="multipart"
    )
    assert not_csv.status_code == 400
    assert not_csv.json()["error"] == {
        "code": "import_file_invalid",
        "message": "This is a PDF document, not a CSV file. Save it as CSV (UTF-8).",
        "field": "file",
    }
    assert ImportJob.objects.count() == 0
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_api_needs_the_import_permission(rep):
    api = APIClient()
    api.force_authenticate(rep)
    assert (
        api.post("/api/v1/privacy/imports/", {"file": _upload()}, format="multipart").status_code
        == 403
    )
    assert api.get("/api/v1/privacy/imports/").status_code == 403


@pytest.mark.django_db
def test_page_upload_map_dry_run_then_import(marketer, client, django_capture_on_commit_callbacks):
    client.force_login(marketer)
    assert client.get("/privacy/imports/new/").status_code == 200
    response = client.post(
        "/privacy/imports/new/", {"file": _upload(), "policy": "skip", "source": "fair"}
    )
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "draft"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Work E-mail" in page.content  # one select per column
    for column in range(4):  # each select is named by its column's label (screen readers)
        assert f'<label for="id_map_{column}">'.encode() in page.content
        assert f'id="id_map_{column}"'.encode() in page.content
    assert b"utf-8-sig" in page.content
    form = {"policy": "skip", "map_0": "email", "map_1": "first_name", "map_2": "country",
            "map_3": "employees", "save_as": "fair export", "dry_run": "1"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        dry = client.post(response["Location"], form)
    assert dry.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.dry_run, job.created, job.failed) == ("done", True, 2, 1)
    assert Lead.objects.count() == 0
    assert SavedMapping.objects.get(name="fair export").mapping == MAPPING
    status = client.get(dry["Location"])
    assert b"dry run" in status.content
    assert b"errors.csv" in status.content
    form.pop("dry_run")
    with django_capture_on_commit_callbacks(execute=True):
        real = client.post(dry["Location"], form)  # the same file, for real, as a new job
    assert real.status_code == 302
    done = ImportJob.objects.exclude(pk=job.pk).get()
    assert (done.status, done.dry_run, done.created, done.failed) == ("done", False, 2, 1)
    assert Lead.objects.get(email="ada@engines.example").source == "fair"
    assert client.get(f"/privacy/imports/{done.pk}/errors.csv").status_code == 200
    assert b"people.csv" in client.get("/privacy/imports/").content
    # htmx polls the status fragment
    fragment = client.get(f"/privacy/imports/{done.pk}/", HTTP_HX_REQUEST="true")
    assert fragment.content.strip().startswith(b"<section")


@pytest.mark.django_db
def test_page_refuses_a_2gb_upload_and_a_non_csv(marketer, client, settings):
    settings.PRIVACY_IMPORT_MAX_BYTES = 1024 * 1024
    client.force_login(marketer)
    huge = client.post("/privacy/imports/new/", {"file": _upload(), "policy": "skip"},
                       CONTENT_LENGTH=str(2 * 1024**3))  # fmt: skip
    assert huge.status_code == 400
    assert b"the limit is 1 MB" in huge.content
    binary = client.post(
        "/privacy/imports/new/", {"file": _upload(b"PK\x03\x04zipzip", "x.xlsx"), "policy": "skip"}
    )
    assert binary.status_code == 400
    assert b"not a CSV file" in binary.content
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_pages_need_permission(rep, client):
    client.force_login(rep)
    assert client.get("/privacy/imports/new/").status_code == 403
    assert client.get("/privacy/duplicates/").status_code == 403


@pytest.mark.django_db
def test_page_upload_still_needs_a_csrf_token(marketer):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(marketer)
    refused = browser.post("/privacy/imports/new/", {"file": _upload(), "policy": "skip"})
    assert refused.status_code == 403
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_requeue_a_job_left_running(django_capture_on_commit_callbacks):
    from privacy.imports import import_job_create, import_job_requeue

    job = import_job_create(upload=_upload(), actor=None, mapping=MAPPING, enqueue=False)
    ImportJob.objects.filter(pk=job.pk).update(status="running")  # its worker was killed
    with django_capture_on_commit_callbacks(execute=True):
        assert import_job_requeue(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == "done"
    assert job.summary == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 1}
    assert import_job_requeue(job_id=job.pk) is False  # done: nothing to do
