from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictive.ml import PredictiveError


class Command(BaseCommand):
    help = "Score leads with the active predictive model: all of them, or only changed ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--changed", action="store_true", help="only leads changed since")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        from predictive.services import predictive_score_all, predictive_score_changed

        try:
            if options["changed"]:
                result = predictive_score_changed(batch_size=options["batch_size"])
            else:
                result = predictive_score_all(batch_size=options["batch_size"])
        except PredictiveError as exc:
            raise CommandError(exc.message) from exc
        if result is None:
            raise CommandError("No active model has finished its first full scoring pass yet.")
        self.stdout.write(
            f"Model v{result.model_id}: scored {result.scored:,} leads "
            f"({result.written:,} changed) in {result.seconds:.1f} s."
        )
