"""Recompute paths: incremental dirty sweep, publish → background rescore, dry run, failures."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from leadflow.models import DeadLetter
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, Lead, RescoreMark, StageChange
from scoring import engine, services
from scoring.models import LeadScore, ScoringRun
from tests.leads.factories import LeadFactory
from tests.scoring.factories import activity_rule, fit_rule, make_model

pytestmark = pytest.mark.django_db


def _record(lead, kind=ActivityKind.WEBINAR, **kw):
    return lead_services.activity_record(
        lead_id=lead.pk, kind=kind, occurred_at=timezone.now() - timedelta(minutes=1), **kw
    )


def test_new_activity_marks_dirty_and_the_sweep_on_commit_rescores(
    django_capture_on_commit_callbacks,
):
    make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _record(lead)
        assert lead.rescore_marks.exists()  # same transaction as the activity
    lead.refresh_from_db()
    assert (lead.score, lead.rescore_marks.exists()) == (15, False)
    assert lead.scored_at is not None


def test_sweep_coalesces_bursts_into_one_evaluation_per_lead():
    make_model([activity_rule(ActivityKind.WEBINAR, 1)])
    leads = [LeadFactory() for _ in range(3)]
    for i in range(30):
        _record(leads[i % 3])
    result = services.score_dirty_sweep(batch_size=100)
    assert (result.scored, result.batches) == (3, 1)
    assert sorted(Lead.objects.values_list("score", flat=True)) == [10, 10, 10]
    assert not RescoreMark.objects.exists()
    assert services.score_dirty_sweep().scored == 0


def test_sweep_works_in_batches_oldest_mark_first():
    make_model([activity_rule(ActivityKind.WEBINAR, 1)])
    leads = [LeadFactory() for _ in range(5)]
    for lead in leads:
        _record(lead)
    first = services.score_dirty_sweep(batch_size=2, max_batches=1)
    assert first.scored == 2
    assert set(Lead.objects.filter(score=1).values_list("pk", flat=True)) == {
        leads[0].pk,
        leads[1].pk,
    }
    assert services.score_dirty_sweep(batch_size=2).batches == 2


def test_lead_update_marks_dirty_and_fit_is_rescored():
    make_model([fit_rule("industry", "in", ["Software"], 10)])
    lead = LeadFactory(industry="Retail")
    services.score_dirty_sweep()
    lead_services.lead_update(lead_id=lead.pk, data={"industry": "Software"})
    assert services.score_dirty_sweep().scored == 1
    lead.refresh_from_db()
    assert (lead.fit_score, lead.grade) == (10, "C")


def test_without_a_published_model_marks_stay():
    lead = LeadFactory()
    _record(lead)
    assert services.score_dirty_sweep().scored == 0
    assert lead.rescore_marks.exists()


def test_publish_rescores_every_lead_in_the_background(django_capture_on_commit_callbacks):
    leads = [LeadFactory(industry="Software") for _ in range(7)]
    for lead in leads[:3]:
        _record(lead)
    with django_capture_on_commit_callbacks(execute=True):
        model = make_model(
            [activity_rule(ActivityKind.WEBINAR, 15), fit_rule("industry", "in", ["Software"], 5)],
            publish=False,
        )
        run = services.model_publish(model_id=model.pk)
    run.refresh_from_db()
    assert (run.status, run.kind, run.reason, run.done, run.total) == (
        "done",
        "rescore",
        "publish",
        7,
        7,
    )
    assert run.finished_at is not None
    scores = dict(Lead.objects.values_list("pk", "score"))
    assert [scores[lead.pk] for lead in leads] == [20, 20, 20, 5, 5, 5, 5]
    assert LeadScore.objects.filter(model=model).count() == 7


def test_rescore_progress_is_committed_per_batch_and_a_failing_batch_is_retried(
    monkeypatch, settings
):
    settings.JOBS_RETRY_BASE_SECONDS = 0.01
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    leads = [LeadFactory() for _ in range(5)]
    for lead in leads:
        _record(lead)
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE, total=5)
    real, calls = services.apply_thresholds, {"n": 0}
    transient = "database is locked" if connection.vendor == "sqlite" else "deadlock detected"

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # after the second batch's scores were written
            raise OperationalError(transient)
        return real(**kwargs)

    monkeypatch.setattr(services, "apply_thresholds", flaky)
    run = services.run_execute(run_id=run.pk, batch_size=2)  # the batch is retried inside
    assert (run.status, run.done, calls["n"]) == ("done", 5, 4)
    assert list(Lead.objects.order_by("pk").values_list("score", flat=True)) == [15] * 5


def test_a_failing_batch_rolls_back_whole_and_resume_continues_after_the_last_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    leads = [LeadFactory() for _ in range(5)]
    for lead in leads:
        _record(lead)
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE, total=5)
    real, calls = services.apply_thresholds, {"n": 0, "broken": True}

    def broken(**kwargs):
        # from the second batch on, every lead fails (a fault of the batch, not of one lead:
        # nothing is set aside as a dead letter, see test_deadletter.py)
        calls["n"] += 1
        if calls["n"] >= 2 and calls["broken"]:
            raise ValueError("a rule cannot be evaluated")
        return real(**kwargs)

    monkeypatch.setattr(services, "apply_thresholds", broken)
    run = services.run_execute(run_id=run.pk, batch_size=2)
    assert (run.status, run.done, run.last_lead_id) == ("failed", 2, leads[1].pk)
    assert "after 2 of 5 leads: a rule cannot be evaluated" in run.error
    # the failed batch rolled back whole: its leads have no score, not half of one
    assert LeadScore.objects.count() == 2
    assert list(Lead.objects.order_by("pk").values_list("score", flat=True)) == [15, 15, 0, 0, 0]
    assert not DeadLetter.objects.exists()
    calls["broken"] = False
    with django_capture_on_commit_callbacks(execute=True):
        services.run_resume(run_id=run.pk, actor=None)
    run.refresh_from_db()
    assert (run.status, run.done, run.total) == ("done", 5, 5)
    assert list(Lead.objects.order_by("pk").values_list("score", flat=True)) == [15] * 5


def test_dry_run_reports_what_would_change_and_writes_nothing(django_capture_on_commit_callbacks):
    live = make_model([activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=50)
    stay = LeadFactory(stage=Stage.LEAD)
    rise = LeadFactory(stage=Stage.LEAD)
    mql = LeadFactory(stage=Stage.MQL)
    for lead in (rise, rise, mql, mql, stay):
        _record(lead)
    services.score_dirty_sweep()
    draft = services.model_new_version(model_id=live.pk)
    services.model_update(model_id=draft.pk, data={"mql_threshold": 15, "recycle_below": 5})
    rule = draft.rules.get()
    services.rule_update(rule_id=rule.pk, data={"points": 2})
    services.rule_create(
        model_id=draft.pk,
        data={"name": "fit", **fit_rule("industry", "in", ["Software"], 15)},
    )
    before = (
        list(Lead.objects.order_by("pk").values_list("stage", "score", "scored_at")),
        list(LeadScore.objects.order_by("pk").values_list("model_id", "score", "breakdown")),
        StageChange.objects.count(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(model_id=draft.pk, kind=ScoringRun.Kind.DRY_RUN)
    run.refresh_from_db()
    after = (
        list(Lead.objects.order_by("pk").values_list("stage", "score", "scored_at")),
        list(LeadScore.objects.order_by("pk").values_list("model_id", "score", "breakdown")),
        StageChange.objects.count(),
    )
    assert after == before
    assert run.status == "done"
    result = run.result
    assert result["leads"] == 3
    # stay: 10 -> 17 (crosses 15), rise: 20 -> 19 (crosses), mql: 20 -> 19 (stays in MQL)
    assert (result["enter_mql"], result["leave_mql"]) == (2, 0)
    assert result["before"] == {"10-19": 1, "20-29": 2}
    assert result["after"] == {"10-19": 3}
    assert (result["sum_before"], result["sum_after"]) == (50, 55)


def test_rescore_leaves_newer_sweep_scores_alone():
    model = make_model([activity_rule(ActivityKind.WEBINAR, 15)])
    lead = LeadFactory()
    _record(lead)
    services.score_dirty_sweep()
    stale = timezone.now() - timedelta(hours=1)
    _record(lead)
    written = engine.write_scores(
        model=model, spec=engine.model_spec(model), ids=[lead.pk], now=stale
    )
    lead.refresh_from_db()
    assert (written, lead.score) == (0, 15)


def test_dry_run_of_a_draft_identical_to_the_published_model_reports_no_change(
    django_capture_on_commit_callbacks,
):
    """Issue 17: the demo's dry run of an unchanged draft said "MQLs below the new threshold: 13"
    (MQLs seeded below the threshold counted as falling below it) and counted activity not yet
    swept into the stored scores as the draft's changes."""
    live = make_model([activity_rule(ActivityKind.WEBINAR, 10)], mql_threshold=15)
    low_mql = LeadFactory(stage=Stage.MQL)  # 10: below the threshold already, stays MQL
    high_mql = LeadFactory(stage=Stage.MQL)  # 20
    unswept = LeadFactory(stage=Stage.LEAD)
    for lead in (low_mql, high_mql, high_mql):
        _record(lead)
    services.score_dirty_sweep()
    _record(unswept)  # a new activity the sweep has not scored yet: stored 0, evaluated 10
    draft = services.model_new_version(model_id=live.pk)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(model_id=draft.pk, kind=ScoringRun.Kind.DRY_RUN)
    run.refresh_from_db()
    assert run.status == "done"
    assert (run.result["changed"], run.result["mql_below_threshold"]) == (0, 0)
    assert run.result["before"] == run.result["after"]

    raised = services.model_new_version(model_id=live.pk)
    services.model_update(model_id=raised.pk, data={"mql_threshold": 25})
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(model_id=raised.pk, kind=ScoringRun.Kind.DRY_RUN)
    run.refresh_from_db()
    assert run.result["mql_below_threshold"] == 1  # high_mql: 20 was above 15, is below 25
