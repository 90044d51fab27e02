"""Load deterministic demo/bench data: ``generate_data --leads 1000000 --activities-per-lead 10``."""

import json
import time
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leadflow.bulk import copy_rows, reserve_ids
from leadflow.models import User
from leadflow.roles import Role
from leads.demo_data import GeneratedLead, generate
from leads.models import Activity, Lead, RescoreMark, StageChange

LEAD_COLUMNS = [
    "id",
    "email",
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "seniority",
    "company",
    "domain",
    "industry",
    "company_size",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "owner_id",
    "team_id",
    "stage",
    "stage_changed_at",
    "score",
    "fit_score",
    "engagement_score",
    "grade",
    "scored_at",
    "email_opt_out",
    "do_not_call",
    "traits",
    "created_at",
    "updated_at",
]
CHANGE_COLUMNS = [
    "lead_id",
    "from_stage",
    "to_stage",
    "actor_id",
    "actor_kind",
    "source",
    "reason",
    "changed_at",
    "owner_id",
    "team_id",
    "lead_source",
    "reason_code",
]
ACTIVITY_COLUMNS = [
    "lead_id",
    "kind",
    "name",
    "occurred_at",
    "received_at",
    "properties",
    "source",
    "message_id",
]


FILLED = (Lead, RescoreMark, StageChange, Activity)


class Command(BaseCommand):
    help = "Generate seeded leads, stage histories and activities (COPY on PostgreSQL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=100)
        parser.add_argument("--activities-per-lead", type=float, default=10.0)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--anchor", help="ISO time the data ends at (default: now); fix it for repeatable runs"
        )
        parser.add_argument(
            "--reopen",
            type=float,
            default=0.0,
            help="chance (0-1) that a nurtured lead re-engages / a disqualified one is reopened",
        )
        parser.add_argument("--chunk", type=int, default=20000, help="leads per transaction")
        parser.add_argument(
            "--companies",
            type=int,
            help="companies the people work at (default: one per ten leads); accounts are made "
            "for company domains with two or more leads",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchor = parse_datetime(options["anchor"]) if options["anchor"] else timezone.now()
        if anchor is None or timezone.is_naive(anchor):
            self.stderr.write("--anchor must be an ISO date-time with a time zone offset.")
            raise SystemExit(2)
        owners = list(
            User.objects.filter(groups__name=Role.SALES_REP)
            .order_by("id")
            .values_list("id", flat=True)
        )
        total, chunk = options["leads"], options["chunk"]
        companies = options["companies"] or max(5, total // 10)
        counts = {"leads": 0, "stage_changes": 0, "activities": 0}
        started = time.perf_counter()
        for offset in range(0, total, chunk):
            size = min(chunk, total - offset)
            batch = list(
                generate(
                    seed=options["seed"],
                    count=size,
                    activities_per_lead=options["activities_per_lead"],
                    anchor=anchor,
                    owners=owners,
                    start_index=offset,
                    reopen=options["reopen"],
                    companies=companies,
                )
            )
            self._load(batch, anchor, counts)
            elapsed = time.perf_counter() - started
            self.stdout.write(
                f"  {counts['leads']:>9,} leads  {counts['activities']:>11,} activities  "
                f"{elapsed:7.1f} s",
                ending="\r" if counts["leads"] < total else "\n",
            )
            self.stdout.flush()
        # planner statistics now, not when autovacuum gets round to it: until then PostgreSQL
        # plans the new rows from the empty tables' estimates (seq scans on the first requests)
        with connection.cursor() as cursor:
            for model in FILLED:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        elapsed = time.perf_counter() - started
        rows = sum(counts.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {counts['leads']:,} leads, {counts['stage_changes']:,} stage changes "
                f"and {counts['activities']:,} activities in {elapsed:.1f} s "
                f"({rows / max(elapsed, 1e-9):,.0f} rows/s)."
            )
        )
        if apps.is_installed("companies"):  # by name: ``leads`` imports no app above it
            call_command("accounts_backfill", create=2, stdout=self.stdout)

    @transaction.atomic
    def _load(self, batch: list[GeneratedLead], now: datetime, counts: dict[str, int]) -> None:
        first_id = reserve_ids(Lead, len(batch))
        ids = range(first_id, first_id + len(batch))
        lead_rows = (
            (
                lead_id,
                g.row["email"],
                None,
                g.row["first_name"],
                g.row["last_name"],
                "",
                g.row["job_title"],
                g.row["seniority"],
                g.row["company"],
                g.row["domain"],
                g.row["industry"],
                g.row["company_size"],
                g.row["country"],
                g.row["source"],
                g.row["utm_source"],
                g.row["utm_medium"],
                g.row["utm_campaign"],
                "",
                "",
                g.row["owner_id"],
                None,
                g.row["stage"],
                g.row["stage_changed_at"],
                0,
                0,
                0,
                "",
                None,
                False,
                False,
                "{}",
                g.row["created_at"],
                now,
            )
            for lead_id, g in zip(ids, batch, strict=True)
        )
        counts["leads"] += copy_rows(Lead, LEAD_COLUMNS, lead_rows)
        # the scoring engine picks the generated leads up
        copy_rows(RescoreMark, ["lead_id", "marked_at"], ((lead_id, now) for lead_id in ids))
        change_rows = (
            # generated leads are never reassigned: each change records the lead's values
            (
                lead_id,
                frm,
                to,
                None,
                kind,
                StageChange.Source.SYSTEM,
                reason,
                at,
                g.row["owner_id"],
                None,
                g.row["source"],
                code,
            )  # fmt: skip
            for lead_id, g in zip(ids, batch, strict=True)
            for frm, to, kind, reason, at, code in g.history
        )
        counts["stage_changes"] += copy_rows(StageChange, CHANGE_COLUMNS, change_rows)
        activity_rows = (
            (lead_id, kind, name, at, at, json.dumps(props), "generator", None)
            for lead_id, g in zip(ids, batch, strict=True)
            for kind, name, at, props in g.activities
        )
        counts["activities"] += copy_rows(Activity, ACTIVITY_COLUMNS, activity_rows)
