"""Duplicate detection and merge.

Layer: privacy → handover → leads. A merge re-points every row of the duplicate to the survivor —
activities, stage log, identities, consent, handovers, SLA timers, notifications, checklists —
fills the survivor's empty fields, deletes the duplicate row (nothing references it any more),
and records the merge in the audit log, a MergeRecord (with the duplicate's fields) and the
survivor's timeline. The survivor is marked dirty, so scoring recomputes it from all inputs.
"""

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.services import members_fold
from handover.models import Delivery, Handover, Notification, QualificationChecklist, SlaTimer
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.models import User
from leads.events import stage_log_rewritten
from leads.models import Activity, ActivityKind, Identity, Lead, Note, StageChange, Task
from leads.services import (
    EDITABLE_FIELDS,
    LeadNotFoundError,
    activity_record,
    leads_mark_for_rescore,
    normalize_phone,
)
from privacy.models import ConsentEvent, DuplicatePair, MergeRecord

FREEMAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
        "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me",
        "protonmail.com", "mail.ru", "yandex.ru", "qq.com", "163.com",
    }
)  # fmt: skip
MAX_GROUP = 25  # a key shared by more leads than this is junk ("n/a", a switchboard number)
NAME_GROUP_MAX = 300  # people per (company domain, last-name initial) compared pairwise
NAME_SIMILARITY = 0.8


class MergeError(DomainError):
    code = "merge_refused"


# --- detection ----------------------------------------------------------------------------------


def canonical_email(email: str | None) -> str:
    """lower case, "+tag" dropped, Gmail's dots ignored: what one mailbox receives."""
    if not email or "@" not in email:
        return ""
    local, domain = email.lower().rsplit("@", 1)
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def phone_key(phone: str | None) -> str:
    digits = normalize_phone(phone).lstrip("+")
    return digits[-9:] if len(digits) >= 7 else ""  # national and +CC forms share the tail


def _name(first: str, last: str) -> str:
    return re.sub(r"\s+", " ", f"{first} {last}".lower()).strip()


def name_similarity(a: tuple[str, str], b: tuple[str, str]) -> float:
    full_a, full_b = _name(*a), _name(*b)
    if not full_a or not full_b:
        return 0.0
    first_a, first_b = a[0].strip().lower().rstrip("."), b[0].strip().lower().rstrip(".")
    same_last = a[1].strip().lower() == b[1].strip().lower()
    if same_last and first_a and first_b and (len(first_a) == 1 or len(first_b) == 1):
        return 0.9 if first_a[0] == first_b[0] else 0.0
    return SequenceMatcher(None, full_a, full_b).ratio()


def _pairs(ids: list[int]) -> Iterable[tuple[int, int]]:
    ids = sorted(ids)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            yield a, b


def duplicates_scan(*, now: datetime | None = None) -> int:
    """Find likely duplicates among live leads; returns the number of open pairs afterwards."""
    now = now or timezone.now()
    by_email: dict[str, list[int]] = defaultdict(list)
    by_phone: dict[str, list[int]] = defaultdict(list)
    by_name: dict[tuple[str, str], list[tuple[int, str, str]]] = defaultdict(list)
    rows = Lead.objects.filter(erased_at__isnull=True).values_list(
        "pk", "email", "phone", "domain", "first_name", "last_name"
    )
    for pk, email, phone, domain, first, last in rows.iterator(chunk_size=5000):
        if key := canonical_email(email):
            by_email[key].append(pk)
        if key := phone_key(phone):
            by_phone[key].append(pk)
        if domain and domain not in FREEMAIL and last.strip():
            by_name[(domain.lower(), last.strip().lower()[:1])].append((pk, first, last))
    found: dict[tuple[int, int], tuple[str, float]] = {}
    for groups, reason in (
        (by_email, DuplicatePair.Reason.EMAIL),
        (by_phone, DuplicatePair.Reason.PHONE),
    ):
        for ids in groups.values():
            if 1 < len(ids) <= MAX_GROUP:
                for pair in _pairs(ids):
                    found.setdefault(pair, (reason, 1.0))
    for people in by_name.values():
        if not 1 < len(people) <= NAME_GROUP_MAX:
            continue
        for i, (a, first_a, last_a) in enumerate(people):
            for b, first_b, last_b in people[i + 1 :]:
                score = name_similarity((first_a, last_a), (first_b, last_b))
                if score >= NAME_SIMILARITY:
                    pair = (min(a, b), max(a, b))
                    found.setdefault(pair, (DuplicatePair.Reason.NAME_DOMAIN, round(score, 3)))
    DuplicatePair.objects.bulk_create(
        [
            DuplicatePair(lead_a_id=a, lead_b_id=b, reason=r, similarity=s, found_at=now)
            for (a, b), (r, s) in found.items()
        ],
        ignore_conflicts=True,  # a pair seen before keeps its status (dismissed stays dismissed)
        batch_size=1000,
    )
    return DuplicatePair.objects.filter(status=DuplicatePair.Status.OPEN).count()


@transaction.atomic
def duplicate_dismiss(*, pair_id: int, actor: User | None) -> DuplicatePair:
    pair = DuplicatePair.objects.select_for_update().get(pk=pair_id)
    pair.status = DuplicatePair.Status.DISMISSED
    pair.save(update_fields=["status"])
    return pair


# --- merge --------------------------------------------------------------------------------------

_FILLABLE = tuple(
    f for f in EDITABLE_FIELDS if f not in ("traits", "custom", "email_opt_out", "do_not_call")
)


def _snapshot(lead: Lead) -> dict[str, Any]:
    data = model_to_dict(lead, exclude=["tags"])  # (tags move to the survivor; not a field)
    data.update(id=lead.pk, created_at=lead.created_at, updated_at=lead.updated_at)
    loaded: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return loaded


@transaction.atomic
def lead_merge(
    *,
    survivor_id: int,
    duplicate_id: int,
    actor: User | None,
    request: HttpRequest | None = None,
) -> Lead:
    """Fold ``duplicate_id`` into ``survivor_id``; nothing of either lead is lost."""
    if survivor_id == duplicate_id:
        raise MergeError(_("A lead cannot be merged with itself."), field="duplicate")
    locked = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update()
        .filter(pk__in=[survivor_id, duplicate_id])
        .order_by("pk")  # always the same lock order: two merges cannot deadlock
    }
    for pk, name in ((survivor_id, "survivor"), (duplicate_id, "duplicate")):
        if pk not in locked:
            raise LeadNotFoundError(_("There is no lead with id %(id)s.") % {"id": pk}, field=name)
        if locked[pk].erased_at is not None:
            raise MergeError(
                _("Lead #%(id)s was erased and cannot be merged.") % {"id": pk}, field=name
            )
    survivor, duplicate = locked[survivor_id], locked[duplicate_id]
    now = timezone.now()
    snapshot = _snapshot(duplicate)
    moved: dict[str, int] = {}
    moved["activities"] = Activity.objects.filter(lead=duplicate).update(lead=survivor)
    moved["stage_changes"] = StageChange.objects.filter(lead=duplicate).update(lead=survivor)
    moved["identities"] = Identity.objects.filter(lead=duplicate).update(lead=survivor)
    moved["consent_events"] = ConsentEvent.objects.filter(lead=duplicate).update(lead=survivor)
    moved["notes"] = Note.objects.filter(lead=duplicate).update(lead=survivor)
    moved["tasks"] = Task.objects.filter(lead=duplicate).update(lead=survivor)
    duplicate_tags = list(duplicate.tags.all())  # the survivor keeps every tag of both
    moved["tags"] = len(set(duplicate_tags) - set(survivor.tags.all()))
    survivor.tags.add(*duplicate_tags)
    moved.update(_repoint_handover(survivor=survivor, duplicate=duplicate, now=now, actor=actor))
    MergeRecord.objects.filter(survivor=duplicate).update(survivor=survivor)
    # fields: the survivor's win; its empty ones are filled from the duplicate
    filled = []
    for name in _FILLABLE:
        if getattr(survivor, name) in ("", None) and getattr(duplicate, name) not in ("", None):
            setattr(survivor, name, getattr(duplicate, name))
            filled.append(name)
    if not survivor.phone_normalized and duplicate.phone_normalized:
        survivor.phone_normalized = duplicate.phone_normalized
    survivor.traits = {**duplicate.traits, **survivor.traits}
    # custom values key by key, the survivor's winning (a dict is never "empty" to fill above)
    survivor.custom = {**(duplicate.custom or {}), **(survivor.custom or {})}
    # consent: the stricter wins (an opt-out on either record is honoured)
    survivor.email_opt_out = survivor.email_opt_out or duplicate.email_opt_out
    outs = [t for t in (survivor.email_opt_out_at, duplicate.email_opt_out_at) if t]
    survivor.email_opt_out_at = min(outs) if outs else None
    survivor.do_not_call = survivor.do_not_call or duplicate.do_not_call
    if survivor.deal_value is None:
        survivor.deal_value = duplicate.deal_value
    members_fold(survivor_id=survivor.pk, duplicate_id=duplicate_id, at=now)  # account links
    duplicate.delete()  # everything pointing at it was moved above; unique e-mail is now free
    survivor.save()
    leads_mark_for_rescore([survivor.pk], at=now)  # scoring recomputes it from all inputs
    # the survivor's stage log now holds both histories: readers that keep rollups refresh them
    stage_log_rewritten.send(sender=Lead, lead_ids=[survivor.pk, duplicate_id])
    MergeRecord.objects.create(
        survivor=survivor,
        merged_lead_id=duplicate_id,
        snapshot=snapshot,
        moved=moved,
        actor=actor if actor is not None and actor.pk else None,
        at=now,
    )
    activity_record(
        lead_id=survivor.pk,
        kind=ActivityKind.CUSTOM,
        name=f"Merged with lead #{duplicate_id}",
        occurred_at=now,
        properties={"merged_lead_id": duplicate_id, "moved": moved, "filled": filled},
        source="privacy",
    )
    audit_record(
        action="lead.merge",
        actor=actor,
        target_type="lead",
        target_id=survivor.pk,
        details={"merged_lead_id": duplicate_id, "moved": moved, "filled": filled},
        request=request,
    )
    survivor.refresh_from_db()
    return survivor


def lead_merge_by_integration(survivor_id: int, duplicate_id: int) -> None:
    """``lead_merge`` for ingestion (a Segment ``alias`` naming two leads): no person acts."""
    lead_merge(survivor_id=survivor_id, duplicate_id=duplicate_id, actor=None)


def _repoint_handover(
    *, survivor: Lead, duplicate: Lead, now: datetime, actor: User | None
) -> dict[str, int]:
    """Handover rows of the duplicate move to the survivor, keeping the one-open rules."""
    if Handover.objects.filter(lead=survivor, status=Handover.Status.OPEN).exists():
        Handover.objects.filter(lead=duplicate, status=Handover.Status.OPEN).update(
            status=Handover.Status.CANCELLED,
            decided_at=now,
            decided_by=actor if actor is not None and actor.pk else None,
            comment=_("Cancelled: the lead was merged into another with an open handover."),
        )
    running = set(
        SlaTimer.objects.filter(lead=survivor, state=SlaTimer.State.RUNNING).values_list(
            "stage", flat=True
        )
    )
    SlaTimer.objects.filter(lead=duplicate, state=SlaTimer.State.RUNNING, stage__in=running).update(
        state=SlaTimer.State.CANCELLED, stopped_at=now, next_action_at=None
    )
    moved = {
        "handovers": Handover.objects.filter(lead=duplicate).update(lead=survivor),
        "sla_timers": SlaTimer.objects.filter(lead=duplicate).update(lead=survivor),
        "notifications": Notification.objects.filter(lead_id=duplicate.pk).update(
            lead_id=survivor.pk
        ),
    }
    checklists = 0
    for checklist in QualificationChecklist.objects.filter(lead=duplicate):
        mine = QualificationChecklist.objects.filter(
            lead=survivor, framework_id=checklist.framework_id
        ).first()
        if mine is None:
            checklist.lead = survivor
            checklist.save(update_fields=["lead"])
        else:  # both answered the same framework: keep the survivor's, add what it lacks
            mine.answers = {**checklist.answers, **mine.answers}
            mine.save(update_fields=["answers"])
            checklist.delete()
        checklists += 1
    moved["checklists"] = checklists
    deliveries = 0
    for delivery in Delivery.objects.filter(payload__lead_id=duplicate.pk):
        delivery.payload = {**delivery.payload, "lead_id": survivor.pk}
        delivery.save(update_fields=["payload"])
        deliveries += 1
    moved["deliveries"] = deliveries
    return moved
