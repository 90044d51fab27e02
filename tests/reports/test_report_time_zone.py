"""Reports count days in the site's time zone, whoever reads them (issue 21, docs/i18n.md): a
lead that entered at 23:30 UTC on a UTC site is that day's, also for a reader in Budapest, for
whom it was 00:30 the next day. The page, the API and the CSV agree."""

import csv
import io
from datetime import UTC, datetime

import pytest

from leadflow.models import User
from reports.services import milestones_refresh
from tests.reports.conftest import make_lead

pytestmark = pytest.mark.django_db

LATE = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)


def _suspects(client, day: str) -> dict[str, int]:
    """Leads that entered as suspects on ``day``, by the API and by the page's CSV export."""
    params = {"date_from": day, "date_to": day}
    api = client.get("/api/v1/reports/funnel/", params).json()
    columns = [c["key"] for c in api["columns"]]
    export = client.get("/reports/funnel/export.csv", params)
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert client.get("/reports/funnel/", params).status_code == 200
    suspect = next(r for r in api["rows"] if r["stage"] == "suspect")
    return {"api": suspect["leads"], "csv": int(rows[1][columns.index("leads")])}


def test_a_late_utc_entry_is_the_site_days_for_a_reader_in_budapest(client, manager, settings):
    settings.TIME_ZONE = "UTC"
    lead = make_lead("Zqv", "web", None, [("suspect", LATE)])
    milestones_refresh(lead_ids=[lead.pk])
    User.objects.filter(pk=manager.pk).update(time_zone="Europe/Budapest")
    client.force_login(manager)
    on_the_4th = _suspects(client, "2026-03-04")
    on_the_5th = _suspects(client, "2026-03-05")
    assert (on_the_4th["api"], on_the_4th["csv"]) == (1, 1)
    assert (on_the_5th["api"], on_the_5th["csv"]) == (0, 0)


def test_a_site_in_budapest_counts_the_same_entry_on_the_5th(client, manager, settings):
    settings.TIME_ZONE = "Europe/Budapest"
    lead = make_lead("Zqv", "web", None, [("suspect", LATE)])
    milestones_refresh(lead_ids=[lead.pk])
    client.force_login(manager)
    assert _suspects(client, "2026-03-04")["api"] == 0
    assert _suspects(client, "2026-03-05")["api"] == 1
