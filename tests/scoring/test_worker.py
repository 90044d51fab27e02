"""End to end with a real Celery worker and the real broker (Redis in CI): activities recorded →
sweep task on commit → score updated → MQL transition → StageChange and handover written."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handover.models import Handover
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead, RescoreMark, StageChange
from scoring.models import LeadScore
from scoring.tasks import score_dirty_sweep_task
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, make_model
from tests.worker import celery_worker, own_queue, private_queue, wait_until


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_activities_to_score_to_mql_in_a_real_worker(live_celery):
    with (
        own_queue(live_celery, queue := private_queue("scoring-test"), "scoring.tasks.*"),
        celery_worker("-Q", queue),
    ):
        make_model(
            [activity_rule(ActivityKind.WEBINAR, 20), activity_rule(ActivityKind.DOWNLOAD, 10)],
            mql_threshold=50,
            mql_min_grade="D",
        )
        leads = [LeadFactory(stage=Stage.LEAD) for _ in range(3)]
        # the publish rescore ran in the worker: every lead has a stored evaluation
        assert wait_until(lambda: LeadScore.objects.count() == 3, timeout=60)
        now = timezone.now()
        for i, kind in enumerate([ActivityKind.WEBINAR] * 2 + [ActivityKind.DOWNLOAD]):
            lead_services.activity_record(
                lead_id=leads[0].pk, kind=kind, occurred_at=now - timedelta(seconds=i)
            )
        lead_services.activity_record(
            lead_id=leads[1].pk, kind=ActivityKind.WEBINAR, occurred_at=now
        )
        assert wait_until(
            lambda: Lead.objects.filter(pk=leads[0].pk, stage=Stage.MQL).exists(), timeout=60
        ), "lead did not reach MQL"
        assert wait_until(
            lambda: Lead.objects.filter(pk=leads[1].pk, score=20).exists(), timeout=30
        )
        # a mark committed while the sweep that moved the lead was running is left for the next
        # sweep (that sweep's request was already taken): ask for one, as beat does, and see the
        # worker consume it
        score_dirty_sweep_task.delay()
        assert wait_until(
            lambda: not RescoreMark.objects.filter(lead_id=leads[0].pk).exists(), timeout=30
        ), "the rescore marks were not consumed"
    hot, warm, cold = (Lead.objects.get(pk=lead.pk) for lead in leads)
    assert (hot.score, hot.stage, hot.rescore_marks.exists()) == (50, Stage.MQL, False)
    assert (warm.score, warm.stage) == (20, Stage.LEAD)
    assert (cold.score, cold.stage) == (0, Stage.LEAD)
    change = StageChange.objects.get(lead=hot, to_stage=Stage.MQL)
    assert (change.source, change.actor_kind, change.from_stage) == ("scoring", "system", "lead")
    assert Handover.objects.filter(lead=hot).count() == 1
