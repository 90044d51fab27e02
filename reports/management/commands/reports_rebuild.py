"""``manage.py reports_rebuild``: recompute the rollups (per lead, per day) from the stage log.

Needed only after loading StageChange rows around the services (``generate_data`` COPYs them);
every stage change made through ``leads.services`` keeps the rollup current by itself.

Each run is a ``RebuildRun`` job: progress commits with every lead-id range, a run whose process
died is shown failed (``jobs_fail_stale``), ``--resume ID`` continues it at its next range and
``--cancel ID`` (from another terminal) stops it at the next range.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.exceptions import DomainError
from reports.models import RebuildRun
from reports.services import (
    reports_rebuild_cancel,
    reports_rebuild_resume,
    reports_rebuild_run,
    reports_rebuild_start,
)


class Command(BaseCommand):
    help = "Rebuild reports' rollups (per lead, per day) from the StageChange log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=50_000, help="lead ids per transaction")
        parser.add_argument("--resume", type=int, metavar="ID", help="continue a failed rebuild")
        parser.add_argument("--cancel", type=int, metavar="ID", help="stop a running rebuild")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["cancel"]:
                run = reports_rebuild_cancel(run_id=options["cancel"])
                self.stdout.write(f"Rebuild #{run.pk}: {run.get_status_display().lower()}.")
                return
            if options["resume"]:
                run_id = reports_rebuild_resume(run_id=options["resume"]).pk
            else:
                run_id = reports_rebuild_start(batch=options["batch"]).pk
        except RebuildRun.DoesNotExist:
            raise CommandError("There is no such rebuild.") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        started = time.perf_counter()
        run = reports_rebuild_run(run_id=run_id)
        if run.status != RebuildRun.Status.DONE:
            raise CommandError(
                f"Rebuild #{run.pk} {run.status} after {run.done} of {run.total} lead ids: "
                f"{run.error} (manage.py reports_rebuild --resume {run.pk})"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {run.rows:,} lead rows, their metric-day cells and the per-day counts "
                f"in {time.perf_counter() - started:.1f} s (rebuild #{run.pk})."
            )
        )
