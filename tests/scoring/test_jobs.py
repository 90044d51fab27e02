"""Scoring runs tell the truth: a run whose worker died shows failed with the reason, a rescore
resumes after its last committed batch, a dry run offers "Run again", cancel stops it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead
from scoring.models import ScoringRun
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = pytest.mark.django_db


def _stale_running(run: ScoringRun, *, done: int, last_lead_id: int) -> None:
    beat = timezone.now() - timedelta(hours=1)
    ScoringRun.objects.filter(pk=run.pk).update(
        status="running", attempt=1, started_at=beat, heartbeat_at=beat, done=done,
        last_lead_id=last_lead_id,
    )  # fmt: skip


def test_a_dead_rescore_shows_failed_and_resumes_after_its_last_batch(
    client, marketer, django_capture_on_commit_callbacks
):
    model = make_model([activity_rule(ActivityKind.WEBINAR, 10)])
    leads = [LeadFactory(stage=Stage.LEAD) for _ in range(4)]
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE, total=4)
    _stale_running(run, done=2, last_lead_id=leads[1].pk)
    client.force_login(marketer)
    page = client.get(f"/scoring/runs/{run.pk}/").content.decode()
    assert 'data-job-status="failed"' in page
    assert "2 of 4 leads (50%)" in page
    assert "worker stopped responding" in page
    assert "Resume" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/scoring/runs/{run.pk}/resume/").status_code == 302
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == ("done", 4, 4)
    # resumed after lead 2: only the last two leads were scored by this run
    assert run.written == 2
    assert AuditEvent.objects.filter(action="scoring_run.resume", actor=marketer).exists()


def test_a_failed_dry_run_offers_run_again_and_starts_over(
    client, marketer, django_capture_on_commit_callbacks
):
    model = make_model([activity_rule(ActivityKind.WEBINAR, 10)])
    leads = [LeadFactory(stage=Stage.LEAD) for _ in range(3)]
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.DRY_RUN, total=3)
    _stale_running(run, done=2, last_lead_id=leads[1].pk)
    client.force_login(marketer)
    page = client.get(f"/scoring/runs/{run.pk}/").content.decode()
    assert "Run again" in page
    assert "Resume" not in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/scoring/runs/{run.pk}/resume/")
    run.refresh_from_db()
    assert (run.status, run.done, run.result["leads"]) == ("done", 3, 3)
    assert Lead.objects.filter(score__gt=0).count() == 0  # a dry run writes nothing


def test_cancel_needs_the_permission_that_starts_the_run(client, marketer):
    model = make_model([activity_rule(ActivityKind.WEBINAR, 10)])
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE)
    rep = UserFactory(username="rep2", role=Role.SALES_REP)
    client.force_login(rep)
    assert client.post(f"/scoring/runs/{run.pk}/cancel/").status_code == 403
    client.force_login(marketer)
    assert client.get(f"/scoring/runs/{run.pk}/cancel/").status_code == 405
    assert client.post(f"/scoring/runs/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"  # it was queued: cancelled at once
    assert AuditEvent.objects.filter(action="scoring_run.cancel").exists()


def test_a_running_rescore_stops_at_the_next_batch_when_cancelled():
    from leadflow import jobs
    from scoring import services

    model = make_model([activity_rule(ActivityKind.WEBINAR, 10)])
    for _ in range(4):
        LeadFactory(stage=Stage.LEAD)
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE, total=4)
    attempt = jobs.job_claim(ScoringRun, run.pk)
    batch = services._run_batch
    assert jobs.job_batch(ScoringRun, run.pk, attempt, lambda r: batch(r, model=model, spec=services.engine.model_spec(model), size=2)) == 2  # fmt: skip
    services.run_cancel(run_id=run.pk, actor=None)
    with pytest.raises(jobs.Stop):
        jobs.job_batch(ScoringRun, run.pk, attempt, lambda r: 1 / 0)  # never runs
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == ("cancelled", 2, 4)
    assert "Cancelled after 2 of 4 leads" in run.error
