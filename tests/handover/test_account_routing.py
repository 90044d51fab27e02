"""Lead-to-account routing: an owned account's new lead goes to the account owner first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from companies.models import Membership
from companies.services import account_create, member_link
from handover.models import Handover, HandoverAssignment, OutOfOffice
from leads.models import Team
from tests.handover.factories import rule
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def _owned(owner, team=None):
    return account_create(
        data={"name": "Acme", "domains": ["acme.example"], "owner": owner.pk,
              "team": team.pk if team else None},
        actor=None,
    )  # fmt: skip


def _mql_at(make_mql, account, **fields):
    """A lead of ``account`` (linked before it becomes an MQL, as matching does at creation)."""
    from leads.lifecycle import Stage
    from leads.services import lead_mark_mql

    lead = LeadFactory(stage=Stage.LEAD, **fields)
    member_link(lead_id=lead.pk, account_id=account.pk, source=Membership.Source.EXPLICIT)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    return Handover.objects.get(lead=lead)


def test_a_lead_of_an_owned_account_goes_to_its_owner_before_the_rotation(make_mql, reps, team):
    rule("rr", team=team, members=reps[:2])
    account = _owned(reps[2])
    assert _mql_at(make_mql, account).owner == reps[2]
    assert (
        Handover.objects.get(lead=make_mql()).owner == reps[0]
    )  # no account: the rotation, unchanged
    why = HandoverAssignment.objects.filter(owner=reps[2]).get().why
    assert "Acme" in why, why


def test_the_owner_away_sends_it_to_the_accounts_team_queue(make_mql, reps, team, manager):
    other = Team.objects.create(name="Key accounts", manager=manager)
    rule("rr", team=team, members=reps[:2])
    account = _owned(reps[2], team=other)
    now = timezone.now()
    OutOfOffice.objects.create(
        user=reps[2], starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1)
    )
    handover = _mql_at(make_mql, account)
    assert handover.owner is None
    assert handover.team == other


def test_a_rule_can_turn_account_routing_off(make_mql, reps, team):
    rule("rr", team=team, members=reps[:2], account_owner_first=False)
    account = _owned(reps[2])
    assert _mql_at(make_mql, account).owner == reps[0]
