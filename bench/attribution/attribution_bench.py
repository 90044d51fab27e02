"""Attribution benchmark: the report from the rollup against computing it straight from the
activities and the stage log, and what keeping the rollup costs per stage change and activity.

    createdb -h 127.0.0.1 -U postgres lf_bench_attr
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_attr
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py generate_data --leads 1085000 --activities-per-lead 10 --seed 7 \
        --anchor 2026-11-01T00:00:00+00:00 --chunk 50000 --reopen 0.95 --companies 110000
    .venv/bin/python manage.py attribution_rebuild         # COPY bypassed the marks; timed
    psql -h 127.0.0.1 -U postgres lf_bench_attr -c "VACUUM ANALYZE"
    .venv/bin/python bench/attribution/attribution_bench.py [--runs 5] [--refresh 2000]

Report cases: ``--runs`` timed runs after one warm-up, every run printed. The baseline ("from
the activities"), in the same run: the same figures computed without the rollup — every lead
that reached the outcome in the period, its activities, stage log and touches read and shared
out by the same code (attribution.services.lead_facts / lead_credits), summed per channel.

Refresh cases (``--refresh`` N): N leads get one new e-mail click each through the real ingest
path, N others move Lead → MQL through the lifecycle service (a handover opens); half of each
without attribution's receivers (the writer's cost without a mark: the baseline), half with, then
the sweep refreshes the marked ones. Rolled back at the end: the data set is left as it was.
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from datetime import timedelta  # noqa: E402

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from attribution import receivers as attribution_receivers  # noqa: E402
from attribution import services  # noqa: E402
from attribution.channels import Grouping  # noqa: E402
from attribution.credit import MODEL_NAMES  # noqa: E402
from attribution.models import Outcome  # noqa: E402
from attribution.services import REACHED  # noqa: E402
from leads import events  # noqa: E402
from leads.ingest import ACTIVITY, Message, ingest  # noqa: E402
from leads.lifecycle import Stage  # noqa: E402
from leads.models import ActivityKind, Lead, StageChange  # noqa: E402
from leads.services import lead_move  # noqa: E402
from reports.filters import ReportFilterForm  # noqa: E402
from reports.selectors import report_run  # noqa: E402


def report(params: dict[str, str]) -> Any:
    form = ReportFilterForm(params)
    assert form.is_valid(), form.errors  # noqa: S101
    return report_run(slug="attribution", filters=form.filters())


def from_activities(outcome: str, since_days: int | None) -> dict[str, list[int]]:
    """The baseline: credits per channel computed from the logs, no rollup."""
    stages = REACHED[Outcome(outcome)]
    leads = StageChange.objects.filter(to_stage__in=stages)
    if since_days is not None:
        leads = leads.filter(changed_at__gte=timezone.now() - timedelta(days=since_days))
    ids = sorted(set(leads.values_list("lead_id", flat=True)))
    grouping = Grouping()
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(MODEL_NAMES))
    half_life = services.half_life_days()
    for start in range(0, len(ids), 5000):
        facts = services.lead_facts(ids[start : start + 5000])
        for lead in facts.values():
            for (o, _day, *tags), vector in services.lead_credits(
                lead, half_life_days=half_life
            ).items():
                if o == outcome:
                    sums = out[grouping.channel(tuple(tags))]  # type: ignore[arg-type]
                    for i in range(len(MODEL_NAMES)):
                        sums[i] += vector[i]
    return out


def timed(fn: Callable[[], Any], runs: int, warm: bool = True) -> list[float]:
    if warm:
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@contextmanager
def unmarked() -> Iterator[None]:
    """The writers without attribution's receivers: the like-for-like baseline of their cost."""
    receivers = (
        (events.activities_recorded, attribution_receivers.on_leads_changed, "activities_recorded"),
        (events.stage_changed, attribution_receivers.on_stage_changed, "stage_changed"),
    )
    for signal, _receiver, name in receivers:
        signal.disconnect(dispatch_uid=f"attribution.on_{name}")
    try:
        yield
    finally:
        for signal, receiver, name in receivers:
            signal.connect(receiver, dispatch_uid=f"attribution.on_{name}")


def _clicks(leads: list[tuple[int, str]], now: Any, tag: str) -> float:
    messages = [
        Message(index=i, type=ACTIVITY, message_id=f"bench-attr-{tag}-{now:%s}-{pk}", lead_id=pk,
                kind=ActivityKind.EMAIL_CLICK, name="Email Link Clicked", occurred_at=now,
                properties={"campaign": "bench"})
        for i, (pk, _stage) in enumerate(leads)
    ]  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(messages), 500):
        ingest(messages=messages[start : start + 500], source="bench", now=now)
    return time.perf_counter() - started


def _moves(leads: list[tuple[int, str]]) -> float:
    started = time.perf_counter()
    for pk, _stage in leads:
        lead_move(lead_id=pk, to=Stage.MQL, actor=None, source=StageChange.Source.SYSTEM)
    return time.perf_counter() - started


def refresh_costs(n: int) -> None:
    """Half the leads written without the marks (baseline), half with, then the sweep of the
    marked ones: per e-mail click ingested and per stage move. All rolled back."""
    now = timezone.now()
    ids = list(
        Lead.objects.filter(stage=Stage.LEAD).order_by("?").values_list("pk", "stage")[: 2 * n]
    )
    half = n // 2
    with transaction.atomic():
        sid = transaction.savepoint()
        for what, write, leads in (
            ("e-mail click ingested", partial(_clicks, now=now, tag="c"), ids[:n]),
            ("stage move (lifecycle service)", _moves, ids[n:]),
        ):
            with unmarked():
                plain = write(leads[:half])
            marked = write(leads[half:])
            started = time.perf_counter()
            swept = services.refresh_marked()
            sweep = time.perf_counter() - started
            print(
                f"| {what} | {plain * 1000 / half:.2f} | {marked * 1000 / (n - half):.2f} | "
                f"{sweep * 1000 / max(swept.leads, 1):.2f} ({swept.leads:,} leads, "
                f"{swept.batches} batches) |"
            )
        transaction.savepoint_rollback(sid)
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=1)
    parser.add_argument("--refresh", type=int, default=2000)
    args = parser.parse_args()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM leads_lead), (SELECT count(*) FROM leads_activity),"
            " (SELECT count(*) FROM leads_stagechange), (SELECT count(*) FROM attribution_touch),"
            " (SELECT count(*) FROM attribution_leadcredit),"
            " (SELECT count(*) FROM attribution_creditday)"
        )
        leads, activities, changes, touches, credits, days = cur.fetchone()
    print(
        f"{leads:,} leads, {activities:,} activities, {changes:,} stage changes; {touches:,} "
        f"touches, {credits:,} lead credits, {days:,} rollup rows; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    since = (timezone.localdate() - timedelta(days=90)).isoformat()
    cases: dict[str, Callable[[], Any]] = {}
    for outcome in ("mql", "sql", "customer", "revenue"):
        for by in ("channel", "campaign", "channel_campaign"):
            cases[f"{outcome} by {by}, all time"] = partial(
                report, {"outcome": outcome, "attribution_by": by}
            )
        cases[f"{outcome} by channel, last 90 days"] = partial(
            report, {"outcome": outcome, "date_from": since}
        )
    print("\n| case | median ms | every run (ms) |\n|---|---|---|")
    medians = {}
    for label, fn in cases.items():
        samples = timed(fn, args.runs)
        medians[label] = statistics.median(samples)
        runs = ", ".join(f"{s:,.0f}" for s in samples)
        print(f"| {label} | {medians[label]:,.0f} | {runs} |")
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print("| baseline: from the activities | ms (every run) | ÷ the rollup's |\n|---|---|---|")
    for outcome, days in (("customer", 90), ("customer", None), ("sql", 90), ("mql", 90)):
        samples = timed(partial(from_activities, outcome, days), args.baseline_runs, warm=False)
        label = f"{'revenue' if outcome == 'customer' else outcome} by channel, " + (
            f"last {days} days" if days else "all time"
        )
        ratio = statistics.median(samples) / medians[label]
        print(f"| {label} | {', '.join(f'{s:,.0f}' for s in samples)} | {ratio:,.0f}× |")
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print(
        "| per lead | writer, no mark (ms) | writer with the mark (ms) | sweep (ms per lead) |"
        "\n|---|---|---|---|"
    )
    refresh_costs(args.refresh)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
