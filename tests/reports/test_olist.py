"""The real Olist marketing funnel: after import_olist the reports API agrees with pandas."""

from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from leads.models import Lead, StageChange
from reports.models import LeadMilestone, MetricDay
from reports.services import OLIST_DEALS_FILE, OLIST_MQL_FILE, metric_days_rebuild

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
        sum(n for (grain, metric, *_), n in cells.items() if (grain, metric) == ("m", "mql"))
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


def metric_day_cells() -> dict[tuple[object, ...], int]:
    return {(c.grain, c.metric, c.day, c.source, c.days): c.leads for c in MetricDay.objects.all()}


@needs_data
def test_mql_to_customer_by_origin_agrees_with_pandas(imported, frames, api) -> None:
    mqls, deals = frames
    mqls["won"] = mqls["mql_id"].isin(deals["mql_id"])
    expected = mqls.groupby("origin")["won"].agg(["size", "sum"])
    body = api.get("/api/v1/reports/sources/", {"sources_by": "source"}).json()
    got = {r["key"]: r for r in body["rows"]}
    assert set(got) == set(expected.index)
    for origin, row in expected.iterrows():
        assert got[origin]["mqls"] == row["size"]
        assert got[origin]["customers"] == row["sum"]
        assert got[origin]["mql_to_customer_rate"] == round(row["sum"] / row["size"], 4)
    cohort = api.get("/api/v1/reports/cohort/", {"cohort_by": "source"}).json()
    rates = {r["source"]: r["mql_to_customer_rate"] for r in cohort["rows"]}
    assert rates == {o: round(r["sum"] / r["size"], 4) for o, r in expected.iterrows()}


@needs_data
def test_median_days_first_contact_to_won_agrees_with_pandas(imported, frames, api) -> None:
    mqls, deals = frames
    joined = deals.merge(mqls, on="mql_id")
    days = (
        pd.to_datetime(joined["won_date"]) - pd.to_datetime(joined["first_contact_date"])
    ).dt.total_seconds() / 86400
    body = api.get("/api/v1/reports/velocity/").json()
    cycle = next(r for r in body["rows"] if r["metric"] == "cycle_mql_customer")
    assert cycle["n"] == 842
    # one deal was won before its first contact: its MQL is reached (at least) when it was won,
    # so it counts 0 days, not negative — below the median either way
    assert cycle["p50_days"] == round(days.median(), 4)
    assert cycle["p90_days"] == round(days.quantile(0.9), 4)


@needs_data
def test_deals_by_segment_agree_with_pandas(imported, frames, api) -> None:
    _, deals = frames
    segment = deals["business_segment"].str.strip().replace("", "(none)")
    expected = segment.value_counts().to_dict()
    body = api.get("/api/v1/reports/sources/", {"sources_by": "industry"}).json()
    got = {r["key"]: r["customers"] for r in body["rows"] if r["customers"]}
    assert got == expected


def test_missing_files_and_columns_are_named(tmp_path, db) -> None:
    with pytest.raises(CommandError, match=OLIST_MQL_FILE):
        call_command("import_olist", str(tmp_path))
    (tmp_path / OLIST_MQL_FILE).write_text("mql_id,first_contact_date,origin\n")
    (tmp_path / OLIST_DEALS_FILE).write_text("mql_id\n")
    with pytest.raises(CommandError, match="landing_page_id"):
        call_command("import_olist", str(tmp_path))
    assert Lead.objects.count() == 0


def test_bad_date_rolls_back_everything(tmp_path, db) -> None:
    (tmp_path / OLIST_MQL_FILE).write_text(
        "mql_id,first_contact_date,landing_page_id,origin\n"
        "a1,2018-01-02,p,social\n"
        "a2,not-a-date,p,social\n"
    )
    (tmp_path / OLIST_DEALS_FILE).write_text(
        "mql_id,seller_id,sdr_id,sr_id,won_date,business_segment,lead_type,"
        "lead_behaviour_profile,business_type,declared_monthly_revenue\n"
    )
    with pytest.raises(CommandError, match="line 3"):
        call_command("import_olist", str(tmp_path))
    assert Lead.objects.count() == 0
