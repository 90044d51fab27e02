"""Dead letters: the one rule that keeps a bad item from stopping its batch.

Oldest-first queues turn one item that always fails into a stall (head-of-line blocking): its
batch rolls back, its marks come back, and the next batch takes the same oldest items again. So
every batch path (the scoring sweep, the full rescore, threshold moves, predictive scoring,
outbox delivery, the SLA scan) runs its work through :func:`isolate`:

- the whole batch runs in one savepoint: the happy path costs a SAVEPOINT and a RELEASE, and the
  work stays set-based;
- when it raises, the batch is bisected (each half in a savepoint of its own) down to the items
  that fail; each is recorded here with its error (:func:`record`, in the batch's transaction)
  and the rest commits. Its marks or lease go with the batch, so no batch takes it again;
- a transient database error (lock, deadlock, lost connection) is nobody's fault: it propagates,
  and the caller retries the whole batch as before. When *every* item of a batch fails, the
  fault is not an item's either (a broken rule, a missing column): the batch fails as before.

A recorded item is retried by :func:`retry_due` (beat, every minute) after
``LEADFLOW_DEADLETTER_RETRY_BASE_SECONDS`` × 2ⁿ (n = failed retries so far, capped at
``LEADFLOW_DEADLETTER_RETRY_MAX_SECONDS``); after ``LEADFLOW_DEADLETTER_MAX_ATTEMPTS`` failed
retries it stays, as *gave up*, until someone retries it from the admin (or deletes it). A retry
runs the handler its app registered for the kind (:func:`register`); inside a retry nothing is
set aside, so a failure is the retry's own. A retry that goes through deletes the row.

Layer: ``leadflow`` knows no domain app; apps register their kinds in ``AppConfig.ready``.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from django_stubs_ext import StrOrPromise

from leadflow import jobs
from leadflow.audit import audit_record
from leadflow.models import DeadLetter, User

log = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B")

# A retry claims its row this long (another beat pass skips it meanwhile).
CLAIM_SECONDS = 600


@dataclass(frozen=True)
class Kind:
    label: StrOrPromise
    retry: Callable[[int], None]  # process the one item again; raises if it fails again


_KINDS: dict[str, Kind] = {}
_retrying: ContextVar[bool] = ContextVar("deadletter_retrying", default=False)


def register(kind: str, *, label: StrOrPromise, retry: Callable[[int], None]) -> None:
    """Declare a kind of item batches may set aside, and how to process one again."""
    _KINDS[kind] = Kind(label, retry)


def kind_label(kind: str) -> str:
    return str(_KINDS[kind].label) if kind in _KINDS else kind


def kind_choices() -> list[tuple[str, str]]:
    return sorted((kind, str(k.label)) for kind, k in _KINDS.items())


def isolable(exc: BaseException) -> bool:
    """May ``exc`` be blamed on the item being processed (and the item set aside)?"""
    if _retrying.get() or not isinstance(exc, Exception):
        return False  # a retry's failure is its own; KeyboardInterrupt and the like stop
    return not (isinstance(exc, OperationalError) and jobs.transient(exc))


def isolate(
    batch: B,
    work: Callable[[Any], T],
    *,
    kind: str,
    ids: Callable[[B], Sequence[int]] | None = None,
) -> list[T]:
    """``work(batch)`` in a savepoint; if it fails on some items, the rest without them.

    Returns the results of the calls that went through: ``[work(batch)]`` on the happy path,
    otherwise one result per part of the bisection that committed. ``work`` must accept a list
    of item ids too (the parts); ``ids(batch)`` lists the ids when ``batch`` is not such a list
    (a range of ids, say). Call it inside the batch's transaction (or in autocommit: each part
    then commits on its own).
    """
    try:
        with transaction.atomic():
            return [work(batch)]
    except Exception as exc:
        if not isolable(exc):
            raise
        first = exc
    items = list(ids(batch) if ids is not None else cast(Sequence[int], batch))
    if len(items) <= 1:
        for item in items:
            record(kind, item, first)
        return []
    log.warning(
        "%s: a batch of %d failed (%s); isolating the failing items", kind, len(items), first
    )
    with transaction.atomic():  # (undoes the records below when every item failed)
        done, failed = _bisect(items, work, kind)
        if not done:
            raise first
    log.warning("%s: set aside %d of %d items", kind, failed, len(items))
    return done


def isolate_one(item_id: int, work: Callable[[], T], *, kind: str) -> list[T]:
    """``work()`` for one item in a savepoint; set aside if it fails: ``[result]`` or ``[]``."""
    return isolate([item_id], lambda _ids: work(), kind=kind)


def _bisect(items: list[int], work: Callable[[Any], T], kind: str) -> tuple[list[T], int]:
    done: list[T] = []
    failed = 0
    middle = len(items) // 2
    for part in (items[:middle], items[middle:]):
        try:
            with transaction.atomic():
                done.append(work(part))
            continue
        except Exception as exc:
            if not isolable(exc):
                raise
            if len(part) == 1:
                record(kind, part[0], exc)
                failed += 1
                continue
        more, n = _bisect(part, work, kind)
        done += more
        failed += n
    return done, failed


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:4000]


def backoff(failed_retries: int) -> timedelta:
    """Wait before the next retry of an item whose retries failed ``failed_retries`` times."""
    seconds = settings.DEADLETTER_RETRY_BASE_SECONDS * 2**failed_retries
    return timedelta(seconds=min(seconds, settings.DEADLETTER_RETRY_MAX_SECONDS))


def record(kind: str, item_id: int, exc: BaseException, *, now: datetime | None = None) -> None:
    """Set ``item_id`` aside with its error (call it in the batch's transaction).

    An item already set aside keeps its schedule and count; only its error and time change.
    """
    now = now or timezone.now()
    error = _error_text(exc)
    log.warning("%s %s set aside: %s", kind, item_id, error)
    rows = DeadLetter.objects.filter(kind=kind, item_id=item_id)
    if rows.update(error=error, failed_at=now):
        return
    try:
        with transaction.atomic():
            DeadLetter.objects.create(
                kind=kind,
                item_id=item_id,
                error=error,
                first_failed_at=now,
                failed_at=now,
                next_retry_at=now + backoff(0),
            )
    except IntegrityError:  # another batch set it aside meanwhile
        rows.update(error=error, failed_at=now)


@contextmanager
def _strict() -> Iterator[None]:
    token = _retrying.set(True)
    try:
        yield
    finally:
        _retrying.reset(token)


def retry(
    *,
    letter_id: int,
    manual: bool = False,
    actor: User | None = None,
    request: Any = None,
    now: datetime | None = None,
) -> bool | None:
    """Process the item again. True: it went through (the row is deleted); False: it failed
    again (recorded, with the next retry or *gave up*); None: nothing to do (the row is gone,
    another retry holds it, or — unless ``manual`` — it is not due at ``now``)."""
    now = now or timezone.now()
    with transaction.atomic():
        letter = DeadLetter.objects.select_for_update(skip_locked=True).filter(pk=letter_id).first()
        if letter is None:
            return None
        due = letter.status == DeadLetter.Status.WAITING and (
            letter.next_retry_at is None or letter.next_retry_at <= now
        )
        if not (manual or due):
            return None
        # claimed: the next beat pass does not take it while this retry runs
        DeadLetter.objects.filter(pk=letter.pk).update(
            next_retry_at=now + timedelta(seconds=CLAIM_SECONDS)
        )
        if manual:
            audit_record(
                action="deadletter.retry",
                actor=actor,
                target_type=letter.kind,
                target_id=letter.item_id,
                details={"attempts": letter.attempts, "status": letter.status},
                request=request,
            )
    try:
        with _strict():
            if letter.kind not in _KINDS:
                raise LookupError(f"No retry is registered for {letter.kind!r}.")
            _KINDS[letter.kind].retry(letter.item_id)  # (runs its own transactions)
    except Exception as exc:
        _retry_failed(letter, exc)
        return False
    DeadLetter.objects.filter(pk=letter.pk).delete()
    log.info("%s %s: retry went through", letter.kind, letter.item_id)
    return True


def _retry_failed(letter: DeadLetter, exc: Exception) -> None:
    now = timezone.now()
    attempts = letter.attempts + 1
    gave_up = (
        attempts >= settings.DEADLETTER_MAX_ATTEMPTS or letter.status == DeadLetter.Status.GAVE_UP
    )
    log.warning("%s %s: retry %d failed: %s", letter.kind, letter.item_id, attempts, exc)
    DeadLetter.objects.filter(pk=letter.pk).update(
        error=_error_text(exc),
        failed_at=now,
        attempts=attempts,
        status=DeadLetter.Status.GAVE_UP if gave_up else DeadLetter.Status.WAITING,
        next_retry_at=None if gave_up else now + backoff(attempts),
    )


def retry_due(*, now: datetime | None = None, limit: int = 100) -> tuple[int, int]:
    """Beat: retry the items whose next retry is due, oldest due first; (went through, failed)."""
    now = now or timezone.now()
    due = DeadLetter.objects.filter(
        status=DeadLetter.Status.WAITING, next_retry_at__lte=now
    ).order_by("next_retry_at", "pk")
    ok = failed = 0
    for letter_id in list(due.values_list("pk", flat=True)[:limit]):
        outcome = retry(letter_id=letter_id, now=now)
        ok += outcome is True
        failed += outcome is False
    return ok, failed


def retry_many(
    letter_ids: Iterable[int], *, actor: User | None = None, request: Any = None
) -> tuple[int, int]:
    """Retry now, whatever the schedule (the admin's action); (went through, failed)."""
    ok = failed = 0
    for letter_id in letter_ids:
        outcome = retry(letter_id=letter_id, manual=True, actor=actor, request=request)
        ok += outcome is True
        failed += outcome is False
    return ok, failed
