"""In Chromium: a stopped import tells the truth (status, done of total, percentage) and the
Resume button finishes it with every row once."""

import io

import pytest
from django.core.files import File

from leadflow.roles import Role
from leads.models import Lead
from privacy import imports
from tests.leads.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_cancelled_import_shows_its_progress_and_resumes(
    page, login, settings, monkeypatch, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PRIVACY_IMPORT_BATCH_SIZE = 2
    UserFactory(username="mara", role=Role.MARKETER)
    data = "email,first_name\n" + "".join(f"p{i}@x.example,P{i}\n" for i in range(6))
    job = imports.import_job_create(
        upload=File(io.BytesIO(data.encode()), name="six.csv"), actor=None, enqueue=False
    )
    chunks = imports._chunks

    def cancel_after_two(rows, size):
        for number, chunk in enumerate(chunks(rows, size)):
            if number == 2:
                imports.import_job_cancel(job_id=job.pk, actor=None)
            yield chunk

    monkeypatch.setattr(imports, "_chunks", cancel_after_two)
    imports.import_run(job_id=job.pk)
    monkeypatch.setattr(imports, "_chunks", chunks)

    login("mara")
    page.goto(f"/privacy/imports/{job.pk}/")
    status = page.locator("#import-status")
    assert status.locator(".job-status").inner_text() == "Cancelled"
    assert "4 of 6 rows (66%)" in status.locator(".job-progress").inner_text()
    assert "Cancelled after 4 of 6 rows" in status.get_by_role("alert").inner_text()
    page.get_by_role("button", name="Resume").click()
    page.wait_for_load_state()
    assert page.locator("#import-status .job-status").inner_text() == "Done"
    assert "6 of 6 rows (100%)" in page.locator("#import-status .job-progress").inner_text()
    assert "Queued again" in page.content()
    assert Lead.objects.count() == 6
    assert page.csp_violations == []
