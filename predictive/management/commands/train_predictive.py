import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictive.ml import PredictiveError
from predictive.models import Target


class Command(BaseCommand):
    help = (
        "Train a new predictive model version now (or queue it with --queue), then score all leads."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--target", choices=Target.values, default=None)
        parser.add_argument("--queue", action="store_true", help="run in the Celery worker")
        parser.add_argument("--no-score", action="store_true", help="do not score leads after")

    def handle(self, *args: Any, **options: Any) -> None:
        from predictive.services import predictive_score_all, predictive_train
        from predictive.tasks import predictive_train_task

        if options["queue"]:
            predictive_train_task.delay(target=options["target"])
            self.stdout.write("Training queued.")
            return
        try:
            row = predictive_train(target=options["target"])
        except PredictiveError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Model v{row.pk} ({row.algorithm}) is active.")
        self.stdout.write(json.dumps(row.metrics, indent=2))
        if not options["no_score"]:
            result = predictive_score_all(model_id=row.pk)
            self.stdout.write(
                f"Scored {result.scored:,} leads ({result.written:,} changed) in {result.seconds:.1f} s."
            )
