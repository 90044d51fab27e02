from typing import Any

from django.core.management.base import BaseCommand

from attribution.services import rebuild


class Command(BaseCommand):
    help = (
        "Rebuild touches, attribution credits and their daily rollup from the activity and stage "
        "logs (after changing LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS, or a bulk load)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=2000, help="leads per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        result = rebuild(batch_size=options["batch"])
        self.stdout.write(
            f"{result.leads} leads in {result.batches} batches, {result.seconds:.1f} s"
        )
