"""manage.py import_leads FILE: the same import as the page and the API, run in this process."""

import csv
import json
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadflow.csv import safe_row
from leadflow.exceptions import DomainError
from leadflow.models import User
from privacy.imports import import_job_create, import_run
from privacy.models import DedupePolicy, ImportRowError, SavedMapping
from privacy.selectors import error_report_rows


class Command(BaseCommand):
    help = "Import leads from a CSV file (see docs/privacy.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--policy",
            choices=DedupePolicy.values,
            default=DedupePolicy.SKIP,
            help="what to do with rows matching an existing lead (default: skip)",
        )
        parser.add_argument(
            "--mapping",
            default="",
            help='a saved mapping\'s name, or JSON {"CSV column": "field"}; default: automatic',
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and count; write nothing"
        )
        parser.add_argument("--encoding", default="", help="default: detect")
        parser.add_argument("--delimiter", default="", help="default: detect")
        parser.add_argument("--month-first", action="store_true", help="read 03/04/2026 as 4 March")
        parser.add_argument("--source", default="import", help="lead source for rows with none")
        parser.add_argument("--user", default="", help="username recorded as the importer")
        parser.add_argument("--errors", type=Path, help="write the error report CSV here")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        mapping: dict[str, str] | None = None
        if options["mapping"]:
            saved = SavedMapping.objects.filter(name=options["mapping"]).first()
            try:
                mapping = saved.mapping if saved else json.loads(options["mapping"])
            except json.JSONDecodeError:
                raise CommandError(
                    f"--mapping is neither a saved mapping nor JSON: {options['mapping']!r}"
                ) from None
        actor = User.objects.filter(username=options["user"]).first() if options["user"] else None
        try:
            with path.open("rb") as handle:
                job = import_job_create(
                    upload=File(handle, name=path.name),
                    actor=actor,
                    mapping=mapping,
                    policy=options["policy"],
                    dry_run=options["dry_run"],
                    encoding=options["encoding"],
                    delimiter=options["delimiter"],
                    dayfirst=not options["month_first"],
                    source=options["source"],
                    enqueue=False,  # run here, in this process
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        job = import_run(job_id=job.pk)
        if job.error:
            raise CommandError(job.error)
        if options["errors"]:
            with options["errors"].open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                for row in error_report_rows(job=job, with_header=True):
                    writer.writerow(safe_row(row))
        summary = ", ".join(f"{k} {v}" for k, v in job.summary.items())
        prefix = "dry run: " if job.dry_run else ""
        self.stdout.write(f"import #{job.pk} {prefix}{summary}")
        notes = ImportRowError.objects.filter(job=job).count()
        if notes:
            self.stdout.write(f"{notes} problem(s) in the error report")
