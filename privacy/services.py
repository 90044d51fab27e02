"""Consent and unsubscribe. (Imports: ``privacy.imports``; GDPR: ``privacy.gdpr``; merge:
``privacy.merge``.)

Layer: privacy → handover → leads → leadflow.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from handover.outbox import suppress_lead_emails
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.models import User
from leads.models import ActivityKind, Lead
from leads.services import LeadNotFoundError, activity_record
from privacy.models import Channel, ConsentEvent, MergeRecord

_UNSUBSCRIBE_SALT = "privacy.unsubscribe"


class InvalidUnsubscribeTokenError(DomainError):
    code = "invalid_unsubscribe_token"
    status = 400


def unsubscribe_token(*, lead_id: int, channel: str = Channel.EMAIL) -> str:
    """A signed, non-expiring token naming the lead and channel (nothing guessable, no e-mail)."""
    return str(
        signing.dumps({"l": lead_id, "c": str(channel)}, salt=_UNSUBSCRIBE_SALT, compress=True)
    )


def unsubscribe_url(*, lead_id: int, channel: str = Channel.EMAIL) -> str:
    token = unsubscribe_token(lead_id=lead_id, channel=channel)
    return f"{settings.SITE_URL}{reverse('privacy:unsubscribe', args=[token])}"


def list_unsubscribe_headers(*, lead_id: int) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers for a marketing e-mail to this lead (one-click POST)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(lead_id=lead_id)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    try:
        data = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
        lead_id, channel = int(data["l"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidUnsubscribeTokenError(
            _("This unsubscribe link is not valid (it may have been cut short)."), field="token"
        ) from None
    if channel not in Channel.values:
        raise InvalidUnsubscribeTokenError(_("This unsubscribe link names no channel."))
    return lead_id, channel


@transaction.atomic
def consent_record(
    *,
    lead_id: int,
    channel: str,
    granted: bool,
    source: str,
    actor: User | None = None,
    at: datetime | None = None,
    request: HttpRequest | None = None,
) -> ConsentEvent:
    """Record consent given or withdrawn for one channel; withdrawal takes effect at once.

    E-mail withdrawn: the lead is flagged (handover's outbox then queues and sends no e-mail about
    it), its pending e-mails are cancelled in this transaction, and an ``unsubscribe`` activity is
    recorded so scoring's negative rule applies.
    """
    if channel not in Channel.values:
        raise DomainError(
            _("Unknown channel %(channel)s; expected %(expected)s.")
            % {"channel": repr(channel), "expected": ", ".join(Channel.values)},
            field="channel",
        )
    at = at or timezone.now()
    try:
        lead = Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist:
        raise LeadNotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        ) from None
    if granted and lead.erased_at is not None:
        raise DomainError(_("This person was erased; consent cannot be recorded."), field="lead")
    event = ConsentEvent.objects.create(
        lead=lead,
        channel=channel,
        granted=granted,
        source=source[:100],
        at=at,
        actor=actor if actor is not None and actor.pk else None,
    )
    fields: list[str] = []
    if channel == Channel.EMAIL:
        was_out = lead.email_opt_out
        lead.email_opt_out = not granted
        lead.email_opt_out_at = None if granted else (lead.email_opt_out_at or at)
        fields += ["email_opt_out", "email_opt_out_at"]
        if not granted:
            suppress_lead_emails(lead_id=lead.pk)
            if not was_out:
                activity_record(
                    lead_id=lead.pk,
                    kind=ActivityKind.UNSUBSCRIBE,
                    name="Unsubscribed from e-mail",
                    occurred_at=at,
                    properties={"channel": channel, "source": source[:100]},
                    source="privacy",
                )
    elif channel == Channel.PHONE:
        lead.do_not_call = not granted
        fields.append("do_not_call")
    if fields:
        lead.save(update_fields=[*fields, "updated_at"])
    audit_record(
        action="consent.grant" if granted else "consent.withdraw",
        actor=actor,
        target_type="lead",
        target_id=lead.pk,
        details={"channel": channel, "source": source[:100]},
        request=request,
    )
    return event


def unsubscribe(*, token: str, source: str = "one-click unsubscribe") -> int:
    """The one-click unsubscribe: idempotent; returns the lead id. The person's IP address is
    not logged (it would be personal data about them in the audit log)."""
    lead_id, channel = read_unsubscribe_token(token)
    lead_id = resolve_merged(lead_id=lead_id)
    consent_record(lead_id=lead_id, channel=channel, granted=False, source=source)
    return lead_id


@transaction.atomic
def consent_withdraw_all(*, lead_id: int, source: str, actor: User | None = None) -> int:
    """Withdraw every consent the person gave, one ConsentEvent per channel (e-mail, phone, SMS,
    website tracking), in one transaction: e-mail stops as ``consent_record`` says, and the
    browser SDK destination refuses the person's next tracking call (``capture.sdk_consent``
    reads the history on every request: no cache). Returns the number of channels."""
    at = timezone.now()
    for channel in Channel.values:
        consent_record(
            lead_id=lead_id, channel=channel, granted=False, source=source, actor=actor, at=at
        )
    return len(Channel.values)


def unsubscribe_all(*, token: str, source: str = "unsubscribe page: withdraw all") -> int:
    """The unsubscribe page's "withdraw all my consent": every channel, whatever channel the
    link names (it proves the person's mailbox). Idempotent; returns the lead id."""
    lead_id, _channel = read_unsubscribe_token(token)
    lead_id = resolve_merged(lead_id=lead_id)
    consent_withdraw_all(lead_id=lead_id, source=source)
    return lead_id


def resolve_merged(*, lead_id: int) -> int:
    """The lead an id stands for now: a lead merged away resolves to its survivor."""
    for _hop in range(20):  # a chain of merges; bounded
        if Lead.objects.filter(pk=lead_id).exists():
            return lead_id
        record = MergeRecord.objects.filter(merged_lead_id=lead_id).order_by("-id").first()
        if record is None:
            return lead_id
        lead_id = record.survivor_id
    return lead_id


def consent_state(*, lead: Lead) -> dict[str, dict[str, Any]]:
    """The latest consent per channel: granted?, source, at (None when never recorded)."""
    state: dict[str, dict[str, Any]] = {}
    for event in ConsentEvent.objects.filter(lead=lead).order_by("channel", "-at", "-id"):
        state.setdefault(
            event.channel, {"granted": event.granted, "source": event.source, "at": event.at}
        )
    return state
