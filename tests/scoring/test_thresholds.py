"""Threshold crossings move leads through the lifecycle services, audited, and re-arm."""

from datetime import timedelta

import pytest
from django.utils import timezone

from handover.models import Handover
from leads import services as lead_services
from leads.lifecycle import Stage
from leads.models import ActivityKind, StageChange
from scoring import engine, services
from scoring.models import LeadScore
from tests.leads.factories import ActivityFactory, LeadFactory
from tests.scoring.factories import activity_rule, fit_rule, make_model

pytestmark = pytest.mark.django_db


def _activity(lead, kind, *, age=timedelta(minutes=5), now=None):
    ActivityFactory(lead=lead, kind=kind, occurred_at=(now or timezone.now()) - age, properties={})


def _model(**settings):
    return make_model(
        [
            activity_rule(ActivityKind.WEBINAR, 30),
            activity_rule(ActivityKind.UNSUBSCRIBE, -40),
            fit_rule("industry", "in", ["Software"], 10),
        ],
        **{"lead_fit_threshold": 10, "mql_threshold": 50, "mql_min_grade": "C", **settings},
    )


def _stages(lead):
    return list(
        StageChange.objects.filter(lead=lead).order_by("id").values_list("to_stage", flat=True)
    )


def test_fit_moves_suspect_to_lead_and_score_moves_lead_to_mql_with_a_handover():
    _model()
    lead = LeadFactory(stage=Stage.SUSPECT, industry="Software")
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.stage == Stage.LEAD
    _activity(lead, ActivityKind.WEBINAR)
    _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.stage, lead.score) == (Stage.MQL, 70)
    change = StageChange.objects.filter(lead=lead, to_stage=Stage.MQL).get()
    assert (change.source, change.actor_kind, change.actor_id) == ("scoring", "system", None)
    assert "score 70 reached 50" in change.reason
    assert Handover.objects.filter(lead=lead, status=Handover.Status.OPEN).exists()
    assert not LeadScore.objects.get(pk=lead.pk).mql_armed


def test_minimum_grade_holds_back_a_poor_fit():
    _model(mql_min_grade="C")
    lead = LeadFactory(stage=Stage.LEAD, industry="Mining")
    for _ in range(3):
        _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.score, lead.grade, lead.stage) == (90, "D", Stage.LEAD)


def test_suspect_qualifying_on_both_crosses_both_in_one_evaluation():
    _model()
    lead = LeadFactory(stage=Stage.SUSPECT, industry="Software")
    _activity(lead, ActivityKind.WEBINAR)
    _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    assert _stages(lead) == [Stage.SUSPECT, Stage.LEAD, Stage.MQL]


def test_rearm_a_recycled_lead_crosses_again_only_after_falling_below():
    _model()
    lead = LeadFactory(stage=Stage.LEAD, industry="Software")
    _activity(lead, ActivityKind.WEBINAR, age=timedelta(hours=3))
    _activity(lead, ActivityKind.WEBINAR, age=timedelta(hours=3))
    services.score_lead(lead_id=lead.pk)
    lead_services.lead_recycle(lead_id=lead.pk, actor=None, source="api", reason="not ready")
    # still above the threshold: not armed, so a rescore does not bounce it straight back
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE
    # falls below (unsubscribed): re-armed
    _activity(lead, ActivityKind.UNSUBSCRIBE, age=timedelta(hours=2))
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (30, Stage.NURTURE)
    assert LeadScore.objects.get(pk=lead.pk).mql_armed
    # requalifies: crosses again (Mautic's triggers would not)
    _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (60, Stage.MQL)
    assert _stages(lead) == [Stage.LEAD, Stage.MQL, Stage.NURTURE, Stage.MQL]
    assert Handover.objects.filter(lead=lead).count() == 2


def test_recycle_below_moves_a_falling_mql_out_and_back_in():
    _model(recycle_below=20)
    lead = LeadFactory(stage=Stage.LEAD, industry="Software")
    _activity(lead, ActivityKind.WEBINAR, age=timedelta(hours=3))
    _activity(lead, ActivityKind.WEBINAR, age=timedelta(hours=3))
    services.score_lead(lead_id=lead.pk)
    _activity(lead, ActivityKind.UNSUBSCRIBE, age=timedelta(hours=2))
    _activity(lead, ActivityKind.UNSUBSCRIBE, age=timedelta(hours=2))
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (-10, Stage.NURTURE)
    recycled = StageChange.objects.filter(lead=lead, to_stage=Stage.NURTURE).get()
    assert "fell below 20" in recycled.reason
    for _ in range(2):
        _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert _stages(lead).count(Stage.MQL) == 2


def test_threshold_moves_follow_the_lifecycle_table():
    _model()
    lead = LeadFactory(stage=Stage.DISQUALIFIED, industry="Software")
    for _ in range(3):
        _activity(lead, ActivityKind.WEBINAR)
    services.score_lead(lead_id=lead.pk)
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (100, Stage.DISQUALIFIED)  # scored, never moved


def test_a_minimum_predicted_probability_gates_mql_next_to_the_rule_score():
    from django.core.exceptions import ValidationError

    from leads.models import Lead

    model = _model(mql_min_probability=0.4)
    unlikely = LeadFactory(stage=Stage.LEAD, industry="Software", conversion_probability=0.1)
    likely = LeadFactory(stage=Stage.LEAD, industry="Software", conversion_probability=0.6)
    unknown = LeadFactory(stage=Stage.LEAD, industry="Software", conversion_probability=None)
    for lead in (unlikely, likely, unknown):
        _activity(lead, ActivityKind.WEBINAR)
        _activity(lead, ActivityKind.WEBINAR)
    rows = engine.evaluate_rows(
        model=model,
        spec=engine.model_spec(model),
        ids=[unlikely.pk, likely.pk, unknown.pk],
        now=timezone.now(),
    )
    dry, movers = services._dry_run_stats(model, rows)
    assert dry["enter_mql"] == 1  # the dry run applies the same gate
    assert [m.lead_id for m in movers] == [likely.pk]
    for lead in (unlikely, likely, unknown):
        services.score_lead(lead_id=lead.pk)
    stages = dict(Lead.objects.values_list("pk", "stage"))
    assert stages[likely.pk] == Stage.MQL
    assert stages[unlikely.pk] == stages[unknown.pk] == Stage.LEAD  # 70 points are not enough
    assert "probability 0.60" in StageChange.objects.get(lead=likely, to_stage=Stage.MQL).reason
    # once the model learns the lead is likely, the next evaluation lets it through
    Lead.objects.filter(pk=unlikely.pk).update(conversion_probability=0.5)
    services.score_lead(lead_id=unlikely.pk)
    assert Lead.objects.get(pk=unlikely.pk).stage == Stage.MQL
    with pytest.raises(ValidationError, match="from 0 to 1"):
        services.model_update(model_id=_model_draft().pk, data={"mql_min_probability": 1.5})


def _model_draft():
    return services.model_create(data={"name": "Draft"})
