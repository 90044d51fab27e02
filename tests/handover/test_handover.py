"""Handover lifecycle: opened by any MQL move, accept, reject with routed reasons, gating SQL."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from handover import services
from handover.models import (
    Delivery,
    Handover,
    Notification,
    QualificationChecklist,
    SlaTimer,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import StageChange
from leads.services import lead_mark_mql, lead_mark_sql, lead_move, lead_recycle
from tests.handover.factories import framework, policy, rule
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(reps, team):
    rule("rr", team=team, members=reps[:1])
    policy(stage="mql", target=480, warn=60)
    return reps[0]


def test_any_move_to_mql_opens_one_handover_with_owner_timer_and_notifications(
    setup, marketer, django_capture_on_commit_callbacks
):
    lead = LeadFactory(stage=Stage.LEAD, source="webinar")
    ActivityFactory(lead=lead, name="Pricing page")
    with django_capture_on_commit_callbacks(execute=True):
        lead_move(lead_id=lead.pk, to="mql", actor=marketer, source="ui")  # a marketer, not scoring
    handover = Handover.objects.get(lead=lead)
    assert (handover.status, handover.owner, handover.lead_source) == ("open", setup, "webinar")
    lead.refresh_from_db()
    assert lead.owner == setup
    timer = SlaTimer.objects.get(lead=lead)
    assert (timer.stage, timer.owner, timer.handover) == ("mql", setup, handover)
    assert Notification.objects.get(recipient=setup).kind == "handover.assigned"
    email = Delivery.objects.get(channel="email")
    assert email.status == "delivered"
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    for needle in (lead.display_name, "Pricing page", "Score:", "due", f"/handover/{handover.pk}/"):
        assert needle in body


def test_one_open_handover_per_lead_is_a_database_rule(setup, make_mql):
    lead = make_mql()
    with pytest.raises(IntegrityError), transaction.atomic():
        Handover.objects.create(lead=lead, opened_at=timezone.now())


def test_accept_moves_to_sal_stops_the_mql_timer_and_starts_the_sal_one(setup, make_mql):
    policy(stage="sal", target=60, warn=0, ladder=[])
    lead = make_mql()
    handover = services.handover_accept(handover_id=Handover.objects.get(lead=lead).pk, actor=setup)
    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert handover.status == "accepted"
    change = StageChange.objects.filter(lead=lead).latest("id")
    assert (change.source, change.actor) == ("handover", setup)
    timers = {t.stage: t.state for t in SlaTimer.objects.filter(lead=lead)}
    assert timers == {"mql": "met", "sal": "running"}


@pytest.mark.parametrize(
    ("code", "comment", "stage", "reason_text", "reset"),
    [
        ("not_ready", "", Stage.NURTURE, "Not ready yet", True),
        ("no_budget", "next year", Stage.NURTURE, "No budget: next year", False),
        ("competitor", "uses Acme CRM", Stage.DISQUALIFIED, "Competitor: uses Acme CRM", False),
        (
            "other",
            "asked us to call in May",
            Stage.NURTURE,
            "Other: asked us to call in May",
            False,
        ),
    ],
)
def test_reject_routes_by_reason(setup, make_mql, code, comment, stage, reason_text, reset):
    lead = make_mql()
    handover = Handover.objects.get(lead=lead)
    services.handover_reject(
        handover_id=handover.pk, actor=setup, reason_code=code, comment=comment
    )
    lead.refresh_from_db()
    handover.refresh_from_db()
    assert lead.stage == stage
    assert (handover.status, handover.reason_code) == ("rejected", code)
    assert StageChange.objects.filter(lead=lead).latest("id").reason == reason_text
    assert (lead.score_reset_at is not None) is reset


def test_reject_without_a_valid_reason_or_needed_comment_changes_nothing(setup, make_mql):
    lead = make_mql()
    handover = Handover.objects.get(lead=lead)
    with pytest.raises(ValidationError) as err:
        services.handover_reject(handover_id=handover.pk, actor=setup, reason_code="")
    assert "reason" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        services.handover_reject(handover_id=handover.pk, actor=setup, reason_code="other")
    assert "comment" in err.value.message_dict
    handover.refresh_from_db()
    lead.refresh_from_db()
    assert (handover.status, lead.stage) == ("open", Stage.MQL)


def test_only_the_owner_or_a_manager_decides_and_only_once(setup, make_mql, reps, manager):
    lead = make_mql()
    handover = Handover.objects.get(lead=lead)
    with pytest.raises(services.NotHandoverOwnerError):
        services.handover_accept(handover_id=handover.pk, actor=reps[1])
    services.handover_reject(handover_id=handover.pk, actor=manager, reason_code="duplicate")
    with pytest.raises(services.HandoverAlreadyDecidedError) as err:
        services.handover_accept(handover_id=handover.pk, actor=setup)
    assert err.value.status == 409


def test_queue_handover_is_claimed_by_the_first_team_member(reps, team, make_mql):
    rule("capped", team=team, members=reps[:1], capacity=0)
    handover = Handover.objects.get(lead=make_mql())
    assert handover.owner is None
    outsider = UserFactory(username="outsider", role=Role.SALES_REP)
    with pytest.raises(services.NotHandoverOwnerError):
        services.handover_accept(handover_id=handover.pk, actor=outsider)
    services.handover_accept(handover_id=handover.pk, actor=reps[2])
    handover.refresh_from_db()
    assert handover.owner == reps[2]
    assert handover.lead.owner == reps[2]


def test_leaving_mql_another_way_cancels_the_handover_and_stops_the_timer(
    setup, make_mql, marketer
):
    lead = make_mql()
    lead_recycle(lead_id=lead.pk, actor=marketer, source="ui", reason="campaign paused")
    assert Handover.objects.get(lead=lead).status == "cancelled"
    assert SlaTimer.objects.get(lead=lead).state == "met"
    lead_mark_mql(lead_id=lead.pk, actor=marketer, source="ui")
    assert Handover.objects.filter(lead=lead).count() == 2


def test_sql_needs_a_passed_checklist_on_every_path(setup, make_mql, client):
    lead = make_mql()
    services.handover_accept(handover_id=Handover.objects.get(lead=lead).pk, actor=setup)
    with pytest.raises(services.QualificationRequiredError) as err:
        lead_mark_sql(lead_id=lead.pk, actor=setup, source="ui")
    assert err.value.code == "qualification_required"
    fw = framework()
    checklist = services.checklist_save(
        lead_id=lead.pk,
        framework_code=fw.code,
        answers={"budget": {"met": True}, "authority": {"met": True}, "timeline": {"met": True}},
        actor=setup,
    )
    assert not checklist.passed  # "need" is required
    with pytest.raises(services.QualificationRequiredError):
        lead_move(lead_id=lead.pk, to="sql", actor=setup, source="ui")
    checklist = services.checklist_save(
        lead_id=lead.pk,
        framework_code=fw.code,
        answers={"need": {"met": True, "note": "CRM migration"}},
        actor=setup,
    )
    assert checklist.passed
    assert checklist.passed_at
    lead_mark_sql(lead_id=lead.pk, actor=setup, source="ui")
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL
    assert QualificationChecklist.objects.get(lead=lead).answers["need"]["note"] == "CRM migration"


def test_seeded_frameworks_and_reasons_exist(db):
    from handover.models import QualificationFramework, RejectionReason

    assert set(QualificationFramework.objects.values_list("code", flat=True)) >= {
        "bant",
        "champ",
        "gpctba_ci",
    }
    assert RejectionReason.objects.filter(code="other", requires_comment=True).exists()


def test_webhook_rows_are_written_with_their_cause_or_not_at_all(setup, reps):
    WebhookSubscription.objects.create(
        url="https://hooks.example.com/x",
        event_types=["lead.stage_changed", "lead.mql", "handover.assigned"],
    )
    lead = LeadFactory(stage=Stage.LEAD)

    def move_then_fail():
        with transaction.atomic():
            lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
            raise RuntimeError("the moving transaction fails later")

    with pytest.raises(RuntimeError):
        move_then_fail()
    assert WebhookEvent.objects.count() == Delivery.objects.count() == Handover.objects.count() == 0
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    types = sorted(WebhookEvent.objects.values_list("type", flat=True))
    assert types == ["handover.assigned", "lead.mql", "lead.stage_changed"]
    payload = WebhookEvent.objects.get(type="lead.stage_changed").payload
    assert (payload["data"]["from_stage"], payload["data"]["to_stage"]) == ("lead", "mql")
    assert payload["id"] == str(WebhookEvent.objects.get(type="lead.stage_changed").event_id)


def test_manager_reassign_moves_the_timer_with_its_deadline(setup, make_mql, reps, manager):
    lead = make_mql()
    timer = SlaTimer.objects.get(lead=lead)
    services.lead_reassign(lead_id=lead.pk, owner_id=reps[1].pk, actor=manager)
    timer.refresh_from_db()
    handover = Handover.objects.get(lead=lead)
    assert (timer.owner, timer.state) == (reps[1], "running")
    assert handover.owner == reps[1]
    assert handover.assignments.count() == 2
    assert Notification.objects.filter(recipient=reps[1], kind="handover.reassigned").exists()
    with pytest.raises(services.PermissionDeniedError):
        services.lead_reassign(lead_id=lead.pk, owner_id=reps[2].pk, actor=reps[1])
    with pytest.raises(ValidationError):
        services.lead_reassign(
            lead_id=lead.pk,
            owner_id=UserFactory(username="mk", role=Role.MARKETER).pk,
            actor=manager,
        )


def test_mql_email_explains_the_score_by_rule_and_gives_one_due_date(
    setup, marketer, django_capture_on_commit_callbacks
):
    """Issue 17: "Why this score" listed the breakdown's keys (lead_id, model_id, ...), and the
    text carried a due time of its own besides the SLA line."""
    from scoring.services import score_lead
    from tests.scoring.factories import fit_rule, make_model

    make_model([fit_rule("industry", "in", ["Software"], 10)])
    lead = LeadFactory(stage=Stage.LEAD, industry="Software")
    score_lead(lead_id=lead.pk)
    with django_capture_on_commit_callbacks(execute=True):
        lead_move(lead_id=lead.pk, to="mql", actor=marketer, source="ui")
    text = mail.outbox[0].body
    html = mail.outbox[0].alternatives[0][0]
    for body in (text, html):
        assert "rule 0 (fit): +10 points" in body
        assert "lead_id" not in body
        assert "model_id" not in body
    timer = SlaTimer.objects.get(lead=lead)
    due = timezone.localtime(timer.due_at)
    assert f"due {due:%a %d %b %Y %H:%M}" in text
    assert text.count(f"{due:%d %b}") == 1  # one due date in the whole message
    assert "OVERDUE" not in text
