"""The MetricDay rollup equals the direct computation, stays equal as the log changes, and the
day-histogram percentile rule keeps its one-day promise (definitions: docs/reports.md)."""

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, F, Sum
from django.db.models.functions import Floor, TruncMonth
from django.utils import timezone

from leads.events import stage_log_rewritten
from leads.models import Lead, StageChange, Team
from leads.services import (
    lead_create,
    lead_disqualify,
    lead_mark_mql,
    lead_mark_sal,
    lead_qualify,
    lead_recycle,
    lead_update,
)
from reports import selectors
from reports.aggregates import percentile as exact_percentile
from reports.filters import ReportFilterForm, ReportFilters
from reports.histograms import (
    COHORT,
    CYCLES,
    DAY,
    METRICS,
    RECYCLES,
    STAYS,
    Metric,
    percentile,
)
from reports.models import MetricDay
from reports.selectors import _milestones, histograms_rolled_up, report_run
from reports.services import metric_days_compact, metric_days_rebuild, milestones_refresh
from tests.reports.conftest import make_lead, t
from tests.reports.conftest import metric_day_cells as cells

pytestmark = pytest.mark.django_db


def rebuilt() -> dict[tuple[Any, ...], tuple[int, float]]:
    metric_days_rebuild()
    return cells()


def normal(hists: selectors.Hists) -> dict[Any, Any]:
    return {
        key: {code: sorted((d, n, round(s, 3)) for d, n, s in b) for code, b in h.items() if b}
        for key, h in hists.items()
    }


def histograms_direct(
    f: ReportFilters, metrics: Sequence[Metric], group: Sequence[str]
) -> selectors.Hists:
    """The oracle: each measure's day histogram straight from the per-lead rows, in SQL."""
    month = {"month": TruncMonth(F("_period"))} if "month" in group else {}
    out: selectors.Hists = defaultdict(lambda: defaultdict(list))
    for m in metrics:
        rows = (
            _milestones(f, m.period)
            .filter(m.direct_q())
            .annotate(_period=F(m.period), _v=m.direct_value())
            .values(*(g for g in group if g != "month"), **month, _days=Floor(F("_v") / DAY))
            .annotate(n=Count("pk"), s=Sum("_v"))
            .values_list(*group, "_days", "n", "s")
        )
        for *key, days, n, s in rows:
            if "month" in group:  # a local datetime here, a date in MetricDay
                key[0] = timezone.localtime(key[0]).date()
            out[tuple(key)][m.code].append((int(days), n, s))
    return out


def filters(**params: str) -> ReportFilters:
    form = ReportFilterForm(params)
    assert form.is_valid(), form.errors
    return form.filters()


def random_history(rng: random.Random, name: str, source: str) -> Lead:
    """A lifecycle-shaped random walk with recycles and repeated stays, times to the second."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(90 * 86400))
    stage, steps = "suspect", [("suspect", at)]
    nxt = {"suspect": "lead", "lead": "mql", "mql": "sal", "sal": "sql", "sql": "customer"}
    for _ in range(rng.randrange(1, 9)):
        at += timedelta(seconds=rng.randrange(0, 40 * 86400))
        if stage == "nurture":
            stage = "mql"
        elif stage in nxt and rng.random() < 0.7:
            stage = nxt[stage]
        elif stage in nxt:
            stage = rng.choice(("nurture", "disqualified"))
        else:
            break
        steps.append((stage, at))
    return make_lead(name, source, None, steps, industry=rng.choice(("Retail", "Software")))


@pytest.fixture
def many(db) -> list[Lead]:
    rng = random.Random(7)
    leads = [random_history(rng, f"r{i}", rng.choice(("web", "ads", ""))) for i in range(60)]
    milestones_refresh(lead_ids=[lead.pk for lead in leads])
    return leads


CASES: tuple[dict[str, str], ...] = (
    {},
    {"date_from": "2026-02-01", "date_to": "2026-03-15"},
    {"date_from": "2026-01-20", "date_to": "2026-03-31"},  # ragged start, whole months after
    {"date_from": "2026-02-03", "date_to": "2026-02-24"},  # inside one month
    {"date_from": "2026-01-31", "date_to": "2026-02-01"},  # two days across a month end
    {"source": "ads"},
    {"date_from": "2026-01-10", "source": "web"},
    {"date_to": "2026-02-28", "source": ""},
)


@pytest.mark.parametrize("params", CASES)
@pytest.mark.parametrize("group", [(), ("month",), ("source",), ("month", "source")])
def test_rolled_up_histograms_equal_the_direct_ones(many, params, group) -> None:
    f = filters(**params)
    assert selectors.metric_days_answer(f)
    rolled = normal(histograms_rolled_up(f, METRICS, group))
    assert rolled  # the cases are not empty
    assert rolled == normal(histograms_direct(f, METRICS, group))


def test_days_and_months_are_the_site_time_zone_s(many, settings) -> None:
    from django.utils import timezone

    in_utc = rebuilt()
    settings.TIME_ZONE = "America/Sao_Paulo"  # UTC-3: a lead at 01:00 UTC is the day before
    # whoever's zone the rebuild runs in (a request activates its reader's): the site's days
    with timezone.override("Asia/Tokyo"):
        metric_days_rebuild()
    for params in ({}, {"date_from": "2026-02-01", "date_to": "2026-02-28"}):
        f = filters(**params)
        rolled = normal(histograms_rolled_up(f, METRICS, ("month", "source")))
        assert rolled == normal(histograms_direct(f, METRICS, ("month", "source")))
    assert cells() != in_utc


def test_incremental_cells_equal_a_rebuild_through_every_write_path(marketer, rep, manager) -> None:
    web = lead_create(data={"email": "m1@x.example", "source": "web"}, actor=marketer)
    ads = lead_create(data={"email": "m2@x.example", "source": "ads"}, actor=marketer)
    for lead in (web, ads):
        lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
        lead_mark_mql(lead_id=lead.pk, actor=marketer, source="ui")
    lead_mark_sal(lead_id=web.pk, actor=rep, source="ui")
    lead_recycle(
        lead_id=ads.pk, actor=marketer, source="ui", reason="not ready", reason_code="no_decision"
    )
    lead_mark_mql(lead_id=ads.pk, actor=marketer, source="ui")
    lead_disqualify(
        lead_id=ads.pk, actor=rep, source="ui", reason="no budget", reason_code="wrong_industry"
    )
    assert cells()
    assert cells() == rebuilt()
    # cells hold the source as it was when the lead last moved: an edit leaves them, the
    # lead's next move takes the new source
    lead_update(lead_id=web.pk, data={"source": "event"}, actor=marketer)
    lead_update(lead_id=ads.pk, data={"industry": "Retail"}, actor=marketer)
    assert {c[3] for c in cells()} == {"web", "ads"}
    assert cells() == rebuilt()
    lead_recycle(
        lead_id=web.pk, actor=rep, source="ui", reason="not ready", reason_code="no_decision"
    )
    assert {c[3] for c in cells()} == {"event", "ads"}
    assert cells() == rebuilt()
    # a deleted lead takes its cells with it
    Lead.objects.filter(pk=ads.pk).delete()
    assert {c[3] for c in cells()} == {"event"}
    assert cells() == rebuilt()
    # and the whole rebuild from the log (manage.py reports_rebuild) gives the same cells
    before = cells()
    MetricDay.objects.all().delete()
    call_command("reports_rebuild", batch=1, stdout=StringIO())
    assert cells() == before


def test_compaction_folds_each_cells_deltas_into_one_row_and_keeps_the_sums(marketer) -> None:
    for n in range(3):  # the same cells again and again, some netting to no lead
        lead = lead_create(data={"email": f"c{n}@x.example", "source": "web"}, actor=marketer)
        lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
        lead_mark_mql(lead_id=lead.pk, actor=marketer, source="ui")
        lead_recycle(
            lead_id=lead.pk,
            actor=marketer,
            source="ui",
            reason="not ready",
            reason_code="no_decision",
        )
        lead_mark_mql(lead_id=lead.pk, actor=marketer, source="ui")
    before = cells()
    rows = MetricDay.objects.count()
    assert rows > len(before)  # several delta rows per cell, and cells summing to none
    assert metric_days_compact() == rows - len(before)
    assert cells() == before
    assert MetricDay.objects.count() == len(before)  # one row per cell, none empty
    assert metric_days_compact() == 0
    assert cells() == rebuilt()


def test_a_rewritten_log_moves_the_cells(history) -> None:
    before = cells()
    survivor, duplicate = history["D"], history["E"]
    StageChange.objects.filter(lead=duplicate).update(lead=survivor)
    stage_log_rewritten.send(sender=Lead, lead_ids=[survivor.pk, duplicate.pk])
    after = cells()
    assert after != before
    assert after == rebuilt()


def test_a_merge_moves_the_duplicates_cells_to_the_survivor(marketer, admin_user) -> None:
    from privacy.merge import lead_merge

    web = lead_create(data={"email": "s@x.example", "source": "web"}, actor=marketer)
    ads = lead_create(data={"email": "d@x.example", "source": "ads"}, actor=marketer)
    for lead in (web, ads):
        lead_qualify(lead_id=lead.pk, actor=marketer, source="ui")
    lead_mark_mql(lead_id=ads.pk, actor=marketer, source="ui")
    assert {c[3] for c in cells()} == {"web", "ads"}
    lead_merge(survivor_id=web.pk, duplicate_id=ads.pk, actor=admin_user)
    # the duplicate's log is the survivor's now, with the source each change recorded: the
    # latest move (to MQL) was made as "ads"
    assert {c[3] for c in cells()} == {"ads"}
    assert cells() == rebuilt()


def test_a_rolled_back_move_leaves_the_cells_as_they_were(history, marketer) -> None:
    from django.db import transaction

    before = cells()

    def move_then_fail() -> None:
        with transaction.atomic():
            lead_mark_mql(lead_id=history["D"].pk, actor=marketer, source="ui")
            assert cells() != before
            raise RuntimeError

    with pytest.raises(RuntimeError):
        move_then_fail()
    assert cells() == before


def test_the_day_histogram_percentile_is_within_a_day_and_exact_for_lone_values() -> None:
    rng = random.Random(3)
    for _ in range(200):
        values = sorted(rng.uniform(-2, 30) * DAY for _ in range(rng.randrange(1, 40)))
        buckets: dict[int, list[float]] = {}
        for v in values:
            b = buckets.setdefault(int(v // DAY), [0, 0.0])
            b[0] += 1
            b[1] += v
        hist = [(d, int(n), s) for d, (n, s) in buckets.items()]
        for fraction in (0.5, 0.75, 0.9):
            got, exact = percentile(hist, fraction), exact_percentile(values, fraction)
            assert got is not None
            assert exact is not None
            assert abs(got - exact) < DAY
            if all(n == 1 for _, n, _ in hist):
                assert got == pytest.approx(exact)
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("slug", ["cohort", "velocity", "recycles"])
@pytest.mark.parametrize("params", CASES[:6])
def test_reports_from_the_rollup_equal_the_per_lead_path(many, monkeypatch, slug, params) -> None:
    """Small populations: MetricDay's counts and the exact percentiles, as the per-lead path."""
    extra = {"cohort_by": "month_source"} if slug == "cohort" else {}
    f = filters(**params, **extra)
    assert selectors.metric_days_answer(f)
    rolled = report_run(slug=slug, filters=f).rows
    monkeypatch.setattr(selectors, "metric_days_answer", lambda f, group=(): False)
    assert rolled == report_run(slug=slug, filters=f).rows


def test_small_populations_are_exact_and_large_ones_within_a_day(many, monkeypatch) -> None:
    f = filters()
    exact = {r["metric"]: r for r in report_run(slug="velocity", filters=f).rows}
    monkeypatch.setattr(selectors, "EXACT_LIMIT", 0)
    approx = {r["metric"]: r for r in report_run(slug="velocity", filters=f).rows}
    assert exact.keys() == approx.keys()
    differ = 0
    for metric, row in exact.items():
        assert row["n"] == approx[metric]["n"]
        for col in ("p50_days", "p75_days", "p90_days"):
            if row[col] is None:
                assert approx[metric][col] is None
                continue
            assert abs(row[col] - approx[metric][col]) < 1
            differ += row[col] != approx[metric][col]
    assert differ  # the random times (to the second) do share day buckets


def test_owner_team_industry_and_part_days_read_the_per_lead_rollup(many) -> None:
    team = Team.objects.create(name="North")
    assert not selectors.metric_days_answer(filters(industry="Retail"))
    assert not selectors.metric_days_answer(filters(team=str(team.pk)))
    part_day = ReportFilters(start=t(2, 1, 12))
    assert not selectors.metric_days_answer(part_day)
    # the answers are the per-lead ones: MetricDay does not even need to exist
    expected = report_run(slug="cohort", filters=filters(industry="Retail")).rows
    MetricDay.objects.all().delete()
    assert report_run(slug="cohort", filters=filters(industry="Retail")).rows == expected
    assert report_run(slug="velocity", filters=part_day).rows[0]["n"] > 0


def test_metric_definitions_cover_every_report_metric() -> None:
    codes = [m.code for m in METRICS]
    assert len(codes) == len(set(codes))
    assert {m.code for m in (*COHORT, *STAYS, *CYCLES, *RECYCLES)} == set(codes)


@pytest.mark.parametrize("on", ["2026-01-15", "2026-02-20", "2026-04-30"])
def test_filtered_point_in_time_equals_each_leads_last_entry(many, on) -> None:
    """Per source (rollup + a log step per moved lead) equals each lead's last log entry before
    the day's end, read naively; with the leads without a source it sums to the unfiltered
    count (log entries minus exits)."""
    day = filters(on=on).on
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    for lead in many:
        log = [c for c in lead.stage_changes.order_by("changed_at", "id") if c.changed_at < day]
        if log:
            by_source[lead.source][log[-1].to_stage] += 1

    def counts(**params: str) -> Counter[str]:
        rows = report_run(slug="point-in-time", filters=filters(on=on, **params)).rows
        return Counter({r["stage"]: r["leads"] for r in rows if r["leads"]})

    assert counts(source="web") == by_source["web"]
    assert counts(source="ads") == by_source["ads"]
    assert sum(by_source.values(), Counter()) == counts()
