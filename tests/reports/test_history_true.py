"""Reports "as it was then" and "as it is now": every stage change records the lead's owner,
team and source, the rollup keeps those of its latest change, and reports read either."""

import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from handover.models import Handover
from handover.services import handover_accept
from leadflow.roles import Role
from leads.events import stage_log_rewritten
from leads.models import Lead, StageChange, Team
from leads.services import (
    lead_assign,
    lead_create,
    lead_disqualify,
    lead_mark_mql,
    lead_qualify,
    lead_recycle,
    lead_update,
)
from reports.filters import NOW, THEN, ReportFilterForm, ReportFilters
from reports.models import LeadMilestone
from reports.selectors import report_run
from reports.services import milestones_rebuild
from tests.handover.factories import rule
from tests.leads.factories import UserFactory
from tests.reports.conftest import metric_day_cells as cells
from tests.reports.test_metric_days import rebuilt

pytestmark = pytest.mark.django_db

SLUGS = ("funnel", "cohort", "velocity", "recycles", "sources", "point-in-time", "rejections")
SOURCES = ("web", "ads", "event")


@pytest.fixture
def teams(db, manager):
    north = Team.objects.create(name="North", manager=manager)
    south = Team.objects.create(name="South", manager=manager)
    reps = {t: [UserFactory(role=Role.SALES_REP) for _ in range(2)] for t in (north, south)}
    for t, members in reps.items():
        t.members.add(*members)
    # German leads go to the North, the rest to the South (round robin within each)
    rule("de", team=north, members=reps[north], position=1, countries=["DE"])
    rule("others", team=south, members=reps[south], position=2)
    return reps


def _life(seed: int, marketer, n: int = 24) -> list[Lead]:
    """``n`` leads with random sources taken along random paths by the lifecycle services:
    some stop early, some are accepted by their owner, recycled, requalified or disqualified."""
    rng = random.Random(seed)
    leads = []
    for i in range(n):
        lead = lead_create(
            data={
                "email": f"h{seed}-{i}@x.example",
                "source": rng.choice(SOURCES),
                "country": rng.choice(("DE", "FR")),
            },
            actor=marketer,
        )
        leads.append(lead)
        if rng.random() < 0.2:
            continue
        lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
        if rng.random() < 0.2:
            continue
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        handover = Handover.objects.get(lead=lead, status=Handover.Status.OPEN)
        step, owner = rng.random(), handover.owner
        assert owner is not None  # every rule has reps free
        if step < 0.65:  # the rest stay in the inbox
            handover_accept(handover_id=handover.pk, actor=owner)
        if step < 0.25:
            lead_recycle(
                lead_id=lead.pk,
                actor=owner,
                source="ui",
                reason="not ready",
                reason_code="no_decision",
            )
            if rng.random() < 0.5:
                lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        elif step < 0.4:
            lead_disqualify(
                lead_id=lead.pk,
                actor=owner,
                source="ui",
                reason="no budget",
                reason_code="wrong_industry",
            )
    return leads


def _all_filters(teams) -> list[ReportFilters]:
    base = ReportFilters(start=timezone.now() - timedelta(days=1), end=None)
    out = [base, replace(base, start=None)]
    for t, reps in teams.items():
        out.append(replace(base, team_id=t.pk))
        out += [replace(base, owner_id=r.pk) for r in reps]
    out += [replace(base, source=s) for s in SOURCES]
    grouped = [replace(base, cohort_by="source"), replace(base, rejections_by="source")]
    return out + grouped


def _reports(filters: list[ReportFilters], view: str) -> list[list[dict[str, Any]]]:
    return [
        report_run(slug=slug, filters=replace(f, view=view)).rows for f in filters for slug in SLUGS
    ]


def test_a_move_records_the_owner_team_and_source_in_force_including_its_own_assignment(
    teams, marketer
) -> None:
    north = next(iter(teams))
    lead = lead_create(
        data={"email": "one@x.example", "source": "web", "country": "DE"}, actor=marketer
    )
    lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    lead.refresh_from_db()
    assert lead.owner in teams[north]
    log = list(StageChange.objects.filter(lead=lead).order_by("changed_at", "id"))
    # before the handover nobody owned it; the MQL move records the owner its handover gave it
    assert [(c.to_stage, c.owner_id, c.team_id, c.lead_source) for c in log] == [
        ("suspect", None, None, "web"),
        ("lead", None, None, "web"),
        ("mql", lead.owner_id, north.pk, "web"),
    ]
    row = LeadMilestone.objects.get(lead=lead)
    assert (row.then_owner_id, row.then_team_id, row.then_source) == (
        lead.owner_id,
        north.pk,
        "web",
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_then_and_now_agree_when_nobody_was_reassigned(teams, marketer, seed) -> None:
    _life(seed, marketer)
    filters = _all_filters(teams)
    then = _reports(filters, THEN)
    assert then == _reports(filters, NOW)
    assert any(rows and any(r.get("leads") or r.get("mqls") for r in rows) for rows in then)


@pytest.mark.parametrize("seed", [4, 5])
def test_reassigning_a_lead_changes_now_but_not_then(teams, marketer, manager, seed) -> None:
    leads = _life(seed, marketer)
    filters = _all_filters(teams)
    then_before, now_before = _reports(filters, THEN), _reports(filters, NOW)
    cells_before = cells()
    # a manager moves owned leads to another team's rep, a marketer re-labels sources
    north, south = teams
    owned = list(Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=False))
    assert owned
    for lead in owned[::2]:
        other = south if lead.team_id == north.pk else north
        lead_assign(lead_id=lead.pk, owner=teams[other][1], team_id=other.pk)
    for lead in leads[::3]:
        lead_update(lead_id=lead.pk, data={"source": "partner"}, actor=marketer)
    assert _reports(filters, THEN) == then_before
    assert _reports(filters, NOW) != now_before
    assert cells() == cells_before == rebuilt()  # MetricDay holds the source then
    # the rebuild from the log (manage.py reports_rebuild) keeps the values then
    milestones_rebuild(batch=7)
    assert _reports(filters, THEN) == then_before
    # a reassigned lead that moves again is recorded with its new owner from then on
    moved = next(lead for lead in owned[::2] if Lead.objects.get(pk=lead.pk).stage == "sal")
    lead_recycle(
        lead_id=moved.pk, actor=manager, source="ui", reason="not ready", reason_code="no_decision"
    )
    moved.refresh_from_db()
    row = LeadMilestone.objects.get(lead=moved)
    assert (row.then_owner_id, row.then_team_id) == (moved.owner_id, moved.team_id)


def test_point_in_time_then_counts_a_lead_for_the_values_of_its_latest_change(
    teams, marketer
) -> None:
    north, south = teams
    lead = lead_create(
        data={"email": "pit@x.example", "source": "web", "country": "DE"}, actor=marketer
    )
    lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    lead.refresh_from_db()
    first = lead.owner
    assert first is not None
    StageChange.objects.filter(lead=lead).update(changed_at=timezone.now() - timedelta(days=8))
    stage_log_rewritten.send(sender=Lead, lead_ids=[lead.pk])  # as a path rewriting the log
    on = timezone.now() - timedelta(days=7)

    def stages(**kw: object) -> dict[str, int]:
        f = ReportFilters(on=on, **kw)  # type: ignore[arg-type]
        return {r["stage"]: r["leads"] for r in report_run(slug="point-in-time", filters=f).rows}

    # reassigned without moving: "then" keeps the rep it moved under, "now" follows the lead
    lead_assign(lead_id=lead.pk, owner=teams[south][0], team_id=south.pk)
    assert stages(owner_id=first.pk)["mql"] == 1
    assert stages(owner_id=teams[south][0].pk)["mql"] == 0
    assert stages(owner_id=first.pk, view=NOW)["mql"] == 0
    assert stages(owner_id=teams[south][0].pk, view=NOW)["mql"] == 1
    # once it moves under the South rep, its latest change is theirs (an MQL on the day still)
    lead_recycle(
        lead_id=lead.pk,
        actor=teams[south][0],
        source="ui",
        reason="not ready",
        reason_code="no_decision",
    )
    assert stages(owner_id=teams[south][0].pk)["mql"] == 1
    assert stages(owner_id=first.pk)["mql"] == 0


def test_the_view_is_a_filter_of_every_lead_report_and_bad_values_name_it(teams) -> None:
    form = ReportFilterForm({"view": "yesterday"})
    assert not form.is_valid()
    assert set(form.errors) == {"view"}
    form = ReportFilterForm({})
    assert form.is_valid()
    assert form.filters().view == THEN  # the default: rep and team performance as it was


@pytest.mark.django_db(transaction=True)
def test_the_backfill_takes_owners_from_the_assignment_history() -> None:
    """Migration handover 0006 + reports 0008 on a log written before changes had values."""
    before = [("handover", "0005_account_handover"), ("reports", "0007_rebuild_run")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    # only handover 0006 (data) and reports 0008 are undone: the other tables are as today,
    # and changes written without values are what the backfill finds
    rep1, rep2 = UserFactory(username="bf1"), UserFactory(username="bf2")
    team = Team.objects.create(name="BF")
    now = timezone.now()
    lead = Lead.objects.create(
        source="web", owner=rep2, team=team, stage="sal", stage_changed_at=now
    )
    never = Lead.objects.create(source="ads", owner=rep1, stage="lead", stage_changed_at=now)
    at = [now - timedelta(days=d) for d in (10, 9, 8, 5)]
    for frm, to, when in (("", "suspect", at[0]), ("suspect", "mql", at[1]), ("mql", "sal", at[3])):
        StageChange.objects.create(
            lead=lead, from_stage=frm, to_stage=to, actor_kind="system", source="api",
            changed_at=when,
        )  # fmt: skip
    StageChange.objects.create(
        lead=never, from_stage="", to_stage="lead", actor_kind="system", source="api",
        changed_at=at[0],
    )  # fmt: skip
    # handover's tables as they were then (later migrations added columns)
    handover = old.get_model("handover", "Handover").objects.create(
        lead_id=lead.pk, owner_id=rep2.pk, team_id=team.pk, status="accepted", opened_at=at[1]
    )
    assignment = old.get_model("handover", "HandoverAssignment")
    assignment.objects.create(handover_id=handover.pk, owner_id=rep1.pk, why="rule", at=at[1])
    assignment.objects.create(handover_id=handover.pk, owner_id=rep2.pk, why="manager", at=at[2])
    milestone = old.get_model("reports", "LeadMilestone")
    for x in (lead, never):
        milestone.objects.create(lead_id=x.pk, stage=x.stage, source=x.source)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    got = list(
        StageChange.objects.filter(lead_id=lead.pk)
        .order_by("changed_at")
        .values_list("to_stage", "owner_id", "team_id", "lead_source")
    )
    assert got == [
        ("suspect", rep2.pk, team.pk, "web"),  # before any assignment: the lead's values now
        ("mql", rep1.pk, team.pk, "web"),  # the rule's pick
        ("sal", rep2.pk, team.pk, "web"),  # after the manager's reassignment
    ]
    assert StageChange.objects.get(lead_id=never.pk).owner_id == rep1.pk
    rows = LeadMilestone.objects.order_by("lead_id")
    assert list(rows.values_list("then_owner_id", "then_team_id", "then_source")) == [
        (rep2.pk, team.pk, "web"),
        (rep1.pk, None, "ads"),
    ]


def test_a_bulk_move_records_the_assignments_it_made_in_one_update(teams, manager) -> None:
    """In a batch the values are settled once for the batch, before the rollup is refreshed."""
    from tests.bulk.test_batch_cost import run_move
    from tests.leads.factories import LeadFactory

    leads = [LeadFactory(stage="lead", country=c) for c in ("DE", "FR", "DE", "FR")]
    job, _queries = run_move(manager, leads)
    assert (job.status, job.applied) == ("done", 4)
    for lead in Lead.objects.filter(pk__in=[x.pk for x in leads]):
        assert lead.owner_id is not None
        mql = StageChange.objects.get(lead=lead, to_stage="mql")
        assert (mql.owner_id, mql.team_id) == (lead.owner_id, lead.team_id)
        row = LeadMilestone.objects.get(lead=lead)
        assert (row.then_owner_id, row.then_team_id) == (lead.owner_id, lead.team_id)
