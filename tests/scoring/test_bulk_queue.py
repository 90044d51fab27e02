"""Long tasks on a queue of their own (LEADFLOW_BULK_QUEUE): a sweep is served by its own pool
while a full rescore waits for (or occupies) the bulk pool, and the setting routes exactly the
long tasks."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.utils import timezone

from leadflow.celery import app
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead
from scoring.models import ScoringRun
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, make_model
from tests.worker import ROOT, celery_worker, private_queue, task_routes, wait_until


def test_every_bulk_task_name_is_a_registered_task():
    app.loader.import_default_modules()
    assert set(settings.LEADFLOW_BULK_TASKS) <= set(app.tasks)


def test_the_setting_routes_the_long_tasks_and_nothing_else():
    probe = (
        "import django, json; django.setup(); from leadflow.celery import app; "
        "route = lambda name: app.amqp.router.route({}, name)['queue'].name; "
        "print(json.dumps({n: route(n) for n in ('scoring.tasks.scoring_run_task', "
        "'bulk.tasks.bulk_run_task', 'scoring.tasks.score_dirty_sweep_task', "
        "'handover.tasks.outbox_deliver_task')}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadflow.settings",
        "LEADFLOW_BULK_QUEUE": "long-jobs",
        "LEADFLOW_CELERY_QUEUE": "short-jobs",
    }
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, check=True
    )
    assert json.loads(out.stdout) == {
        "scoring.tasks.scoring_run_task": "long-jobs",
        "bulk.tasks.bulk_run_task": "long-jobs",
        "scoring.tasks.score_dirty_sweep_task": "short-jobs",
        "handover.tasks.outbox_deliver_task": "short-jobs",
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sweep_is_served_while_the_full_rescore_waits_for_the_bulk_pool(live_celery):
    short, long = private_queue("short"), private_queue("long")
    routes = {"*": {"queue": short}} | {
        name: {"queue": long} for name in settings.LEADFLOW_BULK_TASKS
    }
    with task_routes(live_celery, routes), celery_worker("-Q", short):
        leads = [LeadFactory(stage=Stage.LEAD) for _ in range(3)]
        make_model([activity_rule(ActivityKind.WEBINAR, 20)])
        run = ScoringRun.objects.get(kind="rescore")
        lead_services.activity_record(
            lead_id=leads[0].pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
        )
        assert wait_until(lambda: Lead.objects.filter(pk=leads[0].pk, score=20).exists()), (
            "the sweep was not served by the short-task pool"
        )
        run.refresh_from_db()
        assert run.status == ScoringRun.Status.QUEUED  # on the bulk queue: not this pool's work
        with celery_worker("-Q", long):
            assert wait_until(
                lambda: ScoringRun.objects.filter(pk=run.pk, status="done").exists(), timeout=60
            ), "the bulk pool did not run the full rescore"
