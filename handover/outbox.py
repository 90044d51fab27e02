"""The transactional outbox: write notification rows with their cause, deliver them after.

Writers (``OutboxBatch``) only insert rows — in-app notifications, e-mail deliveries, webhook
events and one delivery per matching subscription — inside the caller's transaction, and ask
Celery to deliver the new ids on commit. Delivery claims a row with a conditional UPDATE and a
lease, so a duplicate or late task is a no-op; a failed attempt is logged and rescheduled with
exponential backoff (no Celery countdown: the sweeper re-drives due rows); a worker killed
mid-attempt leaves a lease that expires and is re-driven. Redis losing every queued task loses
nothing: the rows are the queue of record.
"""

import http.client
import io
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from handover import rules
from handover.models import (
    Delivery,
    DeliveryAttempt,
    Notification,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow import batchscope, deadletter
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.i18n import for_user
from leadflow.models import User
from leads.models import Lead

logger = logging.getLogger(__name__)
ENQUEUE_CHUNK = 50
USER_AGENT = "LeadFlow-Webhooks/1"
LEASE_MARGIN_SECONDS = 30  # beyond a webhook attempt's deadline: recording its result
MAX_RESPONSE_BYTES = 64 * 1024  # read of a webhook response; the rest is not waited for
DEAD_LETTER_KIND = "handover.delivery"  # a delivery whose processing crashed (leadflow/deadletter)


class DestinationRefusedError(DomainError):
    code = "webhook_destination_refused"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


# --- writing ---------------------------------------------------------------------------------

Text = Callable[[], tuple[str, str]]
"""A notification's (title, body), written when called: ``OutboxBatch`` calls it in the
recipient's language and time zone (``leadflow.i18n.for_user``) before the rows are stored."""


class Reader(NamedTuple):
    """What ``leadflow.i18n.for_user`` reads of a recipient: their language and time zone."""

    language: str
    time_zone: str

    @classmethod
    def of(cls, user: User) -> "Reader":
        return cls(user.language, user.time_zone)


@dataclass
class OutboxBatch:
    """Collects rows for one transaction and writes them with a few bulk INSERTs."""

    now: datetime = field(default_factory=timezone.now)
    notifications: list[Notification] = field(default_factory=list)
    emails: list[Delivery] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # notifications (and their e-mail) whose text is written for their recipient on write
    texts: list[tuple[Notification, Delivery | None, Text, Reader | None]] = field(
        default_factory=list
    )

    def notify(
        self,
        *,
        recipient_id: int | None,
        kind: str,
        text: Text | None = None,
        reader: Reader | None = None,
        title: str = "",
        body: str = "",
        lead_id: int | None = None,
        handover_id: int | None = None,
        timer_id: int | None = None,
        email: bool = True,
        link: str = "",
    ) -> None:
        """A notification (and its e-mail) for ``recipient_id``. ``text`` writes its title and
        body in the recipient's language and time zone (see ``Text``), read with the rows' other
        recipients' when they are written, unless the caller has them already (``reader``);
        ``title`` and ``body`` are stored as given; ``link`` (else the handover's or the lead's
        page) is where it leads."""
        if recipient_id is None:
            return
        if not link and handover_id:
            link = f"{settings.SITE_URL}/handover/{handover_id}/"
        if not link and lead_id:
            link = f"{settings.SITE_URL}/leads/{lead_id}/"
        notification = Notification(
            recipient_id=recipient_id,
            kind=kind,
            title=title[:200],
            body=body,
            link=link,
            lead_id=lead_id,
            handover_id=handover_id,
            created_at=self.now,
        )
        self.notifications.append(notification)
        delivery = None
        if email:
            delivery = Delivery(
                channel=Delivery.Channel.EMAIL,
                recipient_id=recipient_id,
                payload={
                    "kind": kind,
                    "title": title,
                    "body": body,
                    "lead_id": lead_id,
                    "handover_id": handover_id,
                    "timer_id": timer_id,
                    "link": link,
                },
                next_attempt_at=self.now,
                enqueued_at=self.now,
                created_at=self.now,
            )
            self.emails.append(delivery)
        if text is not None:
            self.texts.append((notification, delivery, text, reader))

    def event(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(data)))

    def flush(self) -> list[int]:
        """Insert everything collected; returns the new delivery ids (queued on commit). In a
        batch scope (a bulk job's batch of leads) the rows are written with the other leads'
        at the end of the batch, in the same transaction, and no ids are returned."""
        taken = OutboxBatch(self.now, self.notifications, self.emails, self.events, self.texts)
        self.notifications, self.emails, self.events, self.texts = [], [], [], []
        if batchscope.defer("handover.outbox", _write, taken):
            return []
        return _write([taken])


def _write_texts(
    texts: Sequence[tuple[Notification, Delivery | None, Text, Reader | None]],
) -> None:
    """Write each notification's title and body for its recipient: in their language and time
    zone (read in one query for all the recipients of a write the callers did not know)."""
    unknown = {n.recipient_id for n, _d, _t, reader in texts if reader is None}
    readers = {
        pk: Reader(language, time_zone)
        for pk, language, time_zone in (
            User.objects.filter(pk__in=unknown).values_list("pk", "language", "time_zone")
            if unknown
            else ()
        )
    }
    for notification, delivery, text, reader in texts:
        with for_user(reader or readers.get(notification.recipient_id)):
            title, body = text()
        notification.title, notification.body = title[:200], body
        if delivery is not None:
            delivery.payload["title"], delivery.payload["body"] = title, body


def _write(batches: Sequence[OutboxBatch]) -> list[int]:
    _write_texts([t for b in batches for t in b.texts])
    notifications = [n for b in batches for n in b.notifications]
    emails = [e for b in batches for e in b.emails]
    events = [(t, d, b.now) for b in batches for t, d in b.events]
    if notifications:
        Notification.objects.bulk_create(notifications)
    # No e-mail about a person who unsubscribed or was erased is queued (privacy, issue 9).
    quiet = uncontactable_leads(d.payload.get("lead_id") for d in emails)
    deliveries = [d for d in emails if d.payload.get("lead_id") not in quiet]
    if events:
        deliveries += _webhook_deliveries(events)
    if deliveries:
        Delivery.objects.bulk_create(deliveries)
    ids = [d.pk for d in deliveries]
    if ids:
        transaction.on_commit(lambda: enqueue(ids))
    return ids


def _subscriptions() -> list[WebhookSubscription]:
    return batchscope.cached(
        "handover.webhook_subscriptions",
        lambda: list(WebhookSubscription.objects.filter(active=True).only("id", "event_types")),
    )


def webhooks_want(event_type: str) -> bool:
    """Whether an active subscription takes ``event_type`` (before building costly payloads)."""
    return any(event_type in s.event_types for s in _subscriptions())


def _webhook_deliveries(events: Sequence[tuple[str, dict[str, Any], datetime]]) -> list[Delivery]:
    subscriptions = _subscriptions()
    wanted = [e for e in events if any(e[0] in s.event_types for s in subscriptions)]
    if not wanted:
        return []
    _fill_tags(data for _type, data, _now in wanted)
    rows = [WebhookEvent(type=t, payload={}, created_at=now) for t, _data, now in wanted]
    for row, (event_type, data, now) in zip(rows, wanted, strict=True):
        row.payload = _jsonable(
            {"id": str(row.event_id), "type": event_type, "created_at": now, "data": data}
        )
    WebhookEvent.objects.bulk_create(rows)
    return [
        Delivery(
            channel=Delivery.Channel.WEBHOOK,
            event=row,
            subscription=sub,
            next_attempt_at=row.created_at,
            enqueued_at=row.created_at,
            created_at=row.created_at,
        )
        for row in rows
        for sub in subscriptions
        if row.type in sub.event_types
    ]


SUPPRESSED = "Suppressed: the lead unsubscribed from e-mail or was erased."


def uncontactable_leads(lead_ids: Iterable[object]) -> set[int]:
    """Those of ``lead_ids`` no e-mail may be about: opted out of e-mail, or erased."""
    ids = {int(i) for i in lead_ids if isinstance(i, int)}
    if not ids:
        return set()
    return set(
        Lead.objects.filter(pk__in=ids)
        .filter(Q(email_opt_out=True) | Q(erased_at__isnull=False))
        .values_list("pk", flat=True)
    )


def suppress_lead_emails(*, lead_id: int) -> int:
    """Cancel the pending e-mails about a lead (called in its unsubscribe/erasure transaction).

    Rows already claimed by a worker are refused by the check in ``_send_email``, which reads the
    lead at the moment of sending: no attempt that starts after the unsubscribe commits sends.
    """
    return Delivery.objects.filter(
        channel=Delivery.Channel.EMAIL, status=Delivery.Status.PENDING, payload__lead_id=lead_id
    ).update(status=Delivery.Status.DEAD, last_error=SUPPRESSED, locked_until=None)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


class _TagsOnWrite:
    """Stands for a lead's tag names in a snapshot until the outbox writes its events: all the
    leads of a write (a bulk job's batch) are read in one query then, instead of one per lead,
    and only for events a subscription wants."""

    def __repr__(self) -> str:
        return "<tags read on write>"


TAGS_ON_WRITE: Final = _TagsOnWrite()


def lead_snapshot(lead: Lead, *, tags: Iterable[str] | None = None) -> dict[str, Any]:
    """The lead as webhook payloads show it. ``custom``: every custom field value (webhooks
    are integrations an admin set up); ``tags``: names, sorted. Tags come from ``tags``, else
    from the lead's prefetched tags, else they are read when the event is written (see
    ``_fill_tags``)."""
    if tags is None and "tags" in getattr(lead, "_prefetched_objects_cache", {}):
        tags = [tag.name for tag in lead.tags.all()]
    return {
        "id": lead.pk,
        "email": lead.email,
        "external_id": lead.external_id,
        "name": lead.display_name,
        "company": lead.company,
        "stage": lead.stage,
        "source": lead.source,
        "score": lead.score,
        "fit_score": lead.fit_score,
        "engagement_score": lead.engagement_score,
        "grade": lead.grade,
        "owner_id": lead.owner_id,
        "team_id": lead.team_id,
        "custom": dict(lead.custom or {}),
        "tags": sorted(tags) if tags is not None else TAGS_ON_WRITE,
    }


def _fill_tags(datas: Iterable[Mapping[str, Any]]) -> None:
    """Put the tag names into every lead snapshot of ``datas`` that waits for them: one query."""
    waiting = [
        d["lead"]
        for d in datas
        if isinstance(d.get("lead"), dict) and d["lead"].get("tags") is TAGS_ON_WRITE
    ]
    if not waiting:
        return
    names: dict[int, list[str]] = {}
    rows = Lead.tags.through.objects.filter(lead_id__in={s["id"] for s in waiting})
    for lead_id, name in rows.values_list("lead_id", "tag__name"):
        names.setdefault(lead_id, []).append(name)
    for snapshot in waiting:
        snapshot["tags"] = sorted(names.get(snapshot["id"], []))


def enqueue(delivery_ids: Sequence[int]) -> None:
    """Hand ids to Celery. A broker outage is not an error: the sweeper re-drives the rows.

    Webhooks go out per subscription: one drain task per subscription with due rows (up to its
    in-flight share), so a slow endpoint's task never holds another endpoint's rows. E-mails go
    in chunks of ids.
    """
    from handover.tasks import outbox_deliver_task, webhook_drain_task

    rows = list(Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "subscription_id"))
    emails = [pk for pk, subscription_id in rows if subscription_id is None]
    per_subscription = Counter(sub for _pk, sub in rows if sub is not None)
    try:
        for subscription_id, count in sorted(per_subscription.items()):
            for _slot in range(min(count, settings.HANDOVER_WEBHOOK_MAX_IN_FLIGHT)):
                webhook_drain_task.delay(subscription_id)
        for start in range(0, len(emails), ENQUEUE_CHUNK):
            outbox_deliver_task.delay(emails[start : start + ENQUEUE_CHUNK])
    except Exception:  # the broker is down or refused: the rows wait for the sweeper
        logger.warning("outbox: could not enqueue %d deliveries; sweeper will", len(delivery_ids))


# --- delivering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None = None
    error: str = ""
    response_excerpt: str = ""
    permanent: bool = False  # no retry can help (refused destination, no e-mail address)


def _lease(channel: str) -> timedelta:
    """How long a claimed row stays ours: always longer than the attempt it is claimed for.

    A webhook attempt ends by its deadline, so the lease covers the whole request plus a margin
    for recording the result; the sweeper frees a row only if its worker died mid-attempt.
    """
    seconds = float(settings.HANDOVER_OUTBOX_LEASE_SECONDS)
    if channel == Delivery.Channel.WEBHOOK:
        seconds = max(seconds, settings.HANDOVER_WEBHOOK_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)
    return timedelta(seconds=seconds)


def _claim(
    *, now: datetime, delivery_id: int | None = None, subscription_id: int | None = None
) -> Delivery | None:
    """Take one due row for one attempt (PENDING → SENDING, with a lease), or None.

    Rows are claimed one at a time right before they are sent, so a lease never covers rows
    waiting behind a slow request. A webhook row is taken only while its subscription has fewer
    than ``HANDOVER_WEBHOOK_MAX_IN_FLIGHT`` rows being sent; the count is read under a lock on
    the subscription row (FOR NO KEY UPDATE: new deliveries pointing at it still insert), so two
    workers cannot both pass it.
    """
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
    with transaction.atomic():
        if delivery_id is not None:
            found = list(due.filter(pk=delivery_id).values_list("subscription_id", flat=True))
            if not found:
                return None
            subscription_id = found[0]
            due = due.filter(pk=delivery_id)
        if subscription_id is not None:
            locked = WebhookSubscription.objects.select_for_update(no_key=True)
            if not list(locked.filter(pk=subscription_id).values_list("pk", flat=True)):
                return None
            in_flight = Delivery.objects.filter(
                subscription_id=subscription_id, status=Delivery.Status.SENDING
            ).count()
            if in_flight >= settings.HANDOVER_WEBHOOK_MAX_IN_FLIGHT:
                return None  # the worker sending now takes this row next (see subscription_drain)
            due = due.filter(subscription_id=subscription_id)
        delivery = (
            due.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "subscription", "recipient")
            .order_by("next_attempt_at", "pk")
            .first()
        )
        if delivery is None:
            return None
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.SENDING,
            locked_until=now + _lease(delivery.channel),
            attempts=F("attempts") + 1,
        )
    delivery.attempts += 1
    return delivery


def _attempt(delivery: Delivery, now: datetime | None) -> str:
    """Try a claimed row once and record the result (committed on its own)."""
    started, clock = timezone.now(), time.monotonic()
    try:
        if delivery.channel == Delivery.Channel.WEBHOOK:
            result = _send_webhook(delivery)
        else:
            result = _send_email(delivery)
    except Exception as exc:  # a bug or an unexpected library error is still just a failed try
        logger.exception("outbox: delivery %s failed unexpectedly", delivery.pk)
        result = AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    duration = int((time.monotonic() - clock) * 1000)
    return _record(delivery, result, max(started, now or started), duration)


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Claim ``delivery_id`` if due, try it once, log the attempt; returns the new status."""
    return deliver_batch(delivery_ids=[delivery_id], now=now).get(delivery_id)


def deliver_batch(*, delivery_ids: Sequence[int], now: datetime | None = None) -> dict[int, str]:
    """Try each due row among ``delivery_ids`` once, claiming it right before its attempt.

    A worker killed mid-batch can resend at most the one row it was sending; the rows after it
    were never claimed. Returns {id: new status} for the rows this call tried.
    """
    outcome = {}
    for delivery_id in delivery_ids:
        delivery = _claim(now=now or timezone.now(), delivery_id=delivery_id)
        if delivery is not None:
            outcome[delivery.pk] = _attempt_isolated(delivery, now)
    return outcome


def _attempt_isolated(delivery: Delivery, now: datetime | None) -> str:
    """``_attempt``, with a row whose processing crashes (its result cannot be recorded, say)
    set aside: parked as dead with the error, its lease given back, and recorded as a dead
    letter — so it neither holds its subscription's in-flight slot until the lease expires nor
    comes back first after every sweep. A failed *send* is not a crash: it is retried as usual.
    """
    try:
        return _attempt(delivery, now)
    except Exception as exc:
        if not deadletter.isolable(exc):
            raise
        with transaction.atomic():
            _park(delivery.pk, exc)
            deadletter.record(DEAD_LETTER_KIND, delivery.pk, exc)
        return Delivery.Status.DEAD


def _park(delivery_id: int, exc: BaseException) -> None:
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING).update(
        status=Delivery.Status.DEAD,
        locked_until=None,
        last_error=f"Set aside (see dead letters): {type(exc).__name__}: {exc}"[:500],
    )


def delivery_retry(delivery_id: int) -> None:
    """A delivery set aside: a fresh set of attempts, and one of them now, in this process
    (raises if its processing crashes again; a failed send is retried with backoff as usual)."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.DEAD).update(
        status=Delivery.Status.PENDING,
        max_attempts=F("attempts") + rules.MAX_ATTEMPTS,
        next_attempt_at=now,
        enqueued_at=now,  # (the sweeper leaves it to us)
    )
    delivery = _claim(now=now, delivery_id=delivery_id)
    if delivery is None:
        return  # delivered meanwhile, or being sent
    try:
        _attempt(delivery, now)
    except Exception as exc:
        _park(delivery.pk, exc)
        raise


def subscription_drain(
    *, subscription_id: int, now: datetime | None = None, budget: float | None = None
) -> tuple[int, bool]:
    """Send one subscription's due webhooks, oldest first, one claim at a time.

    Stops when nothing is due, when the subscription already has its share of requests in
    flight (the worker sending them takes the rest, since it claims again after each), or after
    ``budget`` seconds (then ``more`` is True and the caller queues another drain, so the
    worker slot goes back to the queue). Returns (attempts made, more).
    """
    if budget is None:
        budget = settings.HANDOVER_WEBHOOK_DRAIN_SECONDS
    stop = time.monotonic() + budget
    tried = 0
    while True:
        delivery = _claim(now=now or timezone.now(), subscription_id=subscription_id)
        if delivery is None:
            return tried, False
        _attempt_isolated(delivery, now)
        tried += 1
        if time.monotonic() >= stop:
            return tried, True


@transaction.atomic
def _record(delivery: Delivery, result: AttemptResult, started: datetime, duration_ms: int) -> str:
    finished = max(timezone.now(), started)  # (started is later when a test or replay passes now)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=started,
        duration_ms=duration_ms,
        ok=result.ok,
        status_code=result.status_code,
        error=result.error[:500],
        response_excerpt=result.response_excerpt[:500],
    )
    if result.ok:
        status, fields = Delivery.Status.DELIVERED, {"delivered_at": finished, "last_error": ""}
    elif result.permanent or delivery.attempts >= delivery.max_attempts:
        status, fields = Delivery.Status.DEAD, {"last_error": result.error[:500]}
    else:
        status = Delivery.Status.PENDING
        fields = {
            "last_error": result.error[:500],
            "next_attempt_at": finished + rules.retry_delay(delivery.attempts),
            "enqueued_at": None,  # the sweeper queues it again when it falls due
        }
    # Only if still ours (the lease did not expire and hand the row to someone else).
    Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts
    ).update(status=status, locked_until=None, **fields)
    return status


class DeadlineExceededError(TimeoutError):
    """The attempt's deadline passed (raised before a socket call that would start too late)."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise DeadlineExceededError
        return left


def _getaddrinfo(host: str, port: int, deadline: _Deadline | None) -> list[Any]:
    """``socket.getaddrinfo``, given up at the deadline (it has no timeout of its own)."""
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if deadline is None or literal:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    answer: list[Any] = []
    failure: list[OSError] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            answer.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            failure.append(exc)
        finally:
            done.set()

    # A daemon thread: a resolver that never answers is left behind, not waited for.
    threading.Thread(target=resolve, name="webhook-dns", daemon=True).start()
    if not done.wait(deadline.remaining()):
        raise DeadlineExceededError
    if failure:
        raise failure[0]
    return answer


def resolve_destination(
    url: str, *, deadline: _Deadline | None = None
) -> tuple[str, str, int, str]:
    """(scheme, host, port, ip) of a webhook URL, refusing non-global addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefusedError(_("%(url)s is not an http(s) URL.") % {"url": repr(url)})
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = _getaddrinfo(parts.hostname, port, deadline)
    except TimeoutError:
        raise
    except OSError as exc:
        raise DestinationRefusedError(
            _("Cannot resolve %(host)s: %(error)s.") % {"host": parts.hostname, "error": exc}
        ) from None
    addresses = [str(info[4][0]) for info in infos]
    if not settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            why = rules.refused_address(address)
            if why:
                raise DestinationRefusedError(
                    # Translators: %(why)s says what kind of address it is (loopback, private...)
                    _(
                        "%(host)s resolves to %(address)s (%(why)s), which is not globally "
                        "routable; webhooks go to public addresses only "
                        "(set LEADFLOW_WEBHOOK_ALLOW_PRIVATE=1 to allow)."
                    )
                    % {"host": parts.hostname, "address": address, "why": why}
                )
    return parts.scheme, parts.hostname, port, addresses[0]


class _DeadlineSocket:
    """A connected socket whose every send and read gets only what is left of the deadline.

    A plain socket timeout bounds each read on its own, so an endpoint dripping a byte every
    few seconds never times out; here each call's timeout shrinks to the time remaining.
    ``http.client`` only needs ``sendall``, ``makefile`` and ``close`` of it.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.remaining())
        self._sock.sendall(data)  # (the timeout bounds the whole sendall since Python 3.5)

    def recv_into(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        """The real socket is closed by ``_send_webhook`` once the response is read."""


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


def webhook_request(delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers of a webhook delivery (signed now, with both schemes)."""
    assert delivery.event is not None  # noqa: S101
    assert delivery.subscription is not None  # noqa: S101
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    secret, event_id = delivery.subscription.secret, str(delivery.event.event_id)
    return body, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        rules.EVENT_HEADER: delivery.event.type,
        rules.EVENT_ID_HEADER: event_id,
        rules.TIMESTAMP_HEADER: str(stamp),
        rules.SIGNATURE_HEADER: rules.sign(secret=secret, timestamp=stamp, body=body),
        rules.STANDARD_ID_HEADER: event_id,
        rules.STANDARD_TIMESTAMP_HEADER: str(stamp),
        rules.STANDARD_SIGNATURE_HEADER: rules.standard_sign(
            secret=secret, msg_id=event_id, timestamp=stamp, body=body
        ),
        "X-LeadFlow-Delivery": str(delivery.pk),
        "X-LeadFlow-Attempt": str(delivery.attempts),
    }


def _send_webhook(delivery: Delivery) -> AttemptResult:
    """One POST, all of it (DNS, connect, TLS, send, the whole response) within the deadline."""
    assert delivery.subscription is not None  # noqa: S101
    deadline = _Deadline(settings.HANDOVER_WEBHOOK_TIMEOUT_SECONDS)
    url = delivery.subscription.url
    step = "resolving the host"
    sock: socket.socket | None = None
    response: http.client.HTTPResponse | None = None
    try:
        try:
            scheme, host, port, ip = resolve_destination(url, deadline=deadline)
        except DestinationRefusedError as exc:
            return AttemptResult(ok=False, error=exc.message, permanent=True)
        body, headers = webhook_request(delivery)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers["Host"] = host if parts.port is None else f"{host}:{port}"
        step = "connecting"
        sock = socket.create_connection((ip, port), timeout=deadline.remaining())
        if scheme == "https":  # to the checked IP, with SNI and certificate checks for the host
            step = "in the TLS handshake"
            sock.settimeout(deadline.remaining())  # (bounds the whole handshake, not each read)
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        conn = http.client.HTTPConnection(host, port)
        conn.sock = _DeadlineSocket(sock, deadline)
        step = "sending the request"
        conn.request("POST", path, body=body, headers=headers)
        step = "waiting for the response"
        response = conn.getresponse()
        step = "reading the response"
        excerpt = response.read(500)
        read = len(excerpt)
        while read < MAX_RESPONSE_BYTES:  # the whole response, or this much of it
            chunk = response.read(min(65536, MAX_RESPONSE_BYTES - read))
            if not chunk:
                break
            read += len(chunk)
    except TimeoutError:
        return AttemptResult(
            ok=False,
            status_code=response.status if response is not None else None,
            error=f"Deadline exceeded after {deadline.seconds:g} s ({step}).",
        )
    except (OSError, http.client.HTTPException) as exc:
        return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc} ({step}).")
    finally:
        if response is not None:
            response.close()
        if sock is not None:
            sock.close()
    assert response is not None  # noqa: S101  (set when no exception was raised)
    ok = 200 <= response.status < 300  # redirects are not followed (and not success)
    return AttemptResult(
        ok=ok,
        status_code=response.status,
        error="" if ok else f"HTTP {response.status}",
        response_excerpt=excerpt.decode("utf-8", "replace"),
    )


def _send_email(delivery: Delivery) -> AttemptResult:
    from handover.selectors import email_context  # the data a rep needs, read at send time

    user = delivery.recipient
    if user is None or not user.email:
        return AttemptResult(ok=False, error="The recipient has no e-mail address.", permanent=True)
    if uncontactable_leads([delivery.payload.get("lead_id")]):
        return AttemptResult(ok=False, error=SUPPRESSED, permanent=True)
    with for_user(user):  # the recipient's language and time zone, whoever's worker sends it
        context = email_context(payload=delivery.payload, recipient=user)
        title = delivery.payload["title"] if "title" in delivery.payload else _("Notification")
        subject = f"[LeadFlow] {title}"[:200]
        text = render_to_string("handover/email/notification.txt", context)
        html = render_to_string("handover/email/notification.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [user.email])
    message.attach_alternative(html, "text/html")
    message.extra_headers["X-LeadFlow-Delivery"] = str(delivery.pk)
    message.send()
    return AttemptResult(ok=True)


# --- sweeping and redelivery ---------------------------------------------------------------------


def outbox_sweep(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Re-drive stuck rows: expired leases back to pending, due rows not recently queued."""
    now = now or timezone.now()
    stale = Delivery.objects.filter(status=Delivery.Status.SENDING, locked_until__lt=now)
    lost = list(stale.values_list("pk", "attempts")[:limit])
    if lost:
        with transaction.atomic():
            DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(
                    delivery_id=pk,
                    number=attempts,
                    started_at=now,
                    ok=False,
                    error="No result: the worker stopped during this attempt.",
                )
                for pk, attempts in lost
            )
            for pk, attempts in lost:
                Delivery.objects.filter(
                    pk=pk, status=Delivery.Status.SENDING, attempts=attempts
                ).update(
                    status=Delivery.Status.PENDING,
                    locked_until=None,
                    next_attempt_at=now,
                    enqueued_at=None,
                )
    requeue_before = now - timedelta(seconds=settings.HANDOVER_OUTBOX_REQUEUE_SECONDS)
    due = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before)
    )
    ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    if ids:
        Delivery.objects.filter(pk__in=ids).update(enqueued_at=now)
        enqueue(ids)
    return len(ids)


class DeliveryChangedError(DomainError):
    code = "delivery_changed"


@transaction.atomic
def delivery_redeliver(
    *,
    delivery_id: int,
    expected: str | None = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Delivery:
    """Manual redelivery: a delivered or dead row gets a fresh set of attempts, now (audited).

    ``expected`` is the row's ``delivery_state`` as the caller saw it (a page's form): when the
    row has moved on since (a second click of the same button), nothing is queued again and
    ``DeliveryChangedError`` says so."""
    now = timezone.now()
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if expected is not None and expected != delivery_state(delivery):
        raise DeliveryChangedError(
            _(
                "This delivery changed since the page was shown (already redelivered?); "
                "nothing was queued again."
            )
        )
    if delivery.status == Delivery.Status.SENDING:
        raise DomainError(_("This delivery is being attempted right now."))
    audit_record(
        action="webhook.redeliver",
        actor=actor,
        target_type="delivery",
        target_id=delivery.pk,
        details={"subscription": delivery.subscription_id, "status": delivery.status},
        request=request,
    )
    delivery.status = Delivery.Status.PENDING
    delivery.max_attempts = delivery.attempts + rules.MAX_ATTEMPTS
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "enqueued_at"])
    transaction.on_commit(lambda: enqueue([delivery_id]))
    return delivery


def delivery_state(delivery: Delivery) -> str:
    """What a redelivery form carries to prove it saw the row as it is (see above)."""
    return f"{delivery.status}:{delivery.attempts}:{delivery.max_attempts}"


def deliver_now(ids: Iterable[int]) -> None:
    """Attempt each id once in this process (the task body; also used by benchmarks)."""
    deliver_batch(delivery_ids=list(ids))
