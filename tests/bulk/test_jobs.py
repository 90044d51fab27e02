"""The background path with a real Celery worker: "all matching" runs as a job, the page polls
its progress, and a lead that fails in the middle is recorded while the rest are applied."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from bulk import services
from bulk.models import BulkJob, BulkOutcome
from leads.lifecycle import Stage
from leads.models import Lead, Team
from tests.faults import db_fault
from tests.leads.factories import LeadFactory
from tests.worker import celery_worker, own_queue, private_queue, wait_until


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_all_matching_runs_in_a_real_worker_and_records_the_failing_lead(
    live_celery, manager, monkeypatch
):
    monkeypatch.setattr(services, "BATCH_SIZE", 20)  # (the test process only; the worker: 100)
    team = Team.objects.create(name="Inside", manager=manager)
    leads = [LeadFactory(stage=Stage.LEAD, team=team, company="Bulkco") for _ in range(240)]
    sals = [LeadFactory(stage=Stage.SAL, team=team, company="Bulkco") for _ in range(3)]
    broken = leads[130]
    client = Client()
    client.force_login(manager)
    with (
        own_queue(live_celery, queue := private_queue("bulk-test"), "bulk.tasks.*"),
        celery_worker("-Q", queue),
        db_fault(Lead, "id", broken.pk, "injected fault"),
    ):
        response = client.post(
            reverse("bulk:apply"),
            {
                "action": "move",
                "to": Stage.MQL,
                "all": "1",
                "query": "q=Bulkco",
                "token": str(uuid.uuid4()),
                "back": "/leads/list/?q=Bulkco",
            },
        )
        assert response.status_code == 302
        job = BulkJob.objects.get()
        assert (job.in_background, job.total) == (True, 243)
        assert job.selection == "all 243 leads matching the filters"
        page = client.get(response["Location"])
        assert b'data-job-status="' in page.content  # the progress bar of _job_progress.html
        assert wait_until(
            lambda: BulkJob.objects.filter(pk=job.pk, status="done").exists(), timeout=120
        ), "the worker did not finish the bulk job"
    job.refresh_from_db()
    assert (job.done, job.applied, job.refused, job.failed) == (243, 239, 3, 1)
    outcome = BulkOutcome.objects.get(job=job, lead_id=broken.pk)
    assert outcome.result == "failed"
    assert "injected fault" in outcome.message
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], stage=Stage.MQL).count() == 239
    page = client.get(reverse("bulk:job", args=[job.pk])).content.decode()
    assert 'id="bulk-failed">1<' in page
    assert "injected fault" in page
    assert set(BulkOutcome.objects.filter(job=job).values_list("lead_id", flat=True)) == {
        lead.pk for lead in leads + sals
    }
