"""Bulk actions through the service: every lead gets an outcome, refusals say why, one failing
lead never undoes the others, and permissions hold per role and per lead."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from bulk import actions, services
from bulk.models import BulkJob, BulkOutcome
from handover.models import Handover
from leadflow.exceptions import PermissionDeniedError
from leadflow.models import AuditEvent
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, RescoreMark, StageChange, Team
from tests.faults import db_fault
from tests.leads.factories import LeadFactory, UserFactory

R = BulkOutcome.Result


def submit(actor, action, ids, **data):
    return services.bulk_submit(
        actor=actor, action_code=action, data=data, token=uuid.uuid4(), lead_ids=ids
    )


def outcomes(job):
    return {o.lead_id: (o.result, o.message) for o in job.outcomes.all()}


@pytest.fixture
def team(db, manager):
    return Team.objects.create(name="Inside", manager=manager)


@pytest.mark.django_db
def test_mixed_selection_moves_the_legal_and_lists_every_refusal(manager, team):
    lead_ok = LeadFactory(stage=Stage.SAL, team=team)
    mql = LeadFactory(stage=Stage.MQL, team=team)
    suspect = LeadFactory(stage=Stage.SUSPECT, team=team)
    job = submit(manager, "move", [lead_ok.pk, mql.pk, suspect.pk], to=Stage.CUSTOMER)
    assert (job.status, job.applied, job.refused, job.failed) == ("done", 0, 3, 0)
    got = outcomes(job)
    assert got[mql.pk] == (
        R.REFUSED,
        "A lead cannot move from MQL to Customer: from MQL it can only go to SAL, Nurture (recycled), Disqualified.",
    )
    assert got[suspect.pk] == (
        R.REFUSED,
        "A lead cannot move from Suspect to Customer: from Suspect it can only go to Lead, Disqualified.",
    )
    assert (
        got[lead_ok.pk][1]
        == "A lead cannot move from SAL to Customer: from SAL it can only go to SQL, Nurture (recycled), Disqualified."
    )

    sql_lead = LeadFactory(stage=Stage.SQL, team=team)
    job = submit(manager, "move", [sql_lead.pk, mql.pk], to=Stage.CUSTOMER)
    assert (job.applied, job.refused) == (1, 1)
    assert Lead.objects.get(pk=sql_lead.pk).stage == Stage.CUSTOMER
    change = StageChange.objects.get(lead=sql_lead, to_stage=Stage.CUSTOMER)
    assert change.actor == manager  # the lifecycle's own audit row names who did it
    assert AuditEvent.objects.filter(action="bulk.submit", actor=manager).count() == 2


@pytest.mark.django_db
def test_accepting_an_mql_is_refused_to_everyone_in_bulk(manager, marketer, team):
    mql = LeadFactory(stage=Stage.MQL, team=team)
    got = outcomes(submit(manager, "move", [mql.pk], to=Stage.SAL))
    assert got[mql.pk] == (R.REFUSED, "Accept or reject MQLs in the SAL inbox.")
    got = outcomes(submit(marketer, "move", [mql.pk], to=Stage.SQL))
    assert got[mql.pk] == (
        R.REFUSED,
        "A lead cannot move from MQL to SQL: from MQL it can only go to SAL, Nurture (recycled), Disqualified.",
    )
    lead = LeadFactory(stage=Stage.SAL)
    got = outcomes(submit(marketer, "move", [lead.pk], to=Stage.SQL))
    assert got[lead.pk] == (
        R.REFUSED,
        "Only a sales rep or manager can move a lead from SAL to SQL (you act as a marketer).",
    )
    assert Lead.objects.get(pk=mql.pk).stage == Stage.MQL


@pytest.mark.django_db
def test_a_manager_acts_only_on_their_teams_leads(manager, team):
    other_team = Team.objects.create(name="Field")
    mine = LeadFactory(stage=Stage.LEAD, team=team)
    theirs = LeadFactory(stage=Stage.LEAD, team=other_team)
    job = submit(manager, "move", [mine.pk, theirs.pk], to=Stage.MQL)
    got = outcomes(job)
    assert got[mine.pk][0] == R.APPLIED
    assert got[theirs.pk][0] == R.REFUSED
    assert "team you do not manage" in got[theirs.pk][1]
    assert Lead.objects.get(pk=theirs.pk).stage == Stage.LEAD


@pytest.mark.django_db
def test_a_rep_acts_only_on_leads_they_see_and_never_assigns(rep):
    own = LeadFactory(stage=Stage.SAL, owner=rep)
    stranger = LeadFactory(stage=Stage.SAL)
    job = submit(rep, "disqualify", [own.pk, stranger.pk], dq_reason="bad_data")
    got = outcomes(job)
    assert got[own.pk] == (R.APPLIED, "")
    assert got[stranger.pk][0] == R.REFUSED
    assert Lead.objects.get(pk=own.pk).stage == Stage.DISQUALIFIED
    assert StageChange.objects.get(lead=own, to_stage=Stage.DISQUALIFIED).reason == "Bad data"
    assert Lead.objects.get(pk=stranger.pk).stage == Stage.SAL
    with pytest.raises(PermissionDeniedError):
        submit(rep, "assign", [own.pk], owner=str(rep.pk))


@pytest.mark.django_db
def test_bad_parameters_name_the_field_and_write_nothing(manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    cases = [
        ("move", {"to": "nowhere"}, "to"),
        ("move", {"to": Stage.NURTURE}, "to"),
        ("disqualify", {"dq_reason": "no_budget"}, "dq_reason"),  # a nurture reason
        ("recycle", {"nurture_reason": "other"}, "comment"),  # needs a comment
        ("assign", {"owner": "999999"}, "owner"),
        ("tag", {}, "tag_name"),
        ("tag", {"tag_name": "cold", "tag_op": "remove"}, "tag_name"),  # no such tag
        ("tag", {"tag_name": "cold", "tag_op": "rename"}, "tag_op"),
        ("sing", {}, "action"),
    ]
    for action, data, field in cases:
        with pytest.raises(ValidationError) as err:
            submit(manager, action, [lead.pk], **data)
        assert field in err.value.message_dict, (action, err.value)
    with pytest.raises(ValidationError) as err:
        submit(manager, "move", [], to=Stage.MQL)
    assert "lead" in err.value.message_dict
    assert not BulkJob.objects.exists()


@pytest.mark.django_db
def test_recycle_with_a_reason_resets_engagement_when_the_reason_says_so(marketer):
    lead = LeadFactory(stage=Stage.LEAD)
    job = submit(marketer, "recycle", [lead.pk], nurture_reason="not_ready", comment="Q3")
    assert outcomes(job)[lead.pk] == (R.APPLIED, "")
    lead.refresh_from_db()
    assert (lead.stage, lead.score_reset_at is not None) == (Stage.NURTURE, True)
    assert StageChange.objects.get(lead=lead, to_stage=Stage.NURTURE).reason == "Not ready yet: Q3"


@pytest.mark.django_db
def test_assign_keeps_the_reassign_rules_per_lead(manager, team):
    rep_in_team = UserFactory(username="raj", role=Role.SALES_REP)
    team.members.add(rep_in_team)
    mine = LeadFactory(stage=Stage.LEAD, team=team)
    theirs = LeadFactory(stage=Stage.LEAD, team=Team.objects.create(name="Other"))
    job = submit(manager, "assign", [mine.pk, theirs.pk], owner=str(rep_in_team.pk))
    assert (job.applied, job.refused) == (1, 1)
    assert Lead.objects.get(pk=mine.pk).owner == rep_in_team
    assert Lead.objects.get(pk=theirs.pk).owner is None
    assert AuditEvent.objects.filter(
        action="lead.reassign", actor=manager, target_id=str(mine.pk)
    ).exists()


@pytest.mark.django_db
def test_a_fault_in_one_lead_fails_that_lead_only(manager, team):
    leads = [LeadFactory(stage=Stage.LEAD, team=team) for _ in range(5)]
    broken = leads[2]
    with db_fault(Lead, "id", broken.pk, "injected fault"):
        job = submit(manager, "move", [lead.pk for lead in leads], to=Stage.MQL)
    assert (job.status, job.applied, job.refused, job.failed) == ("done", 4, 0, 1)
    got = outcomes(job)
    assert got[broken.pk][0] == R.FAILED
    assert "injected fault" in got[broken.pk][1]
    stages = dict(Lead.objects.values_list("pk", "stage"))
    assert [stages[lead.pk] for lead in leads] == ["mql", "mql", "lead", "mql", "mql"]
    # the failed lead's move left nothing behind: no stage change row, no handover
    assert not StageChange.objects.filter(lead=broken, to_stage=Stage.MQL).exists()
    assert not Handover.objects.filter(lead=broken).exists()
    assert Handover.objects.filter(lead=leads[3]).exists()


@pytest.mark.django_db
def test_the_same_form_twice_runs_once(manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)
    token = uuid.uuid4()
    kwargs = {
        "actor": manager,
        "action_code": "move",
        "data": {"to": "mql"},
        "token": token,
        "lead_ids": [lead.pk],
    }
    first = services.bulk_submit(**kwargs)
    second = services.bulk_submit(**kwargs)
    assert first.pk == second.pk
    assert BulkJob.objects.count() == 1
    assert StageChange.objects.filter(lead=lead, to_stage=Stage.MQL).count() == 1


@pytest.mark.django_db
def test_large_selections_and_all_matching_become_a_job(
    manager, team, django_capture_on_commit_callbacks
):
    ids = [LeadFactory(stage=Stage.LEAD, team=team).pk for _ in range(services.INLINE_MAX + 1)]
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the task runs inline
        job = submit(manager, "move", ids, to=Stage.MQL)
    assert job.in_background
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.applied) == ("done", len(ids), len(ids), len(ids))
    assert job.outcomes.count() == len(ids)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = services.bulk_submit(
            actor=manager,
            action_code="move",
            data={"to": "sal"},
            token=uuid.uuid4(),
            matching=Lead.objects.filter(pk__in=ids[:3]),
            selection="all 3 matching",
        )
    assert (job.in_background, job.status, len(queued)) == (True, "pending", 1)
    assert job.lead_ids == sorted(ids[:3])


@pytest.mark.django_db
def test_a_new_action_is_one_function_and_a_registration(manager, team):
    lead = LeadFactory(stage=Stage.LEAD, team=team)

    def note(*, lead, actor, params):
        return R.APPLIED

    action = actions.register(
        actions.BulkAction(
            code="noop_for_test",
            label="Noop",
            permitted=lambda user: True,
            clean=lambda data, user: {},
            describe=lambda p: "Noop",
            apply=note,
        )
    )
    try:
        job = submit(manager, action.code, [lead.pk])
        assert outcomes(job) == {lead.pk: (R.APPLIED, "")}
    finally:
        del actions.ACTIONS[action.code]


@pytest.mark.django_db
def test_a_lead_whose_second_write_fails_is_left_whole(marketer):
    """Recycling with "Not ready yet" is two services (the move, then the engagement reset): a
    fault in the reset undoes that lead's move too, and only that lead's."""
    leads = [LeadFactory(stage=Stage.LEAD) for _ in range(3)]
    broken = leads[1]
    with db_fault(RescoreMark, "lead_id", broken.pk, "injected fault"):
        job = submit(marketer, "recycle", [lead.pk for lead in leads], nurture_reason="not_ready")
    assert (job.applied, job.failed) == (2, 1)
    assert outcomes(job)[broken.pk][0] == R.FAILED
    broken.refresh_from_db()
    assert (broken.stage, broken.score_reset_at) == (Stage.LEAD, None)
    assert not StageChange.objects.filter(lead=broken, to_stage=Stage.NURTURE).exists()
    assert Lead.objects.filter(pk__in=[leads[0].pk, leads[2].pk], stage=Stage.NURTURE).count() == 2
