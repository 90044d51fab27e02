"""The lifecycle table and the one service that applies it."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from leadflow.exceptions import DomainError
from leads.lifecycle import (
    ALLOWED,
    EXIT_AFTER_ACCEPTANCE,
    ActorKind,
    InvalidTransitionError,
    ReasonRequiredError,
    Stage,
    TransitionNotPermittedError,
    allowed_targets,
    ensure_allowed,
)
from leads.models import ExitReason, StageChange
from leads.services import LeadNotFoundError, _move_stage, lead_move
from tests.leads.factories import LeadFactory

ALLOWED_EDGES = [
    (frm, to, kind)
    for frm, moves in ALLOWED.items()
    for to, kinds in moves.items()
    for kind in sorted(kinds)  # a set: sorted, so every xdist worker collects one order
]
FORBIDDEN_EDGES = [
    (frm, to) for frm in Stage for to in Stage if frm != to and to not in ALLOWED[frm]
]


def test_every_stage_has_a_row_and_customer_is_terminal():
    assert set(ALLOWED) == set(Stage)
    assert allowed_targets(Stage.CUSTOMER) == []
    assert Stage.SUSPECT not in {to for moves in ALLOWED.values() for to in moves}


def test_ensure_allowed_names_the_problem():
    with pytest.raises(InvalidTransitionError, match="Suspect to Customer"):
        ensure_allowed(Stage.SUSPECT, Stage.CUSTOMER, ActorKind.MANAGER)
    with pytest.raises(
        TransitionNotPermittedError,
        match="Only a sales rep or manager can move a lead from MQL to SAL",
    ):
        ensure_allowed(Stage.MQL, Stage.SAL, ActorKind.MARKETER)
    with pytest.raises(ReasonRequiredError) as err:
        ensure_allowed(Stage.MQL, Stage.NURTURE, ActorKind.SALES_REP, reason="  ")
    assert err.value.field == "reason"


@pytest.mark.django_db
@pytest.mark.parametrize(("frm", "to", "kind"), ALLOWED_EDGES)
def test_every_allowed_move_writes_exactly_one_stage_change(frm, to, kind):
    lead = LeadFactory(stage=frm)
    if (frm, to) == (Stage.SAL, Stage.SQL):  # handover's gate: SQL needs a passed checklist
        from tests.handover.factories import passed_checklist

        passed_checklist(lead)
    coded = (frm, to) in EXIT_AFTER_ACCEPTANCE  # leaving after acceptance names an exit reason
    result = _move_stage(
        lead_id=lead.pk,
        to=to,
        actor=None,
        actor_kind=kind,
        source="system",
        reason="because",
        reason_code="other" if coded else "",
    )
    lead.refresh_from_db()
    assert lead.stage == to
    assert result.change is not None
    log = list(StageChange.objects.filter(lead=lead).order_by("id"))
    assert len(log) == 2  # creation + this move
    assert (
        log[1].from_stage,
        log[1].to_stage,
        log[1].actor_kind,
        log[1].reason,
        log[1].reason_code,
    ) == (frm, to, kind.value, "Other: because" if coded else "because", "other" if coded else "")
    assert lead.stage_changed_at == log[1].changed_at


@pytest.mark.django_db
@pytest.mark.parametrize(("frm", "to"), FORBIDDEN_EDGES)
def test_every_forbidden_move_is_refused_and_writes_nothing(frm, to):
    lead = LeadFactory(stage=frm)
    before = lead.stage_changed_at
    with pytest.raises(InvalidTransitionError) as err:
        _move_stage(
            lead_id=lead.pk,
            to=to,
            actor=None,
            actor_kind=ActorKind.MANAGER,
            source="ui",
            reason="x",
        )
    assert err.value.code == "invalid_transition"
    lead.refresh_from_db()
    assert (lead.stage, lead.stage_changed_at) == (frm, before)
    assert StageChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_same_stage_is_a_no_op():
    lead = LeadFactory(stage=Stage.MQL)
    result = _move_stage(lead_id=lead.pk, to=Stage.MQL, actor=None, source="scoring")
    assert result.change is None
    assert StageChange.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_wrong_actor_kind_is_refused(marketer, rep):
    lead = LeadFactory(stage=Stage.MQL)
    with pytest.raises(TransitionNotPermittedError):
        lead_move(lead_id=lead.pk, to="sal", actor=marketer, source="ui")
    assert lead_move(lead_id=lead.pk, to="sal", actor=rep, source="ui").change is not None


@pytest.mark.django_db
def test_user_without_role_cannot_move(django_user_model):
    nobody = django_user_model.objects.create(username="nobody")
    lead = LeadFactory(stage=Stage.SUSPECT)
    with pytest.raises(TransitionNotPermittedError):
        lead_move(lead_id=lead.pk, to="lead", actor=nobody, source="ui")


@pytest.mark.django_db
def test_bad_input_names_the_field():
    lead = LeadFactory()
    with pytest.raises(ValidationError) as err:
        lead_move(lead_id=lead.pk, to="won", actor=None, source="api")
    assert "stage" in err.value.message_dict
    with pytest.raises(LeadNotFoundError) as missing:
        lead_move(lead_id=999_999, to="lead", actor=None, source="api")
    assert missing.value.field == "lead"
    assert missing.value.status == 404
    assert StageChange.objects.count() == 1


class LifecycleMachine(RuleBasedStateMachine):
    """Random sequences of moves by random actors keep the log and the lead consistent."""

    @initialize()
    def make_lead(self) -> None:
        self.lead = LeadFactory(stage=Stage.SUSPECT)

    @rule(
        to=st.sampled_from(list(Stage)),
        kind=st.sampled_from(list(ActorKind)),
        reason=st.sampled_from(["", "not ready yet"]),
        # an exit reason for either stage, one for Nurture only, one for Disqualified only, none
        code=st.sampled_from(["", "other", "lost_price", "wrong_industry", "no-such-reason"]),
    )
    def move(self, to: Stage, kind: ActorKind, reason: str, code: str) -> None:
        before = StageChange.objects.filter(lead=self.lead).count()
        try:
            result = _move_stage(
                lead_id=self.lead.pk,
                to=to,
                actor=None,
                actor_kind=kind,
                source="system",
                reason=reason,
                reason_code=code,
            )
        except (DomainError, ValidationError):
            assert StageChange.objects.filter(lead=self.lead).count() == before
            return
        expected = before + (0 if result.change is None else 1)
        assert StageChange.objects.filter(lead=self.lead).count() == expected

    @invariant()
    def stage_is_last_log_entry_and_no_forbidden_edge(self) -> None:
        if not hasattr(self, "lead"):
            return
        self.lead.refresh_from_db()
        log = list(StageChange.objects.filter(lead=self.lead).order_by("changed_at", "id"))
        assert log[-1].to_stage == self.lead.stage
        for change in log[1:]:
            assert Stage(change.to_stage) in ALLOWED[Stage(change.from_stage)]
            assert (
                ActorKind(change.actor_kind)
                in ALLOWED[Stage(change.from_stage)][Stage(change.to_stage)]
            )
            move = (Stage(change.from_stage), Stage(change.to_stage))
            if move in EXIT_AFTER_ACCEPTANCE:
                assert change.reason_code  # nobody leaves SAL or SQL without a coded reason
            if change.reason_code:
                assert move[1] in (Stage.NURTURE, Stage.DISQUALIFIED)
                reason = ExitReason.objects.get(code=change.reason_code)
                assert reason.fits(move[1])
                assert change.reason.startswith(reason.label)


@pytest.mark.django_db
def test_random_transition_sequences_keep_the_invariants():
    # Each example works on a lead of its own, so one transaction serves all 100 examples.
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.django_db
def test_a_guard_can_veto_a_move_and_nothing_is_written():
    from leads import events

    class NeedsChecklist(DomainError):
        code = "qualification_required"

    def guard(sender, lead, to, **kwargs):
        if to == Stage.SQL:
            raise NeedsChecklist("Pass the qualification checklist first.")

    events.stage_change_requested.connect(guard)
    try:
        lead = LeadFactory(stage=Stage.SAL)
        with pytest.raises(DomainError) as err:  # this guard, or handover's own, vetoes first
            _move_stage(
                lead_id=lead.pk, to=Stage.SQL, actor=None, actor_kind=ActorKind.MANAGER, source="ui"
            )
        assert err.value.code == "qualification_required"
        lead.refresh_from_db()
        assert lead.stage == Stage.SAL
        assert StageChange.objects.filter(lead=lead).count() == 1
    finally:
        events.stage_change_requested.disconnect(guard)
