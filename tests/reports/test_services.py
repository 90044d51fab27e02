from typing import Any

import pytest
from django.db import transaction

from leads.lifecycle import Stage
from leads.models import StageChange
from leads.services import lead_create, lead_mark_mql, lead_qualify, lead_recycle
from reports.models import LeadMilestone
from reports.services import COLUMNS, milestones_rebuild

pytestmark = pytest.mark.django_db


def snapshot() -> dict[int, tuple[Any, ...]]:
    return {
        row[0]: row
        for row in LeadMilestone.objects.order_by("lead_id").values_list(
            *["lead_id" if c == "lead_id" else c for c in COLUMNS]
        )
    }


def test_every_stage_change_refreshes_the_rollup_in_its_transaction(marketer) -> None:
    lead = lead_create(data={"email": "a@x.example", "source": "web"}, actor=marketer)
    row = LeadMilestone.objects.get(lead=lead)
    assert (row.stage, row.suspect_at, row.mql_at) == ("suspect", lead.stage_changed_at, None)
    lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
    mql = lead_mark_mql(lead_id=lead.pk, actor=marketer, source="ui").lead
    lead_recycle(lead_id=lead.pk, actor=marketer, source="ui", reason="not ready")
    row.refresh_from_db()
    assert row.mql_at == mql.stage_changed_at
    assert (row.stage, row.recycles) == (Stage.NURTURE, 1)
    assert row.secs_mql is not None
    assert row.secs_mql >= 0
    # the incremental rows equal a rebuild from the log
    before = snapshot()
    assert milestones_rebuild(batch=1) == 1
    assert snapshot() == before


def test_a_rolled_back_move_leaves_the_rollup_as_it_was(marketer) -> None:
    lead = lead_create(data={"email": "b@x.example"}, actor=marketer)

    def move_then_fail() -> None:
        with transaction.atomic():
            lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
            assert LeadMilestone.objects.get(lead=lead).stage == "lead"
            raise RuntimeError

    with pytest.raises(RuntimeError):
        move_then_fail()
    assert LeadMilestone.objects.get(lead=lead).stage == "suspect"
    assert StageChange.objects.filter(lead=lead).count() == 1


def test_rebuild_covers_rows_written_around_the_services(history) -> None:
    before = snapshot()
    LeadMilestone.objects.all().delete()
    assert milestones_rebuild(batch=2) == 5
    assert snapshot() == before


def test_lead_edits_reach_the_rollup_fields(marketer, manager) -> None:
    from leads.models import Team
    from leads.services import lead_assign, lead_update

    lead = lead_create(data={"email": "c@x.example", "source": "web"}, actor=marketer)
    lead_update(lead_id=lead.pk, data={"source": "ads", "utm_campaign": "spring"}, actor=marketer)
    team = Team.objects.create(name="East")
    lead_assign(lead_id=lead.pk, owner=manager, team_id=team.pk)
    row = LeadMilestone.objects.get(lead=lead)
    assert (row.source, row.utm_campaign, row.owner_id, row.team_id) == (
        "ads",
        "spring",
        manager.pk,
        team.pk,
    )


def test_a_bulk_path_that_moves_a_log_announces_it_and_the_rollup_follows(history) -> None:
    # what a merge does: re-point the duplicate's log to the survivor, then send the signal
    from leads.events import stage_log_rewritten
    from leads.models import Lead

    survivor, duplicate = history["D"], history["E"]
    StageChange.objects.filter(lead=duplicate).update(lead=survivor)
    stage_log_rewritten.send(sender=Lead, lead_ids=[survivor.pk, duplicate.pk])
    assert not LeadMilestone.objects.filter(lead=duplicate).exists()
    row = LeadMilestone.objects.get(lead=survivor)
    assert row.stage == "nurture"  # E's later history now belongs to D
    assert row.recycles == 1
