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


@needs_data
def test_attribution_by_origin_equals_the_csvs(imported, frames, api) -> None:
    """Won counts and revenue per origin, first touch and last touch, as pandas tallies them
    from the two CSVs: each Olist lead has one touch (its origin), so both models credit it."""
    mqls, deals = frames
    won = deals.merge(mqls[["mql_id", "origin"]], on="mql_id")
    won["revenue"] = pd.to_numeric(won["declared_monthly_revenue"].replace("", "0"))
    expected_counts = won.groupby("origin").size().to_dict()
    expected_revenue = won.groupby("origin")["revenue"].sum().round(2).to_dict()
    params = {"attribution_by": "source", "models": "first,last"}
    counts = api.get("/api/v1/reports/attribution/", {**params, "outcome": "customer"}).json()
    revenue = api.get("/api/v1/reports/attribution/", {**params, "outcome": "revenue"}).json()
    for model in ("first", "last"):
        assert {r["group"]: r[model] for r in counts["rows"]} == {
            k: float(v) for k, v in expected_counts.items()
        }
        assert {r["group"]: r[model] for r in revenue["rows"] if r[model]} == {
            k: v for k, v in expected_revenue.items() if v
        }
    mql = api.get("/api/v1/reports/attribution/", {**params, "outcome": "mql"}).json()
    assert {r["group"]: r["first"] for r in mql["rows"]} == {
        k: float(v) for k, v in mqls.groupby("origin").size().to_dict().items()
    }
