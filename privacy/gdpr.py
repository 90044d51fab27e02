"""GDPR: right of access (export), erasure, and retention of raw activities.

Layer: privacy → handover → leads. Erasure de-identifies rather than deletes the lead row (see
docs/privacy.md): the append-only stage log and every report keep their counts.
"""

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Membership
from companies.services import members_end
from handover.models import (
    Delivery,
    DeliveryAttempt,
    Handover,
    Notification,
    QualificationChecklist,
    SlaTimer,
    WebhookEvent,
)
from handover.outbox import suppress_lead_emails
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.models import AuditEvent, DeadLetter, User
from leads import customfields
from leads.models import Activity, Identity, Lead, Note, StageChange, Task
from leads.services import LeadNotFoundError
from privacy import blocklist
from privacy.models import ConsentEvent, DuplicatePair, ImportRowError, MergeRecord
from privacy.selectors import subject_leads

RETENTION_BATCH = 5000


def retention_purge(*, days: int | None = None) -> int:
    """Delete raw activities older than ``days`` (setting PRIVACY_ACTIVITY_RETENTION_DAYS), in
    batches of short transactions; returns how many. 0 days = keep forever."""
    keep = settings.PRIVACY_ACTIVITY_RETENTION_DAYS if days is None else days
    if not keep:
        return 0
    cutoff = timezone.now() - timedelta(days=keep)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Activity.objects.filter(occurred_at__lt=cutoff)
                .order_by("pk")
                .values_list("pk", flat=True)[:RETENTION_BATCH]
            )
            if not ids:
                return total
            total += Activity.objects.filter(pk__in=ids).delete()[0]


# --- right of access ---------------------------------------------------------------------------


# Apps above privacy (capture) hold personal data too: they add their part of an export and of
# an erasure here (in their AppConfig.ready), so privacy imports none of them.
PersonalData = Callable[[Lead], dict[str, Any]]
Erasure = Callable[[Lead, list[str]], dict[str, int]]
_PERSONAL_DATA: list[PersonalData] = []
_ERASURES: list[Erasure] = []


def register_personal_data(source: PersonalData) -> None:
    if source not in _PERSONAL_DATA:
        _PERSONAL_DATA.append(source)


def register_erasure(step: Erasure) -> None:
    """``step(lead, needles)`` removes or scrubs the lead's rows; returns counts per table."""
    if step not in _ERASURES:
        _ERASURES.append(step)


def _rows(qs: Any, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in exclude} for row in qs.values()]


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    return loaded


def personal_data(*, lead: Lead) -> dict[str, Any]:
    """Everything held about one person, as JSON-ready data (GDPR art. 15)."""
    lead_fields = {f.name: getattr(lead, f.attname) for f in Lead._meta.concrete_fields}
    deliveries = Delivery.objects.filter(payload__lead_id=lead.pk)
    events = WebhookEvent.objects.filter(payload__data__lead__id=lead.pk)
    return _jsonable(
        {
            "format": "leadflow.personal-data/1",
            "exported_at": timezone.now(),
            "lead": lead_fields,
            "scores": {
                "score": lead.score,
                "fit_score": lead.fit_score,
                "engagement_score": lead.engagement_score,
                "grade": lead.grade,
                "scored_at": lead.scored_at,
                "conversion_probability": lead.conversion_probability,
            },
            "identities": _rows(Identity.objects.filter(lead=lead), ("lead_id",)),
            "activities": _rows(Activity.objects.filter(lead=lead).order_by("occurred_at", "id")),
            "stage_history": _rows(
                StageChange.objects.filter(lead=lead).order_by("changed_at", "id")
            ),
            "consent": _rows(ConsentEvent.objects.filter(lead=lead).order_by("at", "id")),
            "notes": _rows(Note.objects.filter(lead=lead).order_by("created_at", "id")),
            "tags": sorted(lead.tags.values_list("name", flat=True)),
            # the custom values with their fields' labels (the raw values are in "lead")
            "custom_fields": [
                {"key": f.key, "label": f.label, "value": (lead.custom or {}).get(f.key)}
                for f in customfields.lead_fields().values()
                if (lead.custom or {}).get(f.key) is not None
            ],
            "tasks": _rows(Task.objects.filter(lead=lead).order_by("created_at", "id")),
            "handovers": _rows(Handover.objects.filter(lead=lead).order_by("id")),
            "account_memberships": _rows(
                Membership.objects.filter(lead=lead).order_by("started_at", "id"), ("lead_id",)
            ),
            "qualification": _rows(QualificationChecklist.objects.filter(lead=lead)),
            "sla_timers": _rows(SlaTimer.objects.filter(lead=lead).order_by("id")),
            "notifications": _rows(Notification.objects.filter(lead_id=lead.pk).order_by("id")),
            "email_deliveries": _rows(deliveries.order_by("id")),
            "webhook_events": _rows(events.order_by("id")),
            "merges": _rows(MergeRecord.objects.filter(survivor=lead).order_by("id")),
            **{key: value for source in _PERSONAL_DATA for key, value in source(lead).items()},
        }
    )


@transaction.atomic
def lead_export(
    *,
    lead_id: int,
    actor: User | None,
    request: HttpRequest | None = None,
    subject_email: str | None = None,
) -> dict[str, Any]:
    """The person's data (``personal_data``), audited. ``subject_email`` is the e-mail the
    request was made for (the data-subject request page); by default the lead's own."""
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        raise LeadNotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        )
    data = personal_data(lead=lead)
    audit_record(
        action="lead.export",
        actor=actor,
        target_type="lead",
        target_id=lead.pk,
        details={
            "subject_hash": subject_hash(subject_email or lead.email),
            "sections": {k: len(v) for k, v in data.items() if isinstance(v, list)},
        },
        request=request,
    )
    return data


def subject_hash(email: str | None) -> str:
    """How the audit log names the person of an export or erasure: the blocklist's keyed hash of
    the e-mail (no personal data; the same e-mail always gives the same hash)."""
    return blocklist.digest(blocklist.Kind.EMAIL, email)


# --- erasure -----------------------------------------------------------------------------------

ERASED = "[erased]"
# Lead columns cleared on erasure. Kept for aggregates: stage, dates, source/UTM, industry,
# company size, country, seniority, scores, deal value, owner and team (see docs/privacy.md).
# Custom field values go: an admin's field may hold anything personal (a mobile, a LinkedIn URL).
_CLEARED: dict[str, Any] = {
    "email": None,
    "external_id": None,
    "first_name": "",
    "last_name": "",
    "phone": "",
    "phone_normalized": "",
    "job_title": "",
    "company": "",
    "domain": "",
    "traits": {},
    "custom": {},
}


def _needles(lead: Lead, identities: list[str]) -> list[str]:
    """The strings that identify the person, longest first (so "Ada Lovelace" goes before "Ada")."""
    found = {
        lead.email or "",
        lead.external_id or "",
        lead.phone,
        lead.display_name if lead.first_name or lead.last_name else "",
        f"{lead.first_name} {lead.last_name}".strip(),
        lead.first_name if len(lead.first_name) >= 3 else "",
        lead.last_name if len(lead.last_name) >= 3 else "",
        *identities,
    }
    return sorted((n for n in found if n and len(n) >= 3), key=len, reverse=True)


def scrub(value: Any, needles: list[str]) -> Any:
    """``value`` with every needle (case-insensitive) replaced, walking into JSON."""
    if isinstance(value, str):
        for needle in needles:
            value = re.sub(re.escape(needle), ERASED, value, flags=re.IGNORECASE)
        return value
    if isinstance(value, list):
        return [scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, needles) for k, v in value.items()}
    return value


def _scrub_rows(qs: Any, fields: tuple[str, ...], needles: list[str]) -> int:
    changed = 0
    for obj in qs.only("pk", *fields):
        updates = {f: scrub(getattr(obj, f), needles) for f in fields}
        if any(updates[f] != getattr(obj, f) for f in fields):
            type(obj).objects.filter(pk=obj.pk).update(**updates)
            changed += 1
    return changed


@transaction.atomic
def lead_erase(
    *,
    lead_id: int,
    actor: User | None,
    reason: str = "",
    request: HttpRequest | None = None,
    subject_email: str | None = None,
) -> Lead:
    """Erase a person (GDPR art. 17): personal data removed or anonymised in every table.

    The lead row stays as a de-identified tombstone (``erased_at`` set), so the append-only
    stage log, funnel and cohort reports keep their totals. Its identifiers' keyed hashes go to
    the blocklist, so neither an import nor the API can bring the person back.
    """
    try:
        lead = Lead.objects.select_for_update().get(pk=lead_id)
    except Lead.DoesNotExist:
        raise LeadNotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        ) from None
    if lead.erased_at is not None:
        return lead
    now = timezone.now()
    identity_values = list(Identity.objects.filter(lead=lead).values_list("value", flat=True))
    # leads merged into this one were the same person: their identifiers go too
    merged = list(MergeRecord.objects.filter(survivor=lead).values_list("snapshot", flat=True))
    for snapshot in merged:
        identity_values += [
            str(snapshot.get(k) or "") for k in ("email", "external_id", "phone")
        ] + [f"{snapshot.get('first_name', '')} {snapshot.get('last_name', '')}".strip()]
    needles = _needles(lead, identity_values)
    subject = subject_hash(subject_email or lead.email)
    blocked = blocklist.block(
        {"email": lead.email, "external_id": lead.external_id, "phone": lead.phone}
    )
    if subject_email:  # the e-mail the request named (an identity, not the lead's own e-mail)
        blocked += blocklist.block({"email": subject_email})
    for snapshot in merged:
        blocked += blocklist.block(snapshot)
    counts: dict[str, int] = {}
    # leads
    counts["identities"] = Identity.objects.filter(lead=lead).delete()[0]
    activities = Activity.objects.filter(lead=lead)
    counts["activities"] = activities.update(properties={})  # kind, time, source stay for reports
    _scrub_rows(activities, ("name",), needles)
    for pk, message_id in activities.exclude(message_id=None).values_list("pk", "message_id"):
        if scrub(message_id, needles) != message_id:
            Activity.objects.filter(pk=pk).update(message_id=None)
    counts["stage_changes"] = _scrub_rows(
        StageChange.objects.filter(lead=lead), ("reason",), needles
    )
    # people's notes about the person are personal data through and through; task titles
    # ("call Ada back") are scrubbed so the follow-up history keeps its shape
    counts["notes"] = Note.objects.filter(lead=lead).delete()[0]
    counts["tasks"] = _scrub_rows(Task.objects.filter(lead=lead), ("title",), needles)
    # the person no longer belongs to an account (nor counts in its score); the links stay as
    # history without a person in them
    counts["account_memberships"] = members_end(lead_id=lead.pk, at=now)
    # handover: pending e-mails cancelled; texts and payloads scrubbed; the delivery log too
    suppress_lead_emails(lead_id=lead.pk)
    counts["handovers"] = _scrub_rows(Handover.objects.filter(lead=lead), ("comment",), needles)
    counts["checklists"] = _scrub_rows(
        QualificationChecklist.objects.filter(lead=lead), ("answers",), needles
    )
    counts["notifications"] = _scrub_rows(
        Notification.objects.filter(lead_id=lead.pk), ("title", "body"), needles
    )
    deliveries = Delivery.objects.filter(payload__lead_id=lead.pk)
    events = WebhookEvent.objects.filter(payload__data__lead__id=lead.pk)
    counts["deliveries"] = _scrub_rows(deliveries, ("payload", "last_error"), needles)
    counts["webhook_events"] = _scrub_rows(events, ("payload",), needles)
    Delivery.objects.filter(event__in=events, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.DEAD, last_error="Cancelled: the person was erased."
    )
    attempts = DeliveryAttempt.objects.filter(
        Q(delivery__in=deliveries) | Q(delivery__event__in=events)
    )
    counts["delivery_attempts"] = _scrub_rows(attempts, ("error", "response_excerpt"), needles)
    # privacy's own tables and the audit log's free text about this lead
    counts["consent_events"] = _scrub_rows(
        ConsentEvent.objects.filter(lead=lead), ("source",), needles
    )
    counts["audit_events"] = _scrub_rows(
        AuditEvent.objects.filter(target_type="lead", target_id=str(lead.pk)), ("details",), needles
    )
    counts["merge_records"] = MergeRecord.objects.filter(survivor=lead).update(snapshot={})
    ImportRowError.objects.filter(value__in=[n for n in needles if len(n) <= 200]).delete()
    # a database error about an item set aside can quote its values (a key's e-mail)
    counts["dead_letters"] = _scrub_rows(DeadLetter.objects.all(), ("error",), needles)
    DuplicatePair.objects.filter(Q(lead_a=lead) | Q(lead_b=lead)).delete()
    for step in _ERASURES:
        counts.update(step(lead, needles))
    # Django admin's change log names the object
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Lead), object_id=str(lead.pk)
    ).update(object_repr=_("Lead #%(id)s (erased)") % {"id": lead.pk}, change_message="[]")
    # the lead row itself
    for name, value in _CLEARED.items():
        setattr(lead, name, value)
    lead.email_opt_out, lead.do_not_call = True, True
    lead.email_opt_out_at = lead.email_opt_out_at or now
    lead.erased_at = now
    lead.save()
    audit_record(
        action="lead.erase",
        actor=actor,
        target_type="lead",
        target_id=lead.pk,
        details={
            "subject_hash": subject,
            "reason": scrub(reason, needles)[:300],
            "blocked": blocked,
            "rows": counts,
        },
        request=request,
    )
    return lead


class NothingHeldError(DomainError):
    code = "nothing_held"
    status = 409


class SubjectChangedError(DomainError):
    code = "subject_changed"
    status = 409


@transaction.atomic
def subject_erase(
    *,
    email: str,
    lead_ids: list[int],
    actor: User,
    reason: str = "",
    request: HttpRequest | None = None,
) -> list[Lead]:
    """Erase every lead the e-mail names (the data-subject request page), all or none.

    ``lead_ids`` are the leads the requester reviewed: if what the e-mail names has changed since
    (a lead created, merged or erased meanwhile), nothing is erased and they are asked to look
    again. Each lead goes through ``lead_erase`` (one audit row each, with the subject's hash).
    """
    found = sorted(subject_leads(email=email, user=actor))
    if not found:
        raise NothingHeldError(
            _("Nothing is held about %(email)s: there is nothing to erase.") % {"email": email},
            field="email",
        )
    if found != sorted(set(lead_ids)):
        raise SubjectChangedError(
            _(
                "What is held about this person changed since the page was shown; "
                "review it again before erasing."
            ),
            field="email",
        )
    return [
        lead_erase(
            lead_id=lead_id, actor=actor, reason=reason, request=request, subject_email=email
        )
        for lead_id in found
    ]
