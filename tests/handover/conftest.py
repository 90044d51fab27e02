import pytest

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Team
from leads.services import lead_mark_mql
from tests.leads.factories import LeadFactory, UserFactory


@pytest.fixture
def team(db, manager):
    return Team.objects.create(name="Inside", manager=manager)


@pytest.fixture
def reps(db, team):
    users = [UserFactory(username=f"rep{i}", role=Role.SALES_REP) for i in range(1, 4)]
    team.members.add(*users)
    return users


@pytest.fixture
def make_mql(db):
    """A lead moved to MQL through the lifecycle service (as scoring would)."""

    def make(**fields):
        lead = LeadFactory(stage=Stage.LEAD, **fields)
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        lead.refresh_from_db()
        return lead

    return make
