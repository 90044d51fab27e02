"""Imports that tell the truth: a killed worker shows failed and resumes without a row twice;
SQLite's "database is locked" is waited out; cancel stops at a batch boundary; progress shows
done of total with a percentage. (Names added by the jobs work are imported inside the tests,
so each test fails by its assertion, not at collection, on code without them.)"""

import io
import os
import signal
import sqlite3
import threading
from datetime import timedelta

import pytest
from django.core.files import File
from django.db import connection
from django.test import Client
from django.utils import timezone

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.models import Lead, StageChange
from privacy import imports
from privacy.imports import import_job_create, import_run
from privacy.models import ImportJob
from tests.leads.factories import UserFactory
from tests.worker import celery_worker, own_queue, wait_until


def _csv(n: int) -> bytes:
    rows = "".join(f"user{i}@example.com,First{i},Last{i},Co {i % 7}\n" for i in range(n))
    return ("email,first_name,last_name,company\n" + rows).encode()


def _emails(n: int) -> set[str]:
    return {f"user{i}@example.com" for i in range(n)}


def _job(data: bytes, **kw) -> ImportJob:
    return import_job_create(
        upload=File(io.BytesIO(data), name="people.csv"), actor=None, enqueue=False, **kw
    )


def _status_text(client: Client, job: ImportJob) -> str:
    page = client.get(f"/privacy/imports/{job.pk}/")
    assert page.status_code == 200
    return page.content.decode()


def _imported_exactly(n: int) -> None:
    assert Lead.objects.count() == n
    assert set(Lead.objects.values_list("email", flat=True)) == _emails(n)  # none twice
    assert StageChange.objects.filter(source=StageChange.Source.IMPORT).count() == n


@pytest.fixture
def importer(db):
    return UserFactory(username="importer", role=Role.MARKETER)


# --- (a) a real worker killed mid-import -----------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_killed_worker_shows_failed_with_a_reason_then_resume_imports_each_row_once(
    live_celery, settings, monkeypatch, importer
):
    n = 5000
    monkeypatch.setenv("LEADFLOW_MEDIA_ROOT", settings.MEDIA_ROOT)  # the worker reads the upload
    monkeypatch.setenv("LEADFLOW_IMPORT_BATCH_SIZE", "50")
    client = Client()
    client.force_login(importer)
    with own_queue(live_celery, "import-jobs-test", "privacy.tasks.*"):
        with celery_worker("-Q", "import-jobs-test") as worker:
            job = import_job_create(
                upload=File(io.BytesIO(_csv(n)), name="people.csv"), actor=importer
            )
            assert wait_until(
                lambda: ImportJob.objects.filter(pk=job.pk, rows_total__gte=500).exists(),
                timeout=90,
                every=0.02,
            ), "the worker committed no batch"
            os.kill(worker.pid, signal.SIGKILL)  # mid-import, perhaps mid-batch
            worker.wait(timeout=30)
        job.refresh_from_db()
        committed = job.rows_total
        assert job.status == "running"
        assert 0 < committed < n
        # what the worker committed is exactly what it counted: the offset is in the batch
        assert Lead.objects.count() == committed
        # the heartbeat goes stale; the page itself shows the truth (bounded polling)
        settings.JOBS_STALE_SECONDS = 1
        assert wait_until(
            lambda: 'data-job-status="failed"' in _status_text(client, job), timeout=15
        ), "a job whose worker died still looks alive"
        job.refresh_from_db()
        assert job.status == "failed"
        assert "worker stopped responding" in job.error
        assert f"after {committed} of {n} rows" in job.error
        page = _status_text(client, job)
        assert f"{committed} of {n} rows" in page
        assert "Resume" in page
        # Resume: a new worker continues after the last committed batch
        with celery_worker("-Q", "import-jobs-test"):
            resumed = client.post(f"/privacy/imports/{job.pk}/resume/")
            assert resumed.status_code == 302
            assert wait_until(
                lambda: ImportJob.objects.filter(pk=job.pk, status="done").exists(), timeout=120
            ), ImportJob.objects.get(pk=job.pk).error
    job.refresh_from_db()
    _imported_exactly(n)
    assert (job.done, job.total, job.rows_total, job.created, job.failed) == (n, n, n, n, 0)
    assert AuditEvent.objects.filter(action="import.resume", target_id=str(job.pk)).exists()


# --- (b) SQLite: another connection holds the write lock for a few seconds -------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide write lock")
@pytest.mark.django_db(transaction=True)
def test_import_waits_out_a_write_lock_held_by_another_connection(settings, monkeypatch, caplog):
    n = 5000
    settings.PRIVACY_IMPORT_BATCH_SIZE = 1000
    settings.JOBS_RETRY_BASE_SECONDS = 0.2
    job = _job(_csv(n))
    locked, held = threading.Event(), 3.0

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # what a busy worker's write transaction does
        locked.set()
        threading.Event().wait(held)
        other.execute("ROLLBACK")
        other.close()

    chunks = imports._chunks

    def lock_after_two_batches(rows, size):
        for number, chunk in enumerate(chunks(rows, size)):
            if number == 2:  # 2,000 rows in, as in the report from the field
                threading.Thread(target=hold_the_write_lock, daemon=True).start()
                assert locked.wait(10)
            yield chunk

    monkeypatch.setattr(imports, "_chunks", lock_after_two_batches)
    # give up on the lock quickly (as after 20 s in the field), also on a new connection
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 200")
    started = timezone.now()
    job = import_run(job_id=job.pk)
    assert job.status == "done", job.error
    assert timezone.now() - started >= timedelta(seconds=held - 0.5)  # it really waited
    _imported_exactly(n)
    assert (job.done, job.total, job.created) == (n, n, n)
    assert any("database is locked" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide write lock")
@pytest.mark.django_db(transaction=True)
def test_a_lock_held_past_the_retries_fails_the_import_with_the_reason_then_resume(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    n = 3000
    settings.PRIVACY_IMPORT_BATCH_SIZE = 1000
    settings.JOBS_RETRY_ATTEMPTS = 3
    settings.JOBS_RETRY_BASE_SECONDS = 0.1
    job = _job(_csv(n))
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(30)
        other.execute("ROLLBACK")
        other.close()

    chunks = imports._chunks

    def lock_after_two_batches(rows, size):
        for number, chunk in enumerate(chunks(rows, size)):
            if number == 2:
                threading.Thread(target=hold_the_write_lock, daemon=True).start()
                assert locked.wait(10)
                # the batch gives up; the lock goes before the (more patient) failure record
                threading.Timer(1.5, release.set).start()
            yield chunk

    monkeypatch.setattr(imports, "_chunks", lock_after_two_batches)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.1)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 100")
    job = import_run(job_id=job.pk)
    assert job.status == "failed"
    assert "The database stayed busy" in job.error
    assert "database is locked" in job.error
    assert f"after 2000 of {n} rows" in job.error
    assert Lead.objects.count() == 2000  # the committed batches, nothing of the third
    monkeypatch.setattr(imports, "_chunks", chunks)
    from privacy.imports import import_job_resume

    with django_capture_on_commit_callbacks(execute=True):
        import_job_resume(job_id=job.pk, actor=None)
    job.refresh_from_db()
    assert (job.status, job.done, job.created) == ("done", n, n)
    _imported_exactly(n)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_import_retries_a_lock_timeout_on_postgresql(settings, monkeypatch, caplog):
    import psycopg

    n = 3000
    settings.PRIVACY_IMPORT_BATCH_SIZE = 1000
    settings.JOBS_RETRY_BASE_SECONDS = 0.2
    job = _job(_csv(n))
    locked, held = threading.Event(), 3.0
    db = connection.settings_dict

    def lock_the_leads() -> None:
        with psycopg.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"] or 5432
        ) as other:
            other.execute("LOCK TABLE leads_lead IN EXCLUSIVE MODE")
            locked.set()
            threading.Event().wait(held)

    chunks = imports._chunks

    def lock_after_one_batch(rows, size):
        for number, chunk in enumerate(chunks(rows, size)):
            if number == 1:
                threading.Thread(target=lock_the_leads, daemon=True).start()
                assert locked.wait(10)
            yield chunk

    monkeypatch.setattr(imports, "_chunks", lock_after_one_batch)
    with connection.cursor() as cursor:  # a transient error instead of an endless wait
        cursor.execute("SET lock_timeout = '200ms'")
    job = import_run(job_id=job.pk)
    assert job.status == "done", job.error
    _imported_exactly(n)
    assert job.failed == 0  # the lock timeout retried the batch; no row was refused
    assert any("lock timeout" in r.getMessage() for r in caplog.records)


# --- (c) cancel -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_stops_at_the_next_batch_boundary_and_resume_finishes(
    settings, monkeypatch, importer, django_capture_on_commit_callbacks
):
    settings.PRIVACY_IMPORT_BATCH_SIZE = 2
    job = _job(_csv(10))
    client = Client(enforce_csrf_checks=True)
    client.force_login(importer)
    client.get(f"/privacy/imports/{job.pk}/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    chunks = imports._chunks

    def cancel_after_two_batches(rows, size):
        for number, chunk in enumerate(chunks(rows, size)):
            if number == 2:  # the user presses Cancel while batch 3 is being read
                assert client.post(f"/privacy/imports/{job.pk}/cancel/").status_code == 403
                response = client.post(f"/privacy/imports/{job.pk}/cancel/", HTTP_X_CSRFTOKEN=token)
                assert response.status_code == 302
            yield chunk

    monkeypatch.setattr(imports, "_chunks", cancel_after_two_batches)
    job = import_run(job_id=job.pk)
    assert job.status == "cancelled"
    assert (job.done, job.total, Lead.objects.count()) == (4, 10, 4)
    assert "Cancelled after 4 of 10" in job.error
    page = _status_text(client, job)
    assert 'data-job-status="cancelled"' in page
    assert "4 of 10 rows (40%)" in page
    assert "Resume" in page
    assert AuditEvent.objects.filter(action="import.cancel", actor=importer).exists()
    monkeypatch.setattr(imports, "_chunks", chunks)
    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(f"/privacy/imports/{job.pk}/resume/", HTTP_X_CSRFTOKEN=token)
    assert resumed.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.created) == ("done", 10, 10, 10)
    _imported_exactly(10)


@pytest.mark.django_db
def test_cancel_and_resume_need_the_import_permission_and_post(importer):
    rep = UserFactory(username="rep", role=Role.SALES_REP)
    job = _job(_csv(3))
    client = Client()
    client.force_login(rep)
    assert client.post(f"/privacy/imports/{job.pk}/cancel/").status_code == 403
    client.force_login(importer)
    assert client.get(f"/privacy/imports/{job.pk}/cancel/").status_code == 405
    # a pending job is cancelled at once; a done job cannot be cancelled or resumed
    assert client.post(f"/privacy/imports/{job.pk}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    ImportJob.objects.filter(pk=job.pk).update(status="done")
    response = client.post(f"/privacy/imports/{job.pk}/resume/", follow=True)
    assert "only a failed or cancelled job" in response.content.decode()
    assert ImportJob.objects.get(pk=job.pk).status == "done"


# --- (d) progress ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_progress_is_done_of_total_with_a_percentage(settings, monkeypatch, importer):
    settings.PRIVACY_IMPORT_BATCH_SIZE = 3
    job = _job(_csv(10))
    client = Client()
    client.force_login(importer)
    seen: list[str] = []
    chunks = imports._chunks

    def watch(rows, size):
        for chunk in chunks(rows, size):
            seen.append(_status_text(client, job))  # the page between batches
            yield chunk

    monkeypatch.setattr(imports, "_chunks", watch)
    job = import_run(job_id=job.pk)
    # the total is known before the first batch; done moves with each committed batch
    for text, expected in zip(
        seen,
        ["0 of 10 rows (0%)", "3 of 10 rows (30%)", "6 of 10 rows (60%)", "9 of 10 rows (90%)"],
        strict=True,
    ):
        assert expected in text
    assert (job.done, job.total, job.percent) == (10, 10, 100)
    assert "10 of 10 rows (100%)" in _status_text(client, job)
    listing = client.get("/privacy/imports/").content.decode()
    assert "10 of 10 (100%)" in listing


@pytest.mark.django_db
def test_stale_job_becomes_failed_with_the_reason_on_an_injected_clock(settings):
    from leadflow.jobs import jobs_fail_stale

    settings.JOBS_STALE_SECONDS = 300
    job = _job(_csv(4))
    beat = timezone.now() - timedelta(minutes=1)
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=beat, started_at=beat, done=2, total=4, attempt=1
    )
    assert jobs_fail_stale(now=beat + timedelta(seconds=299)) == 0  # not yet
    assert jobs_fail_stale(now=beat + timedelta(seconds=301)) == 1
    job.refresh_from_db()
    assert job.status == "failed"
    assert "worker stopped responding" in job.error
    assert "after 2 of 4 rows" in job.error
    assert AuditEvent.objects.filter(action="import.run", target_id=str(job.pk)).exists()


@pytest.mark.django_db
def test_a_failed_dry_run_offers_run_again_and_starts_over(
    importer, django_capture_on_commit_callbacks
):
    job = _job(_csv(4), dry_run=True)
    ImportJob.objects.filter(pk=job.pk).update(status="failed", done=2, total=4, error="x")
    client = Client()
    client.force_login(importer)
    page = _status_text(client, job)
    assert "Run again" in page
    assert "Resume" not in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/privacy/imports/{job.pk}/resume/").status_code == 302
    job.refresh_from_db()
    assert (job.status, job.dry_run, job.created, job.done, job.total) == ("done", True, 4, 4, 4)
    assert Lead.objects.count() == 0
    assert AuditEvent.objects.filter(action="import.run_again").exists()
