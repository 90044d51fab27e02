"""Tracking consent for the browser SDKs (issue 19 item 5): a gate on a public key's messages,
registered with ``leads.extensions.register_browser_gate`` (``leads`` may not read privacy's
consent history itself).

- ``ApiKey.tracking_consent_required``: a message is accepted only when its context shows the
  visitor's consent (``leads.api.segment_context.consent_given``: analytics-next's
  ``context.consent.categoryPreferences`` with a true category, or RudderStack's
  ``context.consentManagement.allowedConsentIds`` non-empty); else item error
  ``consent_required``.
- Whatever the setting: a person whose latest *tracking* ConsentEvent is a withdrawal (found
  by the message's anonymousId, userId or e-mail) is refused ``consent_withdrawn``, consent
  context or not. The history is read on every request, so a withdrawal (the unsubscribe page's
  "withdraw all my consent") stops the next call at once.
"""

from collections.abc import Sequence

from django.db.models import Q
from django.utils.translation import gettext as _

from leadflow.models import ApiKey
from leads.ingest import ItemError, Message
from leads.models import Identity, Lead
from privacy.models import Channel, ConsentEvent


def withdrawn_leads(messages: Sequence[Message]) -> dict[str, set[str]]:
    """The ids (by kind: anonymous, user, email) of the messages' people who withdrew tracking
    consent. Three queries per batch whatever its size."""
    anonymous = {m.anonymous_id for m in messages if m.anonymous_id}
    users = {m.user_id for m in messages if m.user_id}
    emails = {m.email for m in messages if m.email}
    if not (anonymous or users or emails):
        return {}
    match = Q(pk__in=[])
    if anonymous:
        match |= Q(identities__kind=Identity.Kind.ANONYMOUS_ID, identities__value__in=anonymous)
    if users:
        match |= Q(external_id__in=users)
        match |= Q(identities__kind=Identity.Kind.USER_ID, identities__value__in=users)
    if emails:
        match |= Q(email__in=emails)
    lead_ids = set(Lead.objects.filter(match).values_list("pk", flat=True))
    if not lead_ids:
        return {}
    latest: dict[int, bool] = {}
    events = ConsentEvent.objects.filter(lead_id__in=lead_ids, channel=Channel.TRACKING)
    for lead_id, granted in events.order_by("lead_id", "-at", "-id").values_list(
        "lead_id", "granted"
    ):
        latest.setdefault(lead_id, granted)
    out_ids = [lead_id for lead_id, granted in latest.items() if not granted]
    if not out_ids:
        return {}
    found: dict[str, set[str]] = {"anonymous": set(), "user": set(), "email": set()}
    for kind, value in Identity.objects.filter(lead_id__in=out_ids).values_list("kind", "value"):
        found["anonymous" if kind == Identity.Kind.ANONYMOUS_ID else "user"].add(value)
    for external_id, email in Lead.objects.filter(pk__in=out_ids).values_list(
        "external_id", "email"
    ):
        if external_id:
            found["user"].add(external_id)
        if email:
            found["email"].add(email)
    return found


def tracking_consent_gate(key: ApiKey, messages: Sequence[Message]) -> dict[int, ItemError]:
    """The refusals for a public key's batch (``leads.extensions.BrowserGate``)."""
    refused: dict[int, ItemError] = {}
    withdrawn = withdrawn_leads(messages)
    for m in messages:
        if withdrawn and (
            m.anonymous_id in withdrawn["anonymous"]
            or m.user_id in withdrawn["user"]
            or m.email in withdrawn["email"]
        ):
            refused[m.index] = ItemError(
                m.index,
                "consent_withdrawn",
                _("This visitor has withdrawn consent to tracking: nothing was recorded."),
            )
        elif key.tracking_consent_required and not m.consent_given:
            refused[m.index] = ItemError(
                m.index,
                "consent_required",
                _(
                    "This site records visits only with the visitor's consent, and the message "
                    "carries none (context.consent.categoryPreferences or "
                    "context.consentManagement.allowedConsentIds): nothing was recorded."
                ),
                field="context.consent",
            )
    return refused
