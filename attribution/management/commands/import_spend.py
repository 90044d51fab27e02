"""``manage.py import_spend FILE.csv``: campaign spend from a CSV file with the columns month,
source, medium, campaign, amount, currency (a header row; any order; only month and amount and a
campaign or source needed). All or nothing: every bad row is named with its line."""

import csv
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from attribution.spend import FIELDS, spend_import


class Command(BaseCommand):
    help = (
        "Import campaign spend from a CSV file (month, source, medium, campaign, amount, currency)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with options["path"].open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                extra = sorted(set(reader.fieldnames or ()) - set(FIELDS))
                if extra:
                    raise CommandError(f"Unknown columns {extra}; columns: {', '.join(FIELDS)}.")
                rows = [{k: v for k, v in row.items() if v not in (None, "")} for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc}") from None
        try:
            stored = spend_import(rows=rows, actor=None)
        except ValidationError as exc:
            # rows[i] is line i + 2 of the file (after the header)
            lines = [
                f"line {int(key[5:key.index(']')]) + 2}{key[key.index(']') + 1:]}: {' '.join(m)}"
                if key.startswith("rows[") else f"{key}: {' '.join(m)}"
                for key, m in exc.message_dict.items()
            ]  # fmt: skip
            raise CommandError("Nothing imported:\n" + "\n".join(lines)) from None
        self.stdout.write(f"Imported {stored} spend rows.")
