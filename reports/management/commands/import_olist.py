"""``manage.py import_olist DIR``: load the Olist marketing-funnel CSVs (idempotent)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from attribution.services import refresh_marked
from reports.services import OlistImportError, olist_import


class Command(BaseCommand):
    help = (
        "Import olist_marketing_qualified_leads_dataset.csv and olist_closed_deals_dataset.csv "
        "from DIR as leads with their stage history. Running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = olist_import(directory=options["directory"])
        except OlistImportError as exc:
            raise CommandError(exc.message) from None
        refresh_marked()  # the attribution of the imported leads, now rather than at the next beat
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.leads:,} leads ({result.customers:,} customers), "
                f"{result.stage_changes:,} stage changes, {result.users:,} reps; "
                f"{result.skipped:,} already there."
            )
        )
