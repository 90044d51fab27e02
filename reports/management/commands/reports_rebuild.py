"""``manage.py reports_rebuild``: recompute the rollups (per lead, per day) from the stage log.

Needed only after loading StageChange rows around the services (``generate_data`` COPYs them);
every stage change made through ``leads.services`` keeps the rollup current by itself.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reports.services import milestones_rebuild


class Command(BaseCommand):
    help = "Rebuild reports' per-lead milestone rollup from the StageChange log."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=50_000, help="lead ids per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        rows = milestones_rebuild(batch=options["batch"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {rows:,} lead rows in {time.perf_counter() - started:.1f} s."
            )
        )
