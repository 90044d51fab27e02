"""Issue 17: calls, meetings and e-mails a rep logs are behaviour a scoring rule can count — by
kind and by outcome — and the set-based engine, single-lead scoring and the breakdown agree."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads import services as lead_services
from leads.models import Activity, ActivityKind, Lead
from scoring import engine, services
from scoring import rules as r
from scoring.models import LeadScore, ScoringRun
from scoring.selectors import score_breakdown
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, make_model

pytestmark = pytest.mark.django_db


def _log(lead, actor, kind, outcome, minutes=None, *, ago=timedelta(hours=1)):
    lead_services.interaction_log(
        lead_id=lead.pk,
        actor=actor,
        kind=kind,
        outcome=outcome,
        duration_minutes=minutes,
        occurred_at=timezone.now() - ago,
    )


def test_rules_on_logged_kinds_score_alike_in_bulk_single_and_breakdown():
    model = make_model(
        [
            activity_rule(
                ActivityKind.SALES_CALL,
                10,
                conditions=[{"property": "outcome", "op": "equals", "value": "connected"}],
            ),
            activity_rule(
                ActivityKind.SALES_MEETING,
                25,
                conditions=[{"property": "outcome", "op": "in", "value": ["held"]}],
            ),
            activity_rule(ActivityKind.SALES_EMAIL, 3),  # any outcome: the index-only path
        ]
    )
    rep = UserFactory(username="rita")
    lead, quiet = LeadFactory(), LeadFactory()
    _log(lead, rep, "sales_call", "connected", 12)
    _log(lead, rep, "sales_call", "connected", 3, ago=timedelta(days=2))
    _log(lead, rep, "sales_call", "no_answer")
    _log(lead, rep, "sales_meeting", "held", 45)
    _log(lead, rep, "sales_meeting", "no_show")
    _log(lead, rep, "sales_email", "replied")
    _log(quiet, rep, "sales_call", "wrong_number")
    want = 2 * 10 + 25 + 3
    now = timezone.now()

    # the set-based engine: a whole rescore run, one lead per batch
    run = ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.RESCORE, started_at=now)
    services.run_execute(run_id=run.pk, batch_size=1)
    bulk = dict(Lead.objects.filter(pk__in=[lead.pk, quiet.pk]).values_list("pk", "score"))
    assert bulk == {lead.pk: want, quiet.pk: 0}

    # single-lead scoring (what the dirty-lead sweep runs after each logged interaction)
    LeadScore.objects.all().delete()
    stored = services.score_lead(lead_id=lead.pk, now=now)
    assert stored is not None
    assert stored.score == want
    single = engine.evaluate_rows(
        model=model, spec=engine.model_spec(model), ids=[lead.pk], now=now
    )
    assert single[0].score == want

    # the breakdown: per rule, the counts the rep logged
    breakdown = score_breakdown(lead_id=lead.pk)
    assert breakdown is not None
    assert breakdown["score"] == want
    by_points = sorted((x["count"], x["points"]) for x in breakdown["rules"])
    assert by_points == [(1, 3), (1, 25), (2, 20)]
    assert [x[:3] for x in single[0].breakdown] == [
        [x["rule_id"], x["count"], x["points"]] for x in breakdown["rules"]
    ]

    # and the pure reference evaluator
    spec = engine.model_spec(model)
    row = Lead.objects.values("created_at", "score_reset_at", *engine.LEAD_FIELDS).get(pk=lead.pk)
    acts = [
        r.ActivityRow(a.pk, a.kind, a.occurred_at, a.properties)
        for a in Activity.objects.filter(lead=lead)
    ]
    assert r.evaluate(spec, lead=row, activities=acts, now=now).score == want


def test_logging_marks_the_lead_and_the_sweep_scores_it(django_capture_on_commit_callbacks):
    make_model([activity_rule(ActivityKind.SALES_MEETING, 30)])
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _log(lead, UserFactory(username="raj"), "sales_meeting", "held", 30)
    services.score_dirty_sweep()
    lead.refresh_from_db()
    assert lead.engagement_score == 30


def test_rule_editor_offers_the_logged_kinds():
    from scoring.forms import RuleForm

    offered = dict(RuleForm().fields["activity_kind"].choices)
    assert offered["sales_call"] == "Call (logged by sales)"
    assert offered["sales_meeting"] == "Meeting (logged by sales)"
    assert offered["sales_email"] == "E-mail (logged by sales)"
