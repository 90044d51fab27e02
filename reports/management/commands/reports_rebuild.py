"""``manage.py reports_rebuild``: recompute the rollups (per lead, per day) from the stage log.

Needed only after loading StageChange rows around the services (``generate_data`` COPYs them);
every stage change made through ``leads.services`` keeps the rollup current by itself.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reports.services import milestones_rebuild, stage_days_rebuild


class Command(BaseCommand):
    help = "Rebuild reports' rollups (per lead, per day) from the StageChange log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=50_000, help="lead ids per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        rows = milestones_rebuild(batch=options["batch"])
        middle = time.perf_counter()
        changes = stage_days_rebuild()
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {rows:,} lead rows and their metric-day cells in {middle - started:.1f} s and the per-day counts "
                f"of {changes:,} stage changes in {time.perf_counter() - middle:.1f} s."
            )
        )
