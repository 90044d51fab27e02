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
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from handover import rules
from handover.models import (
    Delivery,
    DeliveryAttempt,
    Notification,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow.exceptions import DomainError
from leads.models import Lead

logger = logging.getLogger(__name__)
ENQUEUE_CHUNK = 50
USER_AGENT = "LeadFlow-Webhooks/1"


class DestinationRefusedError(DomainError):
    code = "webhook_destination_refused"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


def _lease() -> timedelta:
    return timedelta(seconds=settings.HANDOVER_OUTBOX_LEASE_SECONDS)


# --- writing ---------------------------------------------------------------------------------


@dataclass
class OutboxBatch:
    """Collects rows for one transaction and writes them with a few bulk INSERTs."""

    now: datetime = field(default_factory=timezone.now)
    notifications: list[Notification] = field(default_factory=list)
    emails: list[Delivery] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def notify(
        self,
        *,
        recipient_id: int | None,
        kind: str,
        title: str,
        body: str = "",
        lead_id: int | None = None,
        handover_id: int | None = None,
        timer_id: int | None = None,
        email: bool = True,
    ) -> None:
        if recipient_id is None:
            return
        link = f"{settings.SITE_URL}/handover/{handover_id}/" if handover_id else ""
        if not link and lead_id:
            link = f"{settings.SITE_URL}/leads/{lead_id}/"
        self.notifications.append(
            Notification(
                recipient_id=recipient_id,
                kind=kind,
                title=title[:200],
                body=body,
                link=link,
                lead_id=lead_id,
                handover_id=handover_id,
                created_at=self.now,
            )
        )
        if email:
            self.emails.append(
                Delivery(
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
            )

    def event(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(data)))

    def flush(self) -> list[int]:
        """Insert everything collected; returns the new delivery ids (queued on commit)."""
        if self.notifications:
            Notification.objects.bulk_create(self.notifications)
        # No e-mail about a person who unsubscribed or was erased is queued (privacy, issue 9).
        quiet = uncontactable_leads(d.payload.get("lead_id") for d in self.emails)
        deliveries = [d for d in self.emails if d.payload.get("lead_id") not in quiet]
        if self.events:
            deliveries += _webhook_deliveries(self.events, self.now)
        if deliveries:
            Delivery.objects.bulk_create(deliveries)
        ids = [d.pk for d in deliveries]
        if ids:
            transaction.on_commit(lambda: enqueue(ids))
        self.notifications, self.emails, self.events = [], [], []
        return ids


def _webhook_deliveries(
    events: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> list[Delivery]:
    subscriptions = list(WebhookSubscription.objects.filter(active=True).only("id", "event_types"))
    wanted = [(t, d) for t, d in events if any(t in s.event_types for s in subscriptions)]
    if not wanted:
        return []
    rows = [WebhookEvent(type=t, payload={}, created_at=now) for t, _ in wanted]
    for row, (event_type, data) in zip(rows, wanted, strict=True):
        row.payload = _jsonable(
            {"id": str(row.event_id), "type": event_type, "created_at": now, "data": data}
        )
    WebhookEvent.objects.bulk_create(rows)
    return [
        Delivery(
            channel=Delivery.Channel.WEBHOOK,
            event=row,
            subscription=sub,
            next_attempt_at=now,
            enqueued_at=now,
            created_at=now,
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


def lead_snapshot(lead: Lead) -> dict[str, Any]:
    """The lead as webhook payloads show it."""
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
    }


def enqueue(delivery_ids: Sequence[int]) -> None:
    """Hand ids to Celery. A broker outage is not an error: the sweeper re-drives the rows."""
    from handover.tasks import outbox_deliver_task

    try:
        for start in range(0, len(delivery_ids), ENQUEUE_CHUNK):
            outbox_deliver_task.delay(list(delivery_ids[start : start + ENQUEUE_CHUNK]))
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


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Claim ``delivery_id`` if due, try it once, log the attempt; returns the new status."""
    return deliver_batch(delivery_ids=[delivery_id], now=now).get(delivery_id)


def deliver_batch(*, delivery_ids: Sequence[int], now: datetime | None = None) -> dict[int, str]:
    """Claim the due rows among ``delivery_ids`` (one statement), then try each once.

    Each attempt's result is committed on its own right after it, so a worker killed mid-batch
    can resend at most the one row it was sending; rows claimed but not yet tried just wait for
    their lease to expire. Returns {id: new status} for the rows this call tried.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=delivery_ids, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .select_related("event", "subscription", "recipient")
            .order_by("pk")
        )
        if not claimed:
            return {}
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            status=Delivery.Status.SENDING, locked_until=now + _lease(), attempts=F("attempts") + 1
        )
    outcome = {}
    for delivery in claimed:
        delivery.attempts += 1
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
        outcome[delivery.pk] = _record(delivery, result, max(started, now), duration)
    return outcome


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


def resolve_destination(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, ip) of a webhook URL, refusing non-public addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefusedError(f"{url!r} is not an http(s) URL.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DestinationRefusedError(f"Cannot resolve {parts.hostname}: {exc}.") from None
    addresses = [str(info[4][0]) for info in infos]
    if not settings.HANDOVER_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            why = rules.refused_address(address)
            if why:
                raise DestinationRefusedError(
                    f"{parts.hostname} resolves to {why} address {address}; webhooks go to public "
                    "addresses only (set LEADFLOW_WEBHOOK_ALLOW_PRIVATE=1 to allow)."
                )
    return parts.scheme, parts.hostname, port, addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an already-checked IP, with SNI and certificate checks for the host name."""

    def __init__(self, host: str, ip: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def webhook_request(delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers of a webhook delivery (signed now)."""
    assert delivery.event is not None  # noqa: S101
    assert delivery.subscription is not None  # noqa: S101
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    return body, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        rules.EVENT_HEADER: delivery.event.type,
        rules.EVENT_ID_HEADER: str(delivery.event.event_id),
        rules.TIMESTAMP_HEADER: str(stamp),
        rules.SIGNATURE_HEADER: rules.sign(
            secret=delivery.subscription.secret, timestamp=stamp, body=body
        ),
        "X-LeadFlow-Delivery": str(delivery.pk),
        "X-LeadFlow-Attempt": str(delivery.attempts),
    }


def _send_webhook(delivery: Delivery) -> AttemptResult:
    assert delivery.subscription is not None  # noqa: S101
    url = delivery.subscription.url
    try:
        scheme, host, port, ip = resolve_destination(url)
    except DestinationRefusedError as exc:
        return AttemptResult(ok=False, error=exc.message, permanent=True)
    body, headers = webhook_request(delivery)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = settings.HANDOVER_WEBHOOK_TIMEOUT_SECONDS
    conn: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(host, ip, port, timeout)
        if scheme == "https"
        else http.client.HTTPConnection(ip, port, timeout=timeout)
    )
    headers["Host"] = host if parts.port is None else f"{host}:{port}"
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = response.read(500).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    ok = 200 <= response.status < 300  # redirects are not followed (and not success)
    return AttemptResult(
        ok=ok,
        status_code=response.status,
        error="" if ok else f"HTTP {response.status}",
        response_excerpt=excerpt,
    )


def _send_email(delivery: Delivery) -> AttemptResult:
    from handover.selectors import email_context  # the data a rep needs, read at send time

    user = delivery.recipient
    if user is None or not user.email:
        return AttemptResult(ok=False, error="The recipient has no e-mail address.", permanent=True)
    if uncontactable_leads([delivery.payload.get("lead_id")]):
        return AttemptResult(ok=False, error=SUPPRESSED, permanent=True)
    context = email_context(payload=delivery.payload, recipient=user)
    subject = f"[LeadFlow] {delivery.payload.get('title', 'Notification')}"[:200]
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


@transaction.atomic
def delivery_redeliver(*, delivery_id: int) -> Delivery:
    """Manual redelivery: a delivered or dead row gets a fresh set of attempts, now."""
    now = timezone.now()
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status == Delivery.Status.SENDING:
        raise DomainError("This delivery is being attempted right now.")
    delivery.status = Delivery.Status.PENDING
    delivery.max_attempts = delivery.attempts + rules.MAX_ATTEMPTS
    delivery.next_attempt_at = now
    delivery.enqueued_at = now
    delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "enqueued_at"])
    transaction.on_commit(lambda: enqueue([delivery_id]))
    return delivery


def deliver_now(ids: Iterable[int]) -> None:
    """Attempt each id once in this process (the task body; also used by benchmarks)."""
    deliver_batch(delivery_ids=list(ids))
