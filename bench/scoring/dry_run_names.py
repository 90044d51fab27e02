"""What naming the leads costs a dry run (issue 20, "dry run that names names").

On a generated database (``generate_data``, see bench/scoring/run.sh), once: a published version
of the default model with thresholds out of reach (bench_scoring ``publish``; nobody moves) and
a full rescore, a team of ten reps with a round-robin assignment rule. Then a draft whose MQL
threshold is the published scores' ``--share`` quantile among leads in Lead or Nurture, so that
share of them would become MQL.

Timed, ``--rounds`` of each, alternating, after one untimed pass (``services.run_execute`` of a
dry run, batch by batch over all leads): the dry run **with names** (every mover stored, the new
MQLs routed at the end) and **without** (the same code with the mover list and routing switched
off in the process). Then the routing step alone on the last run's list, and a draft identical
to the published model, which must name nobody. The load average is printed beside every run.
Run it under ``flock /work/bench.lock``:

    DATABASE_URL=postgres://…/lf_bench_t20 flock /work/bench.lock \\
        .venv/bin/python bench/scoring/dry_run_names.py --rounds 2
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.scoring.bench_scoring import UNREACHABLE, full_pass, publish  # noqa: E402
from handover import receivers, routing_preview  # noqa: E402
from handover.models import AssignmentMember, AssignmentRule  # noqa: E402
from leadflow.models import User  # noqa: E402
from leads.models import Team  # noqa: E402
from scoring import dry_run_leads, services  # noqa: E402
from scoring.models import DryRunLead, ScoringModel, ScoringRun  # noqa: E402

NAME = "bench dry-run names"


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def prepare() -> ScoringModel:
    live = ScoringModel.objects.filter(name=NAME, status="published").first()
    if live is None:
        live = publish(NAME, lead_fit_threshold=UNREACHABLE, mql_threshold=UNREACHABLE)
        full_pass(live, "first full rescore (untimed)", 10_000)
    if not AssignmentRule.objects.filter(name=NAME).exists():
        team, _ = Team.objects.get_or_create(name=NAME)
        rule = AssignmentRule.objects.create(name=NAME, team=team, position=1)
        for i in range(10):
            user, _ = User.objects.get_or_create(username=f"bench-rr{i}")
            team.members.add(user)
            AssignmentMember.objects.create(rule=rule, user=user)
    return live


def draft_at(live: ScoringModel, share: float) -> ScoringModel:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY score) FROM leads_lead"
            " WHERE stage IN ('lead', 'nurture')",
            [1 - share],
        )
        threshold = max(1, int(cursor.fetchone()[0]))
    draft = services.model_new_version(model_id=live.pk)
    services.model_update(
        model_id=draft.pk, data={"lead_fit_threshold": UNREACHABLE, "mql_threshold": threshold}
    )
    print(f"draft v{draft.version}: MQL at {threshold} ({share:.0%} quantile)", flush=True)
    return draft


def dry_run(model: ScoringModel, *, names: bool) -> tuple[float, ScoringRun]:
    run = ScoringRun.objects.create(model=model, kind="dry_run", reason="bench")
    add, connected = dry_run_leads.movers_add, True
    if not names:
        dry_run_leads.movers_add = lambda **kw: 0
        connected = dry_run_leads.dry_run_leads_done.disconnect(
            dispatch_uid="handover.on_dry_run_leads_done"
        )
    try:
        t = time.perf_counter()
        run = services.run_execute(run_id=run.pk)
        seconds = time.perf_counter() - t
    finally:
        dry_run_leads.movers_add = add
        if not names and connected:
            dry_run_leads.dry_run_leads_done.connect(
                receivers.on_dry_run_leads_done, dispatch_uid="handover.on_dry_run_leads_done"
            )
    assert run.status == "done", run.error  # noqa: S101
    return seconds, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--share", type=float, default=0.05)
    args = parser.parse_args()
    live = prepare()
    draft = draft_at(live, args.share)
    dry_run(draft, names=True)  # untimed: caches and plans
    runs: dict[bool, list[float]] = {True: [], False: []}
    last = None
    for i in range(args.rounds):
        for names in (True, False) if i % 2 == 0 else (False, True):
            seconds, run = dry_run(draft, names=names)
            runs[names].append(seconds)
            named = DryRunLead.objects.filter(run=run).count()
            print(
                f"  {'with' if names else 'without'} names: {seconds:.1f} s, {run.done:,} leads,"
                f" enter {run.result['enter_mql']:,} leave {run.result['leave_mql']:,},"
                f" named {named:,} ({load()})",
                flush=True,
            )
            if names:
                last = run
    for names, times in runs.items():
        print(f"{'with' if names else 'without'} names: " + ", ".join(f"{t:.1f}" for t in times))
    ratios = [w / wo for w, wo in zip(runs[True], runs[False], strict=True)]
    print("with ÷ without, per round: " + ", ".join(f"{r:.3f}" for r in ratios))
    assert last is not None  # noqa: S101
    t = time.perf_counter()
    summary = routing_preview.dry_run_route(run_id=last.pk, now=timezone.now())
    print(
        f"routing step alone: {time.perf_counter() - t:.2f} s for "
        f"{sum(r['would_open'] for r in summary['reps']) + summary['queue']:,} new MQLs ({load()})"
    )
    same = services.model_new_version(model_id=live.pk)
    seconds, run = dry_run(same, names=True)
    moved = DryRunLead.objects.filter(run=run).count()
    print(
        f"identical draft: {seconds:.1f} s, enter {run.result['enter_mql']} leave "
        f"{run.result['leave_mql']}, named {moved} ({load()})"
    )


if __name__ == "__main__":
    main()
