"""Scoring benchmarks on PostgreSQL (docs/benchmarks.md, "Scoring engine").

Measured in one run, so the ratios hold on a noisy machine:

1. reference floor: one set-based aggregate over the same activities (kind points, 30-day
   half-life) plus 3 fit fields, written back with one UPDATE (rolled back), and the same
   aggregate read only;
2. full rescore with the default model (11 rules, window/caps/decay/inactivity/fit), batch by
   batch as the publish/decay runs do it: first pass (every row written), second pass (as a
   daily decay pass: only changed rows written);
3. incremental: 10,000 marked leads rescored by one sweep, once as marked (scores unchanged:
   nothing to write) and once after one new activity each (every score and breakdown written);
4. baseline: the naive per-lead ORM loop over the same 10,000 leads.

Thresholds are set out of reach for 1-4, so they measure the engine; lifecycle moves are
per-lead service calls (with handover) measured by the latency run (``--latency``).
"""

import argparse
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import rescore_loop  # noqa: E402
from bench.openloop import latencies_from, percentile, verdict  # noqa: E402
from leads.models import Activity, ActivityKind, Lead, RescoreMark, StageChange  # noqa: E402
from leads.services import leads_mark_for_rescore  # noqa: E402
from scoring import engine, services  # noqa: E402
from scoring import rules as r  # noqa: E402
from scoring.management.commands.seed_scoring_demo import MODEL, RULES  # noqa: E402
from scoring.models import LeadScore, ScoringModel, ScoringRun, SweepRequest  # noqa: E402

T = TypeVar("T")
BENCH = "bench-incremental"  # the source of the activities the incremental run adds
UNREACHABLE = 10**6
FIT = """(CASE WHEN l.industry IN ('Software', 'Healthcare') THEN 10 ELSE 0 END
        + CASE WHEN l.company_size IN ('201-1000', '1001-5000', '5001+') THEN 10 ELSE 0 END
        + CASE WHEN l.seniority IN ('director', 'vp', 'cxo') THEN 10 ELSE 0 END)"""
REFERENCE = f"""
UPDATE leads_lead l SET engagement_score = a.s, fit_score = {FIT}, score = a.s + {FIT}
FROM (
  SELECT lead_id, floor(sum(CASE kind WHEN 'page_view' THEN 2 WHEN 'webinar' THEN 15
         WHEN 'download' THEN 10 WHEN 'email_click' THEN 5 WHEN 'unsubscribe' THEN -30
         ELSE 1 END * power(0.5, date_part('epoch', %(now)s - occurred_at) / 86400.0 / 30))
         + 0.5)::int AS s
  FROM leads_activity WHERE occurred_at <= %(now)s GROUP BY lead_id) a
WHERE l.id = a.lead_id
"""  # noqa: S608
READ_ONLY = """
SELECT count(*), sum(s) FROM (
  SELECT lead_id, floor(sum(CASE kind WHEN 'page_view' THEN 2 WHEN 'webinar' THEN 15
         WHEN 'download' THEN 10 WHEN 'email_click' THEN 5 WHEN 'unsubscribe' THEN -30
         ELSE 1 END * power(0.5, date_part('epoch', %(now)s - occurred_at) / 86400.0 / 30))
         + 0.5)::int AS s
  FROM leads_activity WHERE occurred_at <= %(now)s GROUP BY lead_id) a
"""


def publish(
    name: str, scale: int = 1, extra: Sequence[Mapping[str, Any]] = (), **settings: object
) -> ScoringModel:
    """A fresh published version of the default model (points × ``scale``) plus the ``extra``
    rules; its rescore run is not executed."""
    with transaction.atomic():
        model = services.model_create(data={**MODEL, "name": name, **settings})
        for rule in RULES:
            services.rule_create(model_id=model.pk, data={**rule, "points": rule["points"] * scale})
        for more in extra:
            services.rule_create(model_id=model.pk, data=more)
        run = services.model_publish(model_id=model.pk)
        ScoringRun.objects.filter(pk=run.pk).update(status="failed", error="bench: run by hand")
    model.refresh_from_db()
    return model


SETTLE = True  # --no-settle: measure as the writes leave the tables


def settle() -> None:
    """Vacuum and analyze what the steps write, so each timed step starts from the same state.

    This box runs PostgreSQL with autovacuum off: without this, the full pass would wade through
    the reference UPDATE's rolled-back row versions, and plans would use statistics from before
    the last pass. Not timed. ``--no-settle`` skips it, for the figures as a server without
    autovacuum would see them."""
    if not SETTLE:
        return
    with connection.cursor() as cursor:
        for table in ("leads_lead", "leads_leadrank", "scoring_leadscore", "leads_rescoremark"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def timed(label: str, fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.2f} s", flush=True)
    return seconds, result


def reference(now: datetime) -> tuple[float, float]:
    def update() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(REFERENCE, {"now": now})
            n = int(cursor.rowcount)
            transaction.set_rollback(True)
        return n

    def read() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(READ_ONLY, {"now": now})
            return int(cursor.fetchone()[0])

    settle()
    seconds_read, n_read = timed("reference aggregate, read only", read)
    seconds, n = timed(f"reference aggregate + one UPDATE ({n_read:,} leads, rolled back)", update)
    return seconds, seconds_read


def full_pass(model: ScoringModel, label: str, batch: int) -> float:
    run = ScoringRun.objects.create(model=model, kind="rescore", reason="bench")
    settle()
    seconds, run = timed(label, lambda: services.run_execute(run_id=run.pk, batch_size=batch))
    print(
        f"  {run.done:,} leads, {run.written:,} lead rows changed, {run.moved} moved, "
        f"{run.done / seconds:,.0f} leads/s",
        flush=True,
    )
    return seconds


def naive_loop(model: ScoringModel, ids: list[int], now: datetime) -> float:
    """What a per-lead ORM implementation does: load, evaluate, save, one lead at a time."""
    spec = engine.model_spec(model)

    def loop() -> None:
        for lead_id in ids:
            with transaction.atomic():
                lead = Lead.objects.select_for_update().get(pk=lead_id)
                acts = [
                    r.ActivityRow(a.pk, a.kind, a.occurred_at, a.properties)
                    for a in Activity.objects.filter(lead_id=lead_id)
                ]
                fields = {f: getattr(lead, f) for f in engine.LEAD_FIELDS}
                fields |= {"created_at": lead.created_at, "score_reset_at": lead.score_reset_at}
                ev = r.evaluate(spec, lead=fields, activities=acts, now=now)
                lead.score, lead.fit_score = ev.score, ev.fit
                lead.engagement_score, lead.grade, lead.scored_at = ev.engagement, ev.grade, now
                lead.save(update_fields=["score", "fit_score", "engagement_score", "grade"])
                LeadScore.objects.update_or_create(
                    lead_id=lead_id,
                    defaults={
                        "model": model,
                        "score": ev.score,
                        "fit_score": ev.fit,
                        "engagement_score": ev.engagement,
                        "grade": ev.grade,
                        "breakdown": [
                            [x.rule_id, x.count, x.points, x.undecayed] for x in ev.rules
                        ],
                        "scored_at": now,
                    },
                )

    settle()
    seconds, _ = timed(f"naive per-lead ORM loop, {len(ids):,} leads", loop)
    return float(seconds)


def incremental(ids: list[int], *, new_activity: bool) -> float:
    with transaction.atomic():
        if new_activity:  # one webinar each: every score changes
            at = timezone.now() - timedelta(seconds=1)
            Activity.objects.bulk_create(
                Activity(lead_id=i, kind=ActivityKind.WEBINAR, occurred_at=at, source=BENCH)
                for i in ids
            )
        leads_mark_for_rescore(ids)
    settle()
    what = "one new activity each" if new_activity else "marked, scores unchanged"
    seconds, result = timed(
        f"incremental: sweep of {len(ids):,} leads ({what})",
        lambda: services.score_dirty_sweep(batch_size=10_000),
    )
    print(
        f"  {result.scored:,} scored in {result.batches} batch(es), "
        f"{result.written:,} lead rows changed",
        flush=True,
    )
    return float(seconds)


def clean() -> None:
    RescoreMark.objects.all().delete()  # the generator's marks
    Activity.objects.filter(source=BENCH).delete()  # an earlier run's


def fresh_model(now: datetime) -> ScoringModel:
    """A newly published model whose thresholds are out of reach (the engine figures measure
    evaluation and write-back only)."""
    # points alternate x1/x2 between runs, so the first pass changes (nearly) every lead row
    scale = 1 + ScoringModel.objects.filter(name__startswith="bench ").count() % 2
    return publish(
        f"bench {now:%H%M%S}",
        scale=scale,
        lead_fit_threshold=UNREACHABLE,
        mql_threshold=UNREACHABLE,
    )


def engine_run(args: argparse.Namespace) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        leads = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'leads_activity'")
        acts = cursor.fetchone()[0]
    print(f"data: {leads:,} leads, ~{acts:,} activities", flush=True)
    if leads < 10_000 or acts < leads:
        raise SystemExit(
            "bench_scoring: needs >= 10,000 leads with activities (generate_data, see run.sh)"
        )
    clean()
    now = timezone.now()
    ref, ref_read = reference(now)
    model = fresh_model(now)
    first = full_pass(model, "full rescore, first pass (every row written)", args.batch)
    second = full_pass(model, "full rescore, second pass (decay: changed rows only)", args.batch)
    rng = random.Random(7)
    sample = sorted(rng.sample(range(1, leads + 1), 10_000))
    first_id = Lead.objects.order_by("pk").values_list("pk", flat=True).first() or 1
    sample = [first_id - 1 + i for i in sample]
    # ids have gaps (the generator merges some duplicates): keep the leads that exist
    sample = list(Lead.objects.filter(pk__in=sample).order_by("pk").values_list("pk", flat=True))
    inc = incremental(sample, new_activity=False)
    inc_new = incremental(sample, new_activity=True)
    # a random subset of the same leads: the first N of the sorted sample would sit in the
    # lowest 20% of the table, a locality the sweep over all 10,000 does not get
    naive_ids = sorted(rng.sample(sample, min(args.naive_sample, len(sample))))
    naive = naive_loop(model, naive_ids, timezone.now()) * len(sample) / len(naive_ids)
    print("--- ratios")
    print(f"full first pass / reference UPDATE: {first / ref:.2f}x (target <= 1.5x)")
    print(f"full second pass / reference UPDATE: {second / ref:.2f}x")
    print(f"full first pass / read-only aggregate: {first / ref_read:.2f}x")
    print(f"incremental {len(sample):,}, marked (nothing to write): {inc:.2f} s")
    print(
        f"incremental {len(sample):,}, one new activity each (every row written): "
        f"{inc_new:.2f} s (target < 1 s)"
    )
    scaled = "" if len(naive_ids) == len(sample) else f" (measured on {len(naive_ids):,}, scaled)"
    # like for like: the naive loop writes every lead, so does the sweep after new activities
    print(
        f"naive loop / incremental, both writing, same leads{scaled}: "
        f"{naive / inc_new:.0f}x (target >= 50x)"
    )
    print(f"naive loop / incremental that writes nothing (not like for like): {naive / inc:.0f}x")
    print(f"naive loop extrapolated to all leads: {naive * leads / len(sample) / 60:.0f} min")


def latency(args: argparse.Namespace) -> None:
    """Activities at ``--rate``/s for ``--seconds`` to distinct leads, with a worker running
    (start it yourself, see run.sh); observe when each lead's score (and stage) changes."""
    from leadflow.celery import app
    from leads.services import activity_record

    # a queue of our own: test workers sharing the broker must not take the bench's tasks
    app.conf.task_routes = {"*": {"queue": "scoring-bench"}}
    # an earlier run's last sweep task dies with its worker and leaves "a sweep is queued" set;
    # in production the beat sweep resets it within 5 s, here nothing would ever sweep
    SweepRequest.objects.update(requested=False)
    model = ScoringModel.objects.filter(status="published").first()
    if model is None or model.mql_threshold >= UNREACHABLE:
        model = publish(f"latency {timezone.now():%H%M%S}", lead_fit_threshold=UNREACHABLE)
    n = int(args.rate * args.seconds)
    # Lead-stage leads one webinar (+15) away from MQL under this model: evaluate a sample
    spec = engine.model_spec(model)
    pool = list(
        Lead.objects.filter(stage="lead", rescore_marks=None)
        .order_by("?")
        .values_list("pk", flat=True)[:50_000]
    )
    near: list[int] = []
    for i in range(0, len(pool), 10_000):
        rows = engine.evaluate_rows(
            model=model, spec=spec, ids=pool[i : i + 10_000], now=timezone.now()
        )
        near += [
            row.lead_id
            for row in rows
            if model.mql_threshold - 15 <= row.score < model.mql_threshold
            and row.grade <= model.mql_min_grade
            and row.armed is not False
        ]
    near = near[: n // 10]
    others = list(
        Lead.objects.filter(stage="lead", rescore_marks=None)
        .exclude(pk__in=near)
        .order_by("?")
        .values_list("pk", flat=True)[: n - len(near)]
    )
    targets = near + others
    if len(targets) < n or not near:
        raise SystemExit(
            f"latency: this database has {len(targets):,} unmarked Lead-stage leads "
            f"({len(near)} one webinar from MQL); {n:,} are needed: generate_data first"
        )
    random.Random(3).shuffle(targets)
    print(f"latency: {len(targets):,} activities at {args.rate}/s ({len(near)} cross MQL)")
    accepted: dict[int, float] = {}  # lead -> when its activity was *due* (open loop)
    seen_score: dict[int, float] = {}
    seen_mql: dict[int, float] = {}
    stop = threading.Event()
    near_set = set(near)
    t0 = timezone.now()

    def monitor() -> None:
        from django.db import connections

        while not stop.is_set() or len(seen_score) < len(accepted):
            snapshot = list(accepted)  # the producer thread keeps adding
            ids = [i for i in snapshot if i not in seen_score]
            if ids:
                done = Lead.objects.filter(pk__in=ids, scored_at__gte=t0, rescore_marks=None)
                now = time.perf_counter()
                for lead_id in done.values_list("pk", flat=True):
                    seen_score[lead_id] = now
            crossing = [i for i in snapshot if i in near_set and i not in seen_mql]
            if crossing:
                moved = StageChange.objects.filter(
                    lead_id__in=crossing, to_stage="mql", changed_at__gte=t0
                )
                now = time.perf_counter()
                for lead_id in moved.values_list("lead_id", flat=True):
                    seen_mql[lead_id] = now
            if stop.is_set() and time.perf_counter() - end > 30:
                break
            time.sleep(0.02)
        connections.close_all()

    end = float("inf")
    watcher = threading.Thread(target=monitor)
    watcher.start()
    # Several producer threads share one schedule (activity i is due at start + i / rate): one
    # thread, one transaction per activity, does not reach 200/s on this box.
    interval = 1.0 / args.rate
    schedule = iter(enumerate(targets))
    lock = threading.Lock()

    def produce() -> None:
        from django.db import connections

        while True:
            with lock:
                item = next(schedule, None)
            if item is None:
                break
            i, lead_id = item
            if (wait := start + i * interval - time.perf_counter()) > 0:
                time.sleep(wait)
            activity_record(
                lead_id=lead_id,
                kind=ActivityKind.WEBINAR,
                occurred_at=timezone.now() - timedelta(seconds=1),
                source="bench",
            )
            # latency counts from the scheduled send: time waiting for a free producer is in it
            accepted[lead_id] = start + i * interval
        connections.close_all()

    producers = [threading.Thread(target=produce) for _ in range(args.producers)]
    rescoring = rescore_loop.start() if args.with_rescore else None
    if rescoring:
        time.sleep(5)  # the rescore is past its start-up and writing
    start = time.perf_counter()
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    sent = time.perf_counter() - start
    end = time.perf_counter()
    stop.set()
    watcher.join()
    if rescoring:
        rescore_loop.stop(rescoring)
    # every scheduled activity counts; one never scored is infinitely late
    lat = latencies_from(
        [accepted.get(t, math.inf) for t in targets], _by_index(targets, seen_score)
    )
    mql = latencies_from([accepted.get(t, math.inf) for t in near], _by_index(near, seen_mql))
    print(
        f"  sent {len(accepted):,}/{len(targets):,} in {sent:.1f} s "
        f"({len(accepted) / sent:.0f}/s, {args.producers} producer threads)"
        + (", full rescores running beside it" if rescoring else "")
    )
    scored = sum(not math.isinf(x) for x in lat)
    print(
        f"  score updated: {scored:,}/{len(targets):,}; p50 {_s(lat, 0.50)}, p95 {_s(lat, 0.95)}, "
        f"max {_s(lat, 1.0)}: {verdict_s(lat, 2.0, scored / len(targets))} (p95 < 2 s)"
    )
    moved = sum(not math.isinf(x) for x in mql)
    print(
        f"  MQL transitions: {moved}/{len(near)}; p50 {_s(mql, 0.50)}, p95 {_s(mql, 0.95)}: "
        f"{verdict_s(mql, 2.0, moved / len(near))} (p95 < 2 s)"
    )


def _by_index(ids: list[int], seen: dict[int, float]) -> dict[int, float]:
    return {k: seen[lead_id] for k, lead_id in enumerate(ids) if lead_id in seen}


def _s(ordered: list[float], q: float) -> str:
    value = percentile(ordered, q)
    return "never" if math.isinf(value) else f"{value:.2f} s"


def verdict_s(ordered: list[float], target: float, share: float) -> str:
    return verdict(percentile(ordered, 0.95) * 1000, target * 1000, share)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--naive-sample", type=int, default=10_000)
    parser.add_argument(
        "--no-settle", action="store_true", help="no VACUUM (ANALYZE) before each timed step"
    )
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--producers", type=int, default=4, help="producer threads (latency)")
    parser.add_argument("--with-rescore", action="store_true", help="full rescores beside it")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench_scoring: run against PostgreSQL (DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute("SET random_page_cost = 1.1")
    global SETTLE
    SETTLE = not args.no_settle
    latency(args) if args.latency else engine_run(args)


if __name__ == "__main__":
    main()
