import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from predictive.ml import PredictiveError


class Command(BaseCommand):
    help = (
        "Evaluate the predictive pipeline on a public dataset with k-fold stratified CV: "
        "ROC AUC, accuracy / precision / recall at a cut-off, Brier score, reliability plot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", choices=["x-education"], required=True)
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--columns",
            choices=["strict", "lenient"],
            default="strict",
            help="strict: drop every column named in the data README; lenient: drop only "
            "Tags and Lead Quality (for comparison)",
        )
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--inner-folds", type=int, default=5, help="CV for model choice")
        parser.add_argument("--boost-iterations", type=int, default=300)
        parser.add_argument("--cutoff", type=float, default=0.5)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--plot", type=Path, default=Path("var/predictive-reliability.png"))
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from predictive import xeducation

        if not 0 < options["cutoff"] < 1:
            raise CommandError("--cutoff must be between 0 and 1.")
        try:
            frame, y, spec = xeducation.load(options["path"], columns=options["columns"])
            result, _ = xeducation.evaluate(
                frame,
                y,
                spec,
                folds=options["folds"],
                cutoff=options["cutoff"],
                seed=options["seed"],
            )
        except PredictiveError as exc:
            raise CommandError(exc.message) from exc
        title = f"X Education, {options['columns']} columns, {options['folds']}-fold CV"
        xeducation.reliability_plot(result, options["plot"], title)
        report = xeducation.report(result, columns=options["columns"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        folds = ", ".join(f"{a:.3f}" for a in result.roc_auc_folds)
        self.stdout.write(
            f"X Education ({result.n:,} leads, {result.n_positive:,} converted), "
            f"columns: {options['columns']}\n"
            f"dropped: {', '.join(report['dropped'])}\n"
            f"ROC AUC {result.roc_auc:.4f} (folds {folds}; pooled {result.roc_auc_pooled:.4f})\n"
            f"at cut-off {result.cutoff}: accuracy {result.accuracy:.4f}, precision "
            f"{result.precision:.4f}, recall {result.recall:.4f}\n"
            f"Brier {result.brier:.4f} (predicting the base rate: {result.brier_base_rate:.4f})\n"
            f"model kept per fold: {', '.join(result.chosen)}\n"
            f"reliability plot: {options['plot']}  ({result.seconds:.0f} s)"
        )
