"""Full rescores of the published model, one after another, until it is killed.

The "with a concurrent full rescore" condition of the latency benchmarks (docs/benchmarks.md):
started beside them in its own process, so it competes for the database as a real rescore does.
Each pass is a ScoringRun executed in this process (no worker needed), batch by batch.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from scoring import services  # noqa: E402
from scoring.models import ScoringModel, ScoringRun  # noqa: E402

REASON = "bench-concurrent"


def start() -> subprocess.Popen[bytes]:
    """This script in a process of its own; end it with :func:`stop`. Refuses (exits) when there
    is no model to rescore with, rather than letting a run go on without its rescore."""
    if not ScoringModel.objects.filter(status="published").exists():
        raise SystemExit("--with-rescore: no published scoring model (manage.py seed_scoring_demo)")
    return subprocess.Popen([sys.executable, __file__])  # noqa: S603  (our own script)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the loop mid-pass and close the run it left open (as a dead worker's would be)."""
    process.kill()
    process.wait(timeout=30)
    ScoringRun.objects.filter(reason=REASON).exclude(status="done").update(
        status="failed", error="bench: stopped"
    )


def main() -> None:
    model = ScoringModel.objects.filter(status="published").first()
    if model is None:
        raise SystemExit("rescore_loop: no published scoring model in this database")
    passes = 0
    while True:
        run = ScoringRun.objects.create(model=model, kind="rescore", reason=REASON)
        started = time.perf_counter()
        run = services.run_execute(run_id=run.pk)
        passes += 1
        print(
            f"rescore_loop: pass {passes}: {run.done:,} leads in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
