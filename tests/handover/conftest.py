import importlib

import pytest
from django.apps import apps

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Team
from leads.services import lead_mark_mql
from tests.leads.factories import LeadFactory, UserFactory

_defaults = importlib.import_module("handover.migrations.0002_defaults")


@pytest.fixture(autouse=True)
def _handover_defaults(request):
    """The rejection reasons, qualification frameworks and SLA policies every install gets come
    from a data migration, and a transactional test that ran earlier in the session (there are
    some in tests/leads) flushed them. Seed them again, idempotently, for tests here that use
    the database: `pytest tests/leads tests/handover` failed without this."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        used = {"db", "transactional_db"} & set(request.fixturenames)
        if not used:
            return
        request.getfixturevalue("transactional_db" if "transactional_db" in used else "db")
    _defaults.forwards(apps, None)


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
