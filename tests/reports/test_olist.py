"""The real Olist marketing funnel: after import_olist the reports API agrees with pandas."""

from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from leads.models import Lead, StageChange
from reports.models import LeadMilestone
from reports.services import OLIST_DEALS_FILE, OLIST_MQL_FILE, metric_days_rebuild
from tests.reports.conftest import metric_day_cells

DATA = Path(settings.BASE_DIR).parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / OLIST_MQL_FILE).is_file() or not (DATA / OLIST_DEALS_FILE).is_file(),
    reason=f"the Olist CSVs are not in {DATA} (see shared/data/README.md)",
)


@pytest.fixture
def imported(db):
    call_command("import_olist", str(DATA))


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    mqls = pd.read_csv(DATA / OLIST_MQL_FILE, dtype=str, keep_default_na=False)
    deals = pd.read_csv(DATA / OLIST_DEALS_FILE, dtype=str, keep_default_na=False)
    mqls["origin"] = mqls["origin"].str.strip().replace("", "(none)")
    return mqls, deals


@pytest.fixture
def api(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client


@needs_data
def test_import_is_idempotent(imported) -> None:
    counts = (Lead.objects.count(), StageChange.objects.count(), LeadMilestone.objects.count())
    assert counts == (8000, 8000 * 3 + 842 * 3, 8000)
    assert Lead.objects.filter(stage="customer").count() == 842
    cells = metric_day_cells()
    assert (
        sum(n for (grain, metric, *_), (n, _) in cells.items() if (grain, metric) == ("m", "mql"))
        == 8000
    )
    call_command("import_olist", str(DATA))
    assert (
        Lead.objects.count(),
        StageChange.objects.count(),
        LeadMilestone.objects.count(),
    ) == counts
    assert metric_day_cells() == cells
    metric_days_rebuild()  # the import wrote its cells itself: a rebuild finds the same
    assert metric_day_cells() == cells
