"""Background jobs that tell the truth: one mechanism for imports, scoring runs, predictive
training and the reports rebuild.

A job row carries its status, progress (``done`` of ``total``), a heartbeat written with every
committed batch, the failure reason and a cancel flag. The job's own code runs each batch
through :func:`job_batch`, which in *one* transaction locks the job row, checks that this
executor still owns the job (``attempt``, so a worker declared dead that wakes up again stops),
stops at the boundary if a cancel was asked, runs the batch and records its progress — so the
resume point is always the last committed batch. Transient database errors (SQLite's "database
is locked", a PostgreSQL deadlock, serialization failure or dropped connection) are retried with
backoff, bounded; then the job fails with the reason.

A worker that dies (SIGKILL, OOM, power) cannot say so: :func:`jobs_fail_stale` (a beat task,
and every job page when it renders) turns a running job whose heartbeat is older than
``LEADFLOW_JOB_STALE_SECONDS`` into *failed* with "the worker stopped responding at …".

Layer: ``leadflow`` knows no domain app; the job models are found as subclasses of :class:`Job`.
"""

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, TypeVar

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.models import User

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobStateError(DomainError):
    code = "job_state"


class JobRetriesExhaustedError(Exception):
    """The database stayed unavailable through every retry of one batch."""

    def __init__(self, cause: OperationalError, waited: float) -> None:
        super().__init__(str(cause))
        self.cause, self.waited = cause, waited


class Job(models.Model):
    """Abstract: what every background job row has. The concrete model declares ``status``
    with choices that include the values named by the class constants below."""

    WAITING: ClassVar[str] = "pending"  # queued for a worker ("queued" on scoring runs)
    RUNNING: ClassVar[str] = "running"
    DONE: ClassVar[str] = "done"
    FAILED: ClassVar[str] = "failed"
    CANCELLED: ClassVar[str] = "cancelled"
    UNIT: ClassVar[StrOrPromise] = gettext_lazy("rows")  # what done/total count, for messages
    # False: a failed or cancelled job starts over ("Run again"), e.g. a dry run whose result
    # is a snapshot, or a training whose fit cannot be continued
    RESUMABLE: ClassVar[bool] = True
    AUDIT: ClassVar[str] = "job"  # audit action prefix and target type

    status: Any  # declared by the concrete model
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)  # committed with each batch: the resume point
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # last committed batch
    cancel_requested = models.BooleanField(default=False)
    attempt = models.PositiveIntegerField(default=0)  # which executor owns the job
    error = models.TextField(blank=True)  # why it failed or stopped
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(self.done * 100 / self.total))

    @property
    def active(self) -> bool:
        return self.status in (self.WAITING, self.RUNNING)

    @property
    def can_cancel(self) -> bool:
        return self.active and not self.cancel_requested

    def status_label(self) -> str:
        field = self._meta.get_field("status")
        assert isinstance(field, models.Field)  # noqa: S101 (declared by every concrete job)
        return str(dict(field.flatchoices).get(self.status, self.status))

    def audit_action(self, status: str) -> str:
        return f"{self.AUDIT}.{status}"

    def audit_details(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total}

    @property
    def resumable(self) -> bool:
        """Resume continues from ``done``; otherwise the page offers "Run again"."""
        return self.RESUMABLE

    @property
    def can_resume(self) -> bool:
        return self.status in (self.FAILED, self.CANCELLED)


J = TypeVar("J", bound=Job)


def transient(exc: OperationalError) -> bool:
    if connection.vendor == "sqlite":
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    return True  # PostgreSQL: deadlock, serialization failure, lost connection, lock timeout


def retry_transient(fn: Callable[[], T], *, what: str = "batch", patience: int = 1) -> T:
    """Run ``fn`` (a whole transaction: call it outside ``atomic``), again on transient errors.

    Backoff doubles from ``LEADFLOW_JOB_RETRY_BASE_SECONDS`` with jitter, for at most
    ``LEADFLOW_JOB_RETRY_ATTEMPTS`` tries (times ``patience``); then
    :class:`JobRetriesExhaustedError`.
    """
    attempts = max(1, settings.JOBS_RETRY_ATTEMPTS * patience)
    delay = settings.JOBS_RETRY_BASE_SECONDS
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError as exc:
            if not transient(exc) or connection.needs_rollback:
                raise  # the caller's transaction is broken: only its owner may retry
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()  # a dropped connection reconnects
            if attempt == attempts:
                raise JobRetriesExhaustedError(exc, time.monotonic() - started) from exc
            wait = min(delay * 2 ** (attempt - 1), settings.JOBS_RETRY_MAX_SECONDS)
            wait *= 0.5 + random.random() / 2  # noqa: S311 (jitter, not security)
            log.warning("%s: %s; retry %d/%d in %.1f s", what, exc, attempt, attempts - 1, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


def job_claim(model: type[J], job_id: int, *, now: datetime | None = None) -> int | None:
    """Take a waiting job; returns this executor's ``attempt`` (None: someone else has it, or it
    ended — a repeated or redelivered task is a no-op)."""
    now = now or timezone.now()

    def claim() -> int | None:
        with transaction.atomic():
            hit = model._default_manager.filter(pk=job_id, status=model.WAITING).update(
                status=model.RUNNING,
                attempt=F("attempt") + 1,
                heartbeat_at=now,
                started_at=Coalesce(F("started_at"), now),  # a resumed job keeps its start
                finished_at=None,
                error="",
            )
            if not hit:
                return None
            return int(
                model._default_manager.filter(pk=job_id).values_list("attempt", flat=True)[0]
            )

    return retry_transient(claim, what=f"{model.AUDIT} {job_id} claim")


class Stop(Exception):
    """Raised inside a job when it must stop at a batch boundary (cancelled or taken over)."""


def job_batch(
    model: type[J], job_id: int, attempt: int, work: Callable[[J], int], *, what: str = ""
) -> int:
    """Run one batch: lock the job, check ownership and cancel, ``work(job)`` (returns how many
    units it completed; it may also set fields on ``job``), then save progress and heartbeat —
    all in one transaction, retried on transient errors; returns what ``work`` returned.
    Raises :class:`Stop` when the job is no longer this executor's to run (it was cancelled
    here, failed as stale, or resumed elsewhere)."""
    return retry_transient(
        partial(_locked_step, model, job_id, attempt, work, cancel_first=True),
        what=what or f"{model.AUDIT} {job_id}",
    )


def job_progress(model: type[J], job_id: int, attempt: int, units: int) -> None:
    """Record work done outside the job's transaction (e.g. a scoring pass that commits its
    own batches), then stop if a cancel was asked: the count includes what was written."""
    retry_transient(
        partial(_locked_step, model, job_id, attempt, lambda job: units, cancel_first=False),
        what=f"{model.AUDIT} {job_id} progress",
    )


def _locked_step(
    model: type[J], job_id: int, attempt: int, work: Callable[[J], int], *, cancel_first: bool
) -> int:
    with transaction.atomic():
        job = model._default_manager.select_for_update().get(pk=job_id)
        if job.status != model.RUNNING or job.attempt != attempt:
            stop = f"{model.AUDIT} {job_id} is {job.status} (attempt {job.attempt})"
        elif job.cancel_requested and cancel_first:
            _end(job, model.CANCELLED, _cancelled_after(job))
            stop = "cancelled"  # (raised after the commit: the status must stick)
        else:
            units = work(job)
            job.done += units
            job.total = max(job.total, job.done)
            job.heartbeat_at = timezone.now()
            job.save()
            if not job.cancel_requested:
                return units
            _end(job, model.CANCELLED, _cancelled_after(job))
            stop = "cancelled"
    raise Stop(stop)


def _end(job: Job, status: str, error: str = "") -> None:
    job.status, job.error, job.finished_at = status, error, timezone.now()
    job.cancel_requested = False
    job.save(update_fields=["status", "error", "finished_at", "cancel_requested"])
    audit_record(
        action=job.audit_action(status),
        actor=getattr(job, "created_by", None),
        target_type=job.AUDIT,
        target_id=job.pk,
        details={"status": status, **job.audit_details(), "error": error[:300]},
    )


def job_finish(model: type[J], job_id: int, attempt: int, status: str, error: str = "") -> bool:
    """End the job as ``status`` if this executor still owns it (retried on transient errors)."""

    def once() -> bool:
        with transaction.atomic():
            job = model._default_manager.select_for_update().get(pk=job_id)
            if job.status != model.RUNNING or job.attempt != attempt:
                return False
            _end(job, status, error)
            return True

    try:  # (more patient than a batch: a job that gave up on a lock must still say so)
        return retry_transient(once, what=f"{model.AUDIT} {job_id} finish", patience=2)
    except JobRetriesExhaustedError:
        log.exception(
            "%s %s: could not record %s; the stale check will", model.AUDIT, job_id, status
        )
        return False


def failure_reason(exc: BaseException, job: Job | None = None) -> str:
    """What the page says when a job stopped on an error."""
    if isinstance(exc, JobRetriesExhaustedError):
        then = (
            _("everything before that is committed — Resume continues from there")
            if job is None or job.resumable
            else _("Run it again when the database is less busy")
        )
        facts = {"seconds": f"{exc.waited:.0f}", "cause": exc.cause, "then": then}
        if job is None:
            return _("The database stayed busy for %(seconds)s s (%(cause)s); %(then)s.") % facts
        return _(
            "The database stayed busy for %(seconds)s s (%(cause)s) after %(done)s of "
            "%(total)s %(unit)s; %(then)s."
        ) % {**facts, **_progress(job)}
    if job is None:
        return _("Stopped by an error: %(error)s") % {"error": exc}
    return _("Stopped by an error after %(done)s of %(total)s %(unit)s: %(error)s") % {
        **_progress(job),
        "error": exc,
    }


def _progress(job: Job) -> dict[str, Any]:
    return {"done": job.done, "total": job.total, "unit": job.UNIT}


def _cancelled_after(job: Job) -> str:
    return _("Cancelled after %(done)s of %(total)s %(unit)s.") % _progress(job)


def job_cancel(model: type[J], job_id: int, *, actor: User | None, request: Any = None) -> J:
    """A waiting job is cancelled at once; a running one stops at its next batch boundary."""
    with transaction.atomic():
        job = model._default_manager.select_for_update().get(pk=job_id)
        if not job.active:
            raise JobStateError(
                _("This job is %(status)s: nothing to cancel.")
                % {"status": job.status_label().lower()}
            )
        audit_record(
            action=f"{model.AUDIT}.cancel",
            actor=actor,
            target_type=model.AUDIT,
            target_id=job.pk,
            details={"status": job.status, "done": job.done, "total": job.total},
            request=request,
        )
        if job.status == model.WAITING:
            _end(
                job,
                model.CANCELLED,
                _("Cancelled while waiting for a worker (%(done)s of %(total)s %(unit)s done).")
                % _progress(job),
            )
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
        return job


def job_resume(model: type[J], job_id: int, *, actor: User | None, request: Any = None) -> J:
    """Put a failed or cancelled job back in the queue; the caller enqueues its task on commit.
    A resumable job continues from ``done``; the others start over."""
    with transaction.atomic():
        job = model._default_manager.select_for_update().get(pk=job_id)
        if not job.can_resume:
            raise JobStateError(
                _("This job is %(status)s: only a failed or cancelled job can be resumed.")
                % {"status": job.status_label().lower()}
            )
        audit_record(
            action=f"{model.AUDIT}.{'resume' if job.resumable else 'run_again'}",
            actor=actor,
            target_type=model.AUDIT,
            target_id=job.pk,
            details={"from": job.status, "done": job.done, "total": job.total},
            request=request,
        )
        job.status, job.error, job.finished_at, job.cancel_requested = (
            model.WAITING,
            "",
            None,
            False,
        )
        if not job.resumable:
            job.done = 0
        job.save(update_fields=["status", "error", "finished_at", "cancel_requested", "done"])
        return job


def _stale_filter(now: datetime) -> Q:
    cutoff = now - timedelta(seconds=settings.JOBS_STALE_SECONDS)
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)


def job_fail_if_stale(job: J, *, now: datetime | None = None) -> J:
    """For a page: the job as it truly is (failed, if its worker stopped responding)."""
    now = now or timezone.now()
    model = type(job)
    stale = model._default_manager.filter(Q(pk=job.pk, status=model.RUNNING) & _stale_filter(now))
    if job.status == model.RUNNING and stale.exists():  # (a read: polling takes no write lock)
        try:
            _fail_stale(model, job.pk, now)
        except OperationalError:  # the database is busy: show the page; the beat task retries
            log.warning("%s %s: could not record the stale failure now", model.AUDIT, job.pk)
        job.refresh_from_db()
    return job


def _fail_stale(model: type[Job], job_id: int, now: datetime) -> bool:
    with transaction.atomic():
        job = (
            model._default_manager.select_for_update()
            .filter(Q(pk=job_id, status=model.RUNNING) & _stale_filter(now))
            .first()
        )
        if job is None:
            return False
        seen = job.heartbeat_at or job.started_at or now
        _end(
            job,
            model.FAILED,
            (
                _(
                    "The worker stopped responding at %(at)s after %(done)s of %(total)s "
                    "%(unit)s (no heartbeat for %(seconds)s s). Resume continues from there."
                )
                if job.resumable
                else _(
                    "The worker stopped responding at %(at)s after %(done)s of %(total)s "
                    "%(unit)s (no heartbeat for %(seconds)s s). Run it again."
                )
            )
            % {
                **_progress(job),
                "at": f"{timezone.localtime(seen):%Y-%m-%d %H:%M:%S %Z}",
                "seconds": settings.JOBS_STALE_SECONDS,
            },
        )
        return True


def job_models() -> list[type[Job]]:
    return [m for m in apps.get_models() if issubclass(m, Job)]


def jobs_fail_stale(
    *, now: datetime | None = None, models: Sequence[type[Job]] | None = None
) -> int:
    """Beat (and list pages): every running job whose heartbeat is older than the setting
    becomes failed, with the reason."""
    now = now or timezone.now()
    failed = 0
    for model in job_models() if models is None else models:
        ids = list(
            model._default_manager.filter(Q(status=model.RUNNING) & _stale_filter(now)).values_list(
                "pk", flat=True
            )
        )
        for pk in ids:
            try:
                failed += _fail_stale(model, pk, now)
            except OperationalError:  # busy: the next pass (a minute later) records it
                log.warning("%s %s: could not record the stale failure now", model.AUDIT, pk)
    return failed
