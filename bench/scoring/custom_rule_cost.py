"""What one custom-field fit rule costs a full rescore (issue 24).

On a generated database (``generate_data``, see bench/scoring/run.sh) of at least ``--leads``
leads, every lead gets a value of the single-choice custom field ``bench_tier`` (made if missing)
with one UPDATE (gold / silver / bronze by id). Two published versions of the default model are
made (bench/scoring/bench_scoring.py ``publish``, thresholds out of reach so nobody moves):
*without* (the default rules) and *with* (the same plus ``custom.bench_tier in ["gold"]``, +10).
Full rescores (``services.run_execute``: the engine's batch evaluation and write, batch by batch,
over all leads) then alternate between the two, ``--rounds`` of each, after one untimed pass.
Every pass switches model, so each one writes the same rows: every stored breakdown and the
totals of the third of the leads the rule changes. Each pass starts vacuumed and analysed
(bench_scoring ``settle``). Then the evaluation alone (``engine.evaluate_rows``, read only, the
same batches), paired batch by batch: each batch with and without the rule back to back. The
load average is printed beside every run. Run it under ``flock /work/bench.lock``:

    DATABASE_URL=postgres://…/lf_h1_bench flock /work/bench.lock \\
        .venv/bin/python bench/scoring/custom_rule_cost.py --rounds 3
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.scoring.bench_scoring import UNREACHABLE, full_pass, publish  # noqa: E402
from leads import customfield_services  # noqa: E402
from leads.models import CustomField, FieldType, Lead  # noqa: E402
from scoring import engine  # noqa: E402
from scoring.models import ScoringModel  # noqa: E402

KEY = "bench_tier"
TIERS = ["gold", "silver", "bronze"]
RULE = {
    "name": "Gold tier",
    "kind": "fit",
    "field": f"custom.{KEY}",
    "op": "in",
    "value": ["gold"],
    "points": 10,
}
FILL = (  # one UPDATE: every lead's tier, by id (a third of them gold)
    "UPDATE leads_lead SET custom = custom || jsonb_build_object(%(key)s, "
    "(%(tiers)s::text[])[1 + id %% 3]) WHERE custom ->> %(key)s IS NULL"
)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def refuse(message: str) -> None:
    raise SystemExit(f"custom_rule_cost: {message}")


def prepare(leads: int) -> None:
    """Check the data is there; give every lead its tier (once)."""
    if connection.vendor != "postgresql":
        refuse("needs PostgreSQL (DATABASE_URL), the engine's compiled SQL is what it measures")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM leads_lead")
        total = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'leads_activity'")
        acts = cursor.fetchone()[0]
    print(f"data: {total:,} leads, ~{acts:,} activities", flush=True)
    if total < leads or acts < total:
        refuse(
            f"needs >= {leads:,} leads with activities, found {total:,} leads and ~{acts:,} "
            "activities: generate_data first (bench/scoring/run.sh), or pass --leads"
        )
    field = CustomField.objects.filter(entity=CustomField.Entity.LEAD, key=KEY).first()
    if field is None:
        field = customfield_services.field_create(
            data={
                "key": KEY,
                "label": "Bench tier",
                "type": FieldType.CHOICE,
                "choices": [{"value": t, "label": t.title()} for t in TIERS],
            },
            actor=None,
        )
    elif field.type != FieldType.CHOICE:
        refuse(f"the custom field {KEY!r} exists and is not a single choice ({field.type})")
    with connection.cursor() as cursor:
        cursor.execute(FILL, {"key": KEY, "tiers": TIERS})
        if cursor.rowcount:
            print(f"gave {cursor.rowcount:,} leads a {KEY} value (one UPDATE)", flush=True)
    missing = Lead.objects.filter(**{f"custom__{KEY}__isnull": True}).count()
    if missing:
        refuse(f"{missing:,} leads still have no {KEY} value")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=100_000, help="leads the data must hold")
    parser.add_argument("--rounds", type=int, default=3, help="passes of each model (>= 3)")
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    if args.rounds < 3:
        refuse("--rounds must be at least 3")
    prepare(args.leads)
    stamp = f"{timezone.now():%H%M%S}"
    models: dict[str, ScoringModel] = {
        variant: publish(
            f"bench custom {variant} {stamp}",
            extra=[RULE] if variant == "with" else [],
            lead_fit_threshold=UNREACHABLE,
            mql_threshold=UNREACHABLE,
        )
        for variant in ("without", "with")
    }
    # warm-up with the rule; then strict alternation, so every timed pass switches model and
    # writes the same: every stored breakdown and the totals of the third the rule changes
    full_pass(models["with"], "warm-up pass (not counted)", args.batch)
    results: dict[str, list[float]] = {"without": [], "with": []}
    for i in range(args.rounds):
        for variant in ("without", "with"):
            before = load()
            seconds = full_pass(
                models[variant], f"round {i + 1}, {variant} custom rule", args.batch
            )
            results[variant].append(seconds)
            print(f"  load {before} → {load()}", flush=True)
    # the evaluation alone (read only), paired batch by batch: each batch is evaluated with and
    # without the rule back to back (the order alternating), so the box's load, which moves the
    # passes above by ±30 %, weighs on both alike
    evaluated: dict[str, list[float]] = {"without": [], "with": []}
    for i in range(args.rounds):
        before = load()
        paired = evaluate_paired(models, args.batch, first="without" if i % 2 else "with")
        for variant in ("without", "with"):
            evaluated[variant].append(paired[variant])
        print(
            f"evaluation only, round {i + 1}: without {paired['without']:.2f} s, "
            f"with {paired['with']:.2f} s  (load {before} → {load()})",
            flush=True,
        )
    print("--- seconds per pass over all leads")
    for title, figures in (("full rescore", results), ("evaluation only", evaluated)):
        without = statistics.median(figures["without"])
        with_ = statistics.median(figures["with"])
        for variant, runs in figures.items():
            print(f"{title}, {variant:7} custom rule: {', '.join(f'{x:.2f}' for x in runs)}")
        print(
            f"{title}: medians without {without:.2f} s, with {with_:.2f} s; "
            f"with ÷ without {with_ / without:.3f}x (target <= 1.1x)",
            flush=True,
        )
    ratios = [w / o for w, o in zip(evaluated["with"], evaluated["without"], strict=True)]
    print(
        "evaluation only, paired rounds: with ÷ without "
        f"{', '.join(f'{x:.3f}' for x in ratios)}; all rounds "
        f"{sum(evaluated['with']) / sum(evaluated['without']):.3f}x"
    )


def evaluate_paired(models: dict[str, ScoringModel], batch: int, first: str) -> dict[str, float]:
    """``engine.evaluate_rows`` over every lead in id ranges of ``batch`` ids with each model,
    each batch in its transaction (as a run's batch: the engine's session settings are
    transaction-local); seconds per model."""
    specs = {variant: engine.model_spec(model) for variant, model in models.items()}
    lo, hi = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk")).values()
    now = timezone.now()
    seconds = dict.fromkeys(models, 0.0)
    counts = dict.fromkeys(models, 0)
    order = [first, *(v for v in models if v != first)]
    for k, start in enumerate(range(lo, hi + 1, batch)):
        ids = engine.IdRange(start, min(start + batch - 1, hi))
        for variant in order if k % 2 == 0 else reversed(order):
            started = time.perf_counter()
            with transaction.atomic():
                rows = engine.evaluate_rows(
                    model=models[variant], spec=specs[variant], ids=ids, now=now
                )
            seconds[variant] += time.perf_counter() - started
            counts[variant] += len(rows)
    total = Lead.objects.count()
    if any(n != total for n in counts.values()):
        refuse(f"evaluated {counts} leads, not all {total:,}")
    return seconds


if __name__ == "__main__":
    main()
