"""``generate_data`` leaves tables the planner knows: it ANALYZEs what it filled."""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from leads.models import Lead


@pytest.mark.postgres
@pytest.mark.django_db
def test_generate_data_analyzes_the_tables_it_fills():
    call_command(
        "generate_data",
        leads=300,
        activities_per_lead=2,
        anchor=datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        stdout=io.StringIO(),
    )
    assert Lead.objects.count() == 300
    with connection.cursor() as cursor:
        # reltuples is what ANALYZE (or VACUUM) found; COPY alone leaves the empty table's figure
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
            [["leads_lead", "leads_stagechange", "leads_activity", "leads_rescoremark"]],
        )
        found = dict(cursor.fetchall())
    assert found["leads_lead"] == 300
    assert found["leads_rescoremark"] == 300
    assert found["leads_stagechange"] >= 300
    assert found["leads_activity"] > 0
