"""CSV import of leads: create an ImportJob, run it in batches, report per row.

Each batch of rows is validated in Python first (a bad row never reaches the database), then
written with a few bulk statements in its own transaction together with the job's counters and
the batch's error rows — so a crash loses at most the batch in flight and a re-run resumes
idempotently. If the database refuses a batch (a concurrent writer took an e-mail), the batch is
replayed row by row, each in a savepoint, so one bad row never blocks the others.

Dedupe: a row matches an existing lead by normalised e-mail or external id; the job's policy
decides (skip / fill empty fields / overwrite). A lead matched earlier in the same file carries
``last_import_id == job.pk``: later rows for it are reported, not applied (first row wins), so
the file's outcome does not depend on batch boundaries and memory does not grow with the file.
Re-running a file changes no lead: every row then matches a lead already holding its values.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import IO, Any

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    reset_queries,
    transaction,
)
from django.db.models import JSONField, Model, Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from psycopg.types.json import Jsonb

from companies.models import Membership
from companies.selectors import account_lookup
from companies.services import member_link
from leadflow import deadletter, jobs
from leadflow.audit import audit_record
from leadflow.bulk import copy_rows
from leadflow.i18n import for_user
from leadflow.models import User
from leads import customfields
from leads.events import dims_of, lead_domains_set, lead_titles_set, stage_log_rewritten
from leads.lifecycle import ActorKind, Stage
from leads.models import CustomField, Lead, StageChange, email_in
from leads.services import EDITABLE_FIELDS, actor_kind_for, leads_mark_for_rescore
from privacy import blocklist
from privacy.importing import (
    CsvSource,
    ImportFileError,
    ParsedRow,
    auto_mapping,
    check_mapping,
    detect,
    parse_row,
)
from privacy.models import DedupePolicy, ImportJob, ImportRowError, SavedMapping

logger = logging.getLogger(__name__)

# Fields an import may write on an existing lead: the editable fields but the identity ones
# (e-mail and external id match the lead; they only fill when empty), free-form traits and
# custom values (both merged key by key, ``_updates``).
UPDATABLE = tuple(
    f for f in EDITABLE_FIELDS if f not in ("email", "external_id", "traits", "custom")
)


class ImportTooLargeError(ImportFileError):
    code = "import_too_large"
    status = 413


def ensure_size(size: int) -> None:
    limit = settings.PRIVACY_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportTooLargeError(
            _(
                "The file is %(size)s MB; the limit is %(limit)s MB. "
                "Split it, or ask an administrator to raise LEADFLOW_IMPORT_MAX_BYTES."
            )
            % {
                "size": number_format(round(size / 1024 / 1024), force_grouping=True),
                "limit": number_format(round(limit / 1024 / 1024), force_grouping=True),
            }
        )


def import_preview(
    *,
    raw: IO[bytes],
    mapping: dict[str, str] | None = None,
    encoding: str = "",
    delimiter: str = "",
    dayfirst: bool = True,
    rows: int = 10,
) -> dict[str, Any]:
    """What the file looks like: detected dialect, header, suggested mapping, first rows parsed."""
    dialect = detect(raw, encoding=encoding, delimiter=delimiter)
    source = CsvSource(raw, dialect)
    try:
        fields = customfields.lead_fields()
        used = check_mapping(
            mapping if mapping else auto_mapping(source.header), source.header, fields
        )
        sample = []
        for number, cells, error in islice(source.records(), rows):
            parsed = (
                parse_row(
                    number,
                    cells,
                    header=source.header,
                    mapping=used,
                    dayfirst=dayfirst,
                    custom_fields=fields,
                )
                if cells is not None
                else ParsedRow(row=number, errors=[("", "", error)])
            )
            sample.append(
                {
                    "row": number,
                    "cells": cells or [],
                    "fields": {
                        **{k: str(v) for k, v in parsed.fields.items()},
                        **{f"custom.{k}": str(v) for k, v in parsed.custom.items()},
                    },
                    "errors": [
                        {"column": c, "value": v, "message": m} for c, v, m in parsed.errors
                    ],
                }
            )
    finally:
        source.detach()
    return {
        "encoding": dialect.encoding,
        "delimiter": dialect.delimiter,
        "header": source.header,
        "mapping": used,
        "rows": sample,
    }


@transaction.atomic
def import_job_create(
    *,
    upload: File[Any],
    actor: User | None,
    mapping: dict[str, str] | None = None,
    policy: str = DedupePolicy.SKIP,
    dry_run: bool = False,
    encoding: str = "",
    delimiter: str = "",
    dayfirst: bool = True,
    source: str = "",
    request: Any = None,
    draft: bool = False,
    enqueue: bool = True,
) -> ImportJob:
    """Store the upload and check it can be read (dialect, header, mapping); rows come later.

    ``draft``: wait for ``import_job_start`` (the page's mapping step). Otherwise the job is
    pending and, with ``enqueue``, handed to a worker on commit (the command runs it inline).
    """
    ensure_size(upload.size or 0)
    if policy not in DedupePolicy.values:
        raise ImportFileError(
            _("Unknown policy %(policy)s; expected %(expected)s.")
            % {"policy": repr(policy), "expected": ", ".join(DedupePolicy.values)},
            field="policy",
        )
    raw = upload.file
    if raw is None:
        raise ImportFileError(_("No file was uploaded."))
    dialect = detect(raw, encoding=encoding, delimiter=delimiter)
    csv_source = CsvSource(raw, dialect)
    try:
        used = check_mapping(
            mapping if mapping else auto_mapping(csv_source.header),
            csv_source.header,
            customfields.lead_fields(),
        )
    finally:
        csv_source.detach()
    raw.seek(0)
    job = ImportJob(
        filename=(upload.name or "upload.csv")[:255],
        size=upload.size or 0,
        mapping=used,
        policy=policy,
        dry_run=dry_run,
        encoding=dialect.encoding,
        delimiter=dialect.delimiter,
        dayfirst=dayfirst,
        source=source[:100],
        created_by=actor if actor is not None and actor.pk else None,
        status=ImportJob.Status.DRAFT if draft else ImportJob.Status.PENDING,
    )
    job.file.save(f"{timezone.now():%Y%m%d-%H%M%S}.csv", upload, save=False)
    job.save()
    if not draft and enqueue:
        _enqueue(job.pk)
    audit_record(
        action="import.create",
        actor=actor,
        target_type="import",
        target_id=job.pk,
        details={"filename": job.filename, "size": job.size, "policy": policy, "dry_run": dry_run},
        request=request,
    )
    return job


def _enqueue(job_id: int) -> None:
    from privacy.tasks import import_run_task

    transaction.on_commit(lambda: import_run_task.delay(job_id))


@transaction.atomic
def import_job_start(
    *,
    job_id: int,
    actor: User | None,
    mapping: dict[str, str],
    policy: str,
    dry_run: bool,
    save_mapping_as: str = "",
) -> ImportJob:
    """Start a draft (or re-run a finished dry run for real, as a new job on the same file)."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if policy not in DedupePolicy.values:
        raise ImportFileError(
            _("Unknown policy %(policy)s.") % {"policy": repr(policy)}, field="policy"
        )
    if not job.file:
        raise ImportFileError(_("The uploaded file is gone; upload it again."))
    with job.file.open("rb") as raw:
        source = CsvSource(raw, detect(raw, encoding=job.encoding, delimiter=job.delimiter))
        used = check_mapping(mapping, source.header, customfields.lead_fields())
        source.detach()
    if job.status != ImportJob.Status.DRAFT:
        if not (job.dry_run and job.status == ImportJob.Status.DONE):
            raise ImportFileError(_("This import has already run."), field="job")
        job.pk = None  # a copy: the dry run's report stays as it was
        job.created_at = timezone.now()
        job.rows_total = job.created = job.updated = job.skipped = job.failed = 0
        job.done = job.total = job.attempt = 0
        job.started_at = job.finished_at = job.heartbeat_at = None
    job.mapping, job.policy, job.dry_run = used, policy, dry_run
    job.status = ImportJob.Status.PENDING
    job.created_by = actor if actor is not None and actor.pk else job.created_by
    job.save()
    if save_mapping_as:
        SavedMapping.objects.update_or_create(
            name=save_mapping_as[:100], defaults={"mapping": used, "created_by": job.created_by}
        )
    _enqueue(job.pk)
    return job


@transaction.atomic
def import_job_requeue(*, job_id: int) -> bool:
    """Queue a job left ``running`` by a killed worker again (it resumes after the last
    committed batch; a worker still holding it stops at its next batch boundary)."""
    hit = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.PENDING
    )
    if hit:
        _enqueue(job_id)
    return bool(hit)


def import_job_cancel(*, job_id: int, actor: User | None, request: Any = None) -> ImportJob:
    """Stop at the next batch boundary: committed batches stay imported."""
    return jobs.job_cancel(ImportJob, job_id, actor=actor, request=request)


@transaction.atomic
def import_job_resume(*, job_id: int, actor: User | None, request: Any = None) -> ImportJob:
    """Continue a failed or cancelled import after its last committed batch (a dry run starts
    over: it committed nothing)."""
    job = jobs.job_resume(ImportJob, job_id, actor=actor, request=request)
    if not job.file:
        raise ImportFileError(_("The uploaded file is gone; upload it again."))
    _enqueue(job.pk)
    return job


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    errors: list[ImportRowError] = field(default_factory=list)

    def add(self, other: "_Tally") -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.failed += other.failed
        self.rows += other.rows


class _DryRunRollback(Exception):
    pass


def import_run(*, job_id: int) -> ImportJob:
    """Run (or resume) a job: every row ends created, updated, skipped or failed.

    Each batch commits with its rows, error rows, counters and the committed record offset
    (``done``) in one transaction (:func:`leadflow.jobs.job_batch`), so a resumed run skips
    exactly the committed records and no row is imported twice. A dry run is one transaction
    that is rolled back: it always starts over.
    """
    attempt = jobs.job_claim(ImportJob, job_id)
    if attempt is None:
        return ImportJob.objects.get(pk=job_id)  # done, failed or taken: a repeated task is a no-op
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    # the row errors, stage log reasons and failure reason are stored as finished text, read by
    # the person who started the import: written in their language (leadflow.i18n)
    with for_user(job.created_by):
        return _run(job, attempt)


def _run(job: ImportJob, attempt: int) -> ImportJob:
    job_id = job.pk
    try:
        if not job.total:
            _count_rows(job, attempt)
        if job.dry_run:
            total = jobs.retry_transient(partial(_dry_run, job), what=f"import {job_id} dry run")
            report = partial(_dry_run_report, total=total)
            jobs.job_batch(ImportJob, job_id, attempt, report, what=f"import {job_id}")
        else:
            with _rows(job) as parsed:
                # the committed records were applied with their counters: continue after them
                for batch in _chunks(
                    islice(parsed, job.done, None), settings.PRIVACY_IMPORT_BATCH_SIZE
                ):
                    jobs.job_batch(
                        ImportJob,
                        job_id,
                        attempt,
                        partial(_commit_batch, rows=batch),
                        what=f"import {job_id}",
                    )
                    reset_queries()  # DEBUG keeps every SQL string: memory would grow per batch
    except jobs.Stop:
        return ImportJob.objects.get(pk=job_id)  # cancelled, or no longer this worker's
    except ImportFileError as exc:
        return _finish(job_id, attempt, ImportJob.Status.FAILED, exc.message)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # (ValueError: the file is gone)
        return _finish(
            job_id,
            attempt,
            ImportJob.Status.FAILED,
            _("The file could not be read: %(error)s") % {"error": exc},
        )
    except Exception as exc:  # the retries ran out, or a bug: the page must say so, not "Running"
        logger.exception("import %s failed", job_id)
        job.refresh_from_db()
        return _finish(job_id, attempt, ImportJob.Status.FAILED, jobs.failure_reason(exc, job))
    return _finish(job_id, attempt, ImportJob.Status.DONE, "")


@contextmanager
def _rows(job: ImportJob) -> Iterator[Iterator[ParsedRow]]:
    with job.file.open("rb") as raw:
        source = CsvSource(raw, detect(raw, encoding=job.encoding, delimiter=job.delimiter))
        fields = customfields.lead_fields()  # a field deleted since the job started: refused
        mapping = check_mapping(job.mapping, source.header, fields)
        try:
            yield _parse(source, job, mapping, fields)
        finally:
            source.detach()


def _count_rows(job: ImportJob, attempt: int) -> None:
    """The file's record count, once, so the page can show done of total from the start."""
    with job.file.open("rb") as raw:
        source = CsvSource(raw, detect(raw, encoding=job.encoding, delimiter=job.delimiter))
        total = sum(1 for _ in source.records())
        source.detach()
    job.total = total

    def count(j: ImportJob) -> int:
        j.total = total
        return 0

    jobs.job_batch(ImportJob, job.pk, attempt, count, what=f"import {job.pk} count")


def _commit_batch(job: ImportJob, *, rows: list[ParsedRow]) -> int:
    tally = _apply_batch(job, rows)
    ImportRowError.objects.bulk_create(tally.errors)
    _add_counts(job, tally)
    return len(rows)


def _dry_run(job: ImportJob) -> _Tally:
    """Apply every batch in one transaction that is rolled back; keep only the report. (It has
    no committed batches to beat with: progress and heartbeat are written when it ends.)"""
    total = _Tally()
    with _rows(job) as parsed:
        try:
            with transaction.atomic():
                for batch in _chunks(parsed, settings.PRIVACY_IMPORT_BATCH_SIZE):
                    if ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                        break  # the report's batch marks it cancelled
                    tally = _apply_batch(job, batch)
                    total.add(tally)
                    total.errors.extend(tally.errors)
                    reset_queries()
                raise _DryRunRollback
        except _DryRunRollback:
            pass
    return total


def _dry_run_report(job: ImportJob, *, total: _Tally) -> int:
    ImportRowError.objects.filter(job_id=job.pk).delete()
    ImportRowError.objects.bulk_create(total.errors, batch_size=1000)
    job.rows_total = job.created = job.updated = job.skipped = job.failed = 0
    _add_counts(job, total)
    job.done = 0
    return total.rows


def _finish(job_id: int, attempt: int, status: str, error: str) -> ImportJob:
    jobs.job_finish(ImportJob, job_id, attempt, status, error)
    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.DONE and not job.dry_run and job.file:
        job.file.delete(save=True)  # the raw file holds personal data: keep only the outcome
    return job


def _add_counts(job: ImportJob, tally: _Tally) -> None:
    job.rows_total += tally.rows
    job.created += tally.created
    job.updated += tally.updated
    job.skipped += tally.skipped
    job.failed += tally.failed


def _parse(
    source: CsvSource,
    job: ImportJob,
    mapping: dict[str, str],
    custom_fields: dict[str, CustomField],
) -> Iterator[ParsedRow]:
    for number, cells, error in source.records():
        if cells is None:
            yield ParsedRow(row=number, errors=[("", "", error)])
            continue
        yield parse_row(
            number,
            cells,
            header=source.header,
            mapping=mapping,
            dayfirst=job.dayfirst,
            default_source=job.source,
            custom_fields=custom_fields,
        )


def _chunks(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _error(
    job: ImportJob, row: int, column: str, value: str, message: str, **kw: Any
) -> ImportRowError:
    return ImportRowError(
        job_id=job.pk, row=row, column=column[:200], value=value[:200], message=message[:300], **kw
    )


# COPY runs on psycopg's own cursor, so its errors arrive unwrapped by Django
_REFUSED = (IntegrityError, DatabaseError, psycopg.Error)


def _apply_batch(job: ImportJob, rows: list[ParsedRow]) -> _Tally:
    """Apply one batch in bulk; if that fails, replay it row by row: a row that fails alone is
    reported as a row error (the import's own dead letter, shown on its page) and the others go
    in. Transient errors (locked, deadlock, connection) fail the batch: the job retries it."""
    try:
        with transaction.atomic():
            return _apply(job, rows)
    except Exception as exc:
        if not deadletter.isolable(exc):
            raise
        logger.info("import %s: batch failed (%s), replaying row by row", job.pk, exc)
    tally = _Tally()
    for row in rows:
        try:
            with transaction.atomic():
                one = _apply(job, [row])
        except Exception as exc:
            if not deadletter.isolable(exc):
                raise
            if isinstance(exc, _REFUSED):
                # Translators: the error is the database's own message (English)
                why = _("The database refused the row: %(error)s") % {"error": exc}
            else:
                why = _("Not imported: %(error)s") % {"error": exc}
            one = _Tally(rows=1, failed=1)
            one.errors.append(_error(job, row.row, "", "", why))
        tally.add(one)
        tally.errors.extend(one.errors)
    return tally


def _apply(job: ImportJob, rows: list[ParsedRow]) -> _Tally:
    tally = _Tally(rows=len(rows))
    valid: list[ParsedRow] = []
    for row in rows:
        if row.ok:
            valid.append(row)
        else:
            tally.failed += 1
            tally.errors.extend(_error(job, row.row, c, v, m) for c, v, m in row.errors)
    # the blocklist (erased people), one query for the batch
    digests = {row.row: blocklist.identifiers(row.fields) for row in valid}
    blocked = blocklist.blocked_digests(d for found in digests.values() for _, d in found)
    if blocked:
        kept = []
        for row in valid:
            hit = next((k for k, d in digests[row.row] if d in blocked), None)
            if hit is None:
                kept.append(row)
                continue
            tally.failed += 1
            column = next((c for c, t in job.mapping.items() if t == hit), hit)
            tally.errors.append(
                _error(job, row.row, column, "", _("belongs to an erased person (blocklisted)"))
            )
        valid = kept
    accounts = _accounts(job, valid, tally)
    if accounts.failed:
        valid = [row for row in valid if row.row not in accounts.failed]
    # existing leads by e-mail / external id, one query for the batch
    emails = {r.fields["email"] for r in valid if r.fields.get("email")}
    external = {r.fields["external_id"] for r in valid if r.fields.get("external_id")}
    by_email: dict[str, Lead] = {}
    by_external: dict[str, Lead] = {}
    if emails or external:
        for lead in Lead.objects.select_for_update().filter(
            email_in(emails) | Q(external_id__in=external)
        ):
            if lead.email:
                by_email[lead.email.lower()] = lead
            if lead.external_id:
                by_external[lead.external_id] = lead
    now = timezone.now()
    fields = customfields.lead_fields() if valid else {}
    new: list[tuple[ParsedRow, Lead]] = []
    changed: dict[int, Lead] = {}
    changed_fields: set[str] = set()
    touched: set[int] = set()
    linked_existing: list[tuple[ParsedRow, Lead]] = []
    for row in valid:
        email, ext = row.fields.get("email"), row.fields.get("external_id")
        a = by_email.get(email) if email else None
        b = by_external.get(ext) if ext else None
        if a is not None and b is not None and a.pk != b.pk:
            tally.failed += 1
            tally.errors.append(
                _error(
                    job,
                    row.row,
                    "",
                    "",
                    _(
                        "The e-mail matches lead #%(email_lead)s and the external id lead "
                        "#%(external_lead)s: merge them first."
                    )
                    % {"email_lead": a.pk, "external_lead": b.pk},
                )
            )
            continue
        match = a or b
        if match is not None and match.last_import_id == job.pk:
            tally.skipped += 1
            tally.errors.append(
                _error(
                    job,
                    row.row,
                    "",
                    "",
                    _("Duplicate of an earlier row in this file (the first one was used)."),
                    skipped=True,
                )
            )
            continue
        if match is None:
            try:  # required custom fields (and defaults) apply to rows that create a lead
                custom = customfields.clean_custom(row.custom, fields=fields, creating=True)
            except ValidationError as exc:
                tally.failed += 1
                tally.errors.extend(_custom_errors(job, row.row, exc))
                continue
            created = _new_lead(job, row, now)
            created.custom = custom
            new.append((row, created))
            if created.email:
                by_email[created.email] = created
            if created.external_id:
                by_external[created.external_id] = created
            tally.created += 1
            continue
        lead = match
        lead.last_import_id = job.pk
        if row.account:
            linked_existing.append((row, lead))
        updates = _updates(lead, row, job.policy)
        if updates:
            for name, value in updates.items():
                setattr(lead, name, value)
            changed[lead.pk] = lead
            changed_fields.update(updates)
            tally.updated += 1
        else:
            touched.add(lead.pk)
            tally.skipped += 1
    if new:
        _insert_leads([lead for _, lead in new], now)
        kind = actor_kind_for(job.created_by) or ActorKind.SYSTEM
        _insert(
            StageChange,
            (
                StageChange(
                    lead=lead,
                    from_stage="",
                    to_stage=Stage.SUSPECT,
                    actor=job.created_by,
                    actor_kind=kind.value,
                    source=StageChange.Source.IMPORT,
                    reason=_("imported (import #%(job)s, row %(row)s)")
                    % {"job": job.pk, "row": row.row},
                    changed_at=lead.stage_changed_at,
                    **dims_of(lead),
                )
                for row, lead in new
            ),
        )
    if changed:
        for lead in changed.values():
            lead.updated_at = now
        Lead.objects.bulk_update(
            list(changed.values()),
            fields=sorted(changed_fields | {"last_import_id", "updated_at"}),
        )
    if touched:
        Lead.objects.filter(pk__in=touched).update(last_import_id=job.pk)
    if new or changed:
        lead_ids = [lead.pk for _, lead in new] + list(changed)
        leads_mark_for_rescore(lead_ids, at=now)
        # COPY and bulk_update bypass the per-row signals: readers that keep rollups of the
        # log and of lead fields (reports) refresh these leads in this transaction
        stage_log_rewritten.send(sender=Lead, lead_ids=lead_ids)
        accounts.link(job, [(row, lead) for row, lead in new] + linked_existing)
        readdressed = [lead.pk for _, lead in new if lead.domain]
        if changed_fields & {"email", "domain"}:
            readdressed += [pk for pk, lead in changed.items() if lead.domain]
        if readdressed:  # accounts link them by e-mail domain, as for leads made one by one
            lead_domains_set.send(sender=Lead, lead_ids=readdressed)
        if changed_fields & {"job_title", "seniority"}:
            lead_titles_set.send(sender=Lead, lead_ids=list(changed))
    return tally


@dataclass
class _Accounts:
    """The batch's "account" cells resolved to account ids, and the rows whose cell named none."""

    ids: dict[int, int] = field(default_factory=dict)  # row number -> account id
    failed: set[int] = field(default_factory=set)

    def link(self, job: ImportJob, rows: list[tuple[ParsedRow, Lead]]) -> None:
        for row, lead in rows:  # explicit links: the import column outranks domain and group
            if row.row in self.ids:
                member_link(
                    lead_id=lead.pk,
                    account_id=self.ids[row.row],
                    source=Membership.Source.EXPLICIT,
                    actor=job.created_by,
                    reason=f"import #{job.pk}, row {row.row}",
                )


def _accounts(job: ImportJob, rows: list[ParsedRow], tally: _Tally) -> _Accounts:
    """One lookup for the batch: an account by external id, then domain, then exact name (any
    case). A cell that names none, or a name two accounts share, fails its row (nothing of it
    is written)."""
    out = _Accounts()
    wanted = {row.account for row in rows if row.account}
    if not wanted:
        return out
    found = account_lookup(wanted)
    column = next((c for c, t in job.mapping.items() if t == "account"), "account")
    for row in rows:
        if not row.account:
            continue
        account_id = found.get(row.account)
        if isinstance(account_id, int):
            out.ids[row.row] = account_id
            continue
        out.failed.add(row.row)
        tally.failed += 1
        message = (
            _("two or more accounts have this name; give its external id or domain")
            if account_id == "ambiguous"
            else _("no account has this external id, domain or name")
        )
        tally.errors.append(_error(job, row.row, column, row.account, message))
    return out


def _insert(model: type[Model], objs: Iterable[Model], with_ids: bool = False) -> None:
    """COPY on PostgreSQL (≈ 3x bulk_create here: no per-value SQL compiling), else bulk_create.

    ``with_ids``: the objects carry reserved primary keys; otherwise the database assigns them.
    """
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(list(objs))
        return
    fields = [f for f in model._meta.concrete_fields if with_ids or not f.primary_key]
    names = [f.attname for f in fields]
    json_at = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]

    def row(obj: Model) -> list[Any]:
        values = [getattr(obj, name) for name in names]  # psycopg's COPY adapts them natively
        for i in json_at:
            values[i] = Jsonb(values[i])
        return values

    copy_rows(model, [f.column for f in fields], (row(o) for o in objs))


def _insert_leads(leads: list[Lead], now: Any) -> None:
    for lead in leads:
        lead.created_at = lead.updated_at = now  # (bulk paths skip auto_now_add)
    if connection.vendor == "postgresql":
        # ids straight from the sequence: no table lock (leadflow.bulk.reserve_ids takes one,
        # which would stall every other write to leads for as long as the batch's transaction)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Lead._meta.db_table, len(leads)],
            )
            ids = [row[0] for row in cursor.fetchall()]
        for lead, pk in zip(leads, ids, strict=True):
            lead.pk = pk
        _insert(Lead, leads, with_ids=True)
    else:
        Lead.objects.bulk_create(leads)


def _custom_errors(job: ImportJob, row: int, exc: ValidationError) -> list[ImportRowError]:
    """Row errors of a row's custom values (a required field the file leaves empty), each
    naming its column when the file has one."""
    columns = {t: c for c, t in job.mapping.items()}
    return [
        _error(job, row, columns.get(name, ""), "", " ".join(messages))
        for name, messages in exc.message_dict.items()
    ]


def _new_lead(job: ImportJob, row: ParsedRow, now: Any) -> Lead:
    return Lead(
        **row.fields,
        stage=Stage.SUSPECT,
        stage_changed_at=row.created_at or now,
        last_import_id=job.pk,
        traits=row.traits,
    )


def _updates(lead: Lead, row: ParsedRow, policy: str) -> dict[str, Any]:
    if policy == DedupePolicy.SKIP:
        return {}
    updates: dict[str, Any] = {}
    for name, value in row.fields.items():
        if name in ("email", "external_id"):
            if not getattr(lead, name) and value:
                updates[name] = value  # identity fields only ever fill in
            continue
        if name == "phone_normalized" or name not in UPDATABLE:
            continue
        current = getattr(lead, name)
        if name == "email_opt_out" and current and not value:
            continue  # an import never re-subscribes someone who opted out
        if name == "do_not_call" and current and not value:
            continue
        if policy == DedupePolicy.FILL and current not in ("", None, False):
            continue
        if current != value:
            updates[name] = value
            if name == "phone":
                updates["phone_normalized"] = row.fields.get("phone_normalized", "")
    if row.traits:
        merged = dict(lead.traits)
        for key, value in row.traits.items():
            if policy == DedupePolicy.OVERWRITE or key not in merged:
                merged[key] = value
        if merged != lead.traits:
            updates["traits"] = merged
    if row.custom:  # the same rule, key by key (the cells are clean values already)
        held = dict(lead.custom or {})
        for key, value in row.custom.items():
            if policy == DedupePolicy.OVERWRITE or key not in held:
                held[key] = value
        if held != (lead.custom or {}):
            updates["custom"] = held
    return updates
