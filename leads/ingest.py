"""Event ingestion: identity resolution, exactly-once activities, anonymous-visitor merge.

Used by the Segment-compatible endpoints (``leads.api.segment``) and ``/api/v1/events``. One call
is one transaction: the activities, the leads it had to create, the identities it learned and
the "needs rescoring" marks commit together or not at all.

- Exactly-once: ``Activity.message_id`` is unique; rows go in with ``ON CONFLICT DO NOTHING``
  (PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays)``, a handful of parameters whatever the
  batch size), so a re-sent batch, or two racing copies of it, store each message once.
- Identity: a ``userId`` is the lead's ``external_id`` (or an ``Identity`` of kind user_id), an
  ``anonymousId`` an ``Identity`` of kind anonymous_id, an e-mail the lead's e-mail. Behaviour
  from an unknown anonymous visitor creates an anonymous Suspect; when an ``identify`` (or any
  message carrying both ids) ties that anonymousId to a known lead, the anonymous lead's
  activities and identities move to the known lead and the empty shell is deleted.
- Parallel first messages of one new identity land on one lead: before creating anything, a
  batch locks the identity keys it did not find (``identity_keys_lock``) and looks them up
  again, so a racing batch that created the lead meanwhile is found, not collided with.
- ``identify`` upserts the lead's traits (mapped ones to columns, those an admin mapped to a
  custom field (``TraitMapping``) checked as its type into ``custom``, the rest into ``traits``),
  once per messageId (an ``IdentifyReceipt``), and by event time per field: a value older than
  the one the lead holds changes nothing, whatever order the messages arrive in.
- A public (browser) key changes a lead it did not just create only as ``leads.writepolicy``
  allows; what it could not apply is reported per item (``IngestResult.ignored``).
- Event times outside the plausibility window (``LEADFLOW_EVENT_MAX_AGE_DAYS`` back,
  ``LEADFLOW_EVENT_MAX_FUTURE_SECONDS`` ahead of the receiving clock) are item errors.
"""

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leads import customfields, events
from leads.extensions import lead_merge
from leads.lifecycle import ActorKind, Stage
from leads.models import (
    Activity,
    ActivityKind,
    IdentifyReceipt,
    Identity,
    Lead,
    RescoreMark,
    StageChange,
    TraitMapping,
)
from leads.services import (
    EDITABLE_FIELDS,
    identity_keys_lock,
    lead_create,
    lead_update,
    leads_fill_first_touch,
    leads_mark_for_rescore,
    normalize_email,
)
from leads.writepolicy import (
    CONSENT_KINDS,
    SERVER,
    SIGNATURE_FIELD,
    Caller,
    SignatureRequiredError,
    may_change,
    refusal,
)

log = logging.getLogger(__name__)

IDENTIFY, ACTIVITY, GROUP, ALIAS = "identify", "activity", "group", "alias"
# statements about a person (not activities): applied once per messageId, by IdentifyReceipt
STATEMENTS = frozenset({IDENTIFY, GROUP, ALIAS})

# identify traits stored in lead columns (Segment spec names and common variants)
TRAIT_COLUMNS: dict[str, str] = {
    "email": "email",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "phone": "phone",
    "title": "job_title",
    "jobTitle": "job_title",
    "industry": "industry",
    "country": "country",
    "source": "source",
}
# traits with a place of their own (lead columns, the company): not mappable to custom fields
RESERVED_TRAITS = frozenset({*TRAIT_COLUMNS, "company", "address"})
COLUMN_LENGTHS = {
    f.name: f.max_length for f in Lead._meta.concrete_fields if getattr(f, "max_length", None)
}


@dataclass
class Message:
    """One event or identify, already shape-checked by the endpoint that received it."""

    index: int
    type: str  # IDENTIFY, ACTIVITY, GROUP or ALIAS
    message_id: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    email: str | None = None
    lead_id: int | None = None
    kind: str = ActivityKind.CUSTOM
    name: str = ""
    occurred_at: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    time_field: str = "timestamp"  # what the sender calls ``occurred_at`` (for errors)
    user_hash: str | None = None  # the identity signature of user_id (context.userHash)
    caller: Caller = SERVER  # set by ``ingest``
    unapplied: list[str] = field(default_factory=list)  # what the caller may not change
    group_id: str | None = None  # group: the company's id
    previous_id: str | None = None  # alias: the id that becomes the same person as user_id
    utm: dict[str, str] = field(default_factory=dict)  # context.campaign as utm_* lead fields
    ignored: list[str] = field(default_factory=list)  # top-level fields outside the spec
    # identify: the clean custom field values of its mapped traits ({field key: value}), and
    # the traits they came from (``_map_traits``)
    custom: dict[str, Any] = field(default_factory=dict)
    mapped: frozenset[str] = frozenset()
    # a browser SDK's consent context says the visitor consented to tracking (segment_context)
    consent_given: bool = False


@dataclass(frozen=True)
class ItemError:
    index: int
    code: str
    message: str
    field: str | None = None
    ignored_fields: tuple[str, ...] = ()  # an item applied in part: what was not

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.ignored_fields:
            out["ignored_fields"] = list(self.ignored_fields)
        return out


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    identified: int = 0
    grouped: int = 0
    aliased: int = 0
    errors: list[ItemError] = field(default_factory=list)
    ignored: list[ItemError] = field(default_factory=list)  # items stored without some data
    # index -> (activity id or None when it was a duplicate, lead id)
    outcomes: dict[int, tuple[int | None, int]] = field(default_factory=dict)


# tags of the lookup rows that are not identities (whose tag is their kind)
_BY_EXTERNAL_ID, _BY_EMAIL, _STORED = "lead.external_id", "lead.email", "activity"


class _Resolver:
    """Maps user ids, anonymous ids and e-mails to lead ids, loading each batch in one query."""

    def __init__(self) -> None:
        self.by_user: dict[str, int] = {}
        self.by_anon: dict[str, int] = {}
        self.by_email: dict[str, int] = {}
        self.merged: dict[int, int] = {}  # lead merged away in this batch -> the one it went to

    def load(self, messages: Iterable[Message], check_stored: bool = False) -> set[str]:
        """Learn the leads of ``messages``' ids; with ``check_stored``, returns which of their
        message ids are stored (an activity's among activities, an identify's among receipts:
        a re-sent message keeps its type, and a batch of events then skips the receipts)."""
        messages = list(messages)
        users = sorted({i for m in messages for i in (m.user_id, m.previous_id) if i})
        anons = sorted({i for m in messages for i in (m.anonymous_id, m.previous_id) if i})
        emails = sorted({m.email for m in messages if m.email})
        stored: set[str] = set()
        identities: list[tuple[str, str, int]] = []
        activity_ids: set[str] = set()
        identify_ids: set[str] = set()
        for m in messages if check_stored else ():
            (identify_ids if m.type in STATEMENTS else activity_ids).add(m.message_id or "")
        found = _lookup(
            users, sorted({*users, *anons}), emails, sorted(activity_ids), sorted(identify_ids)
        )
        for tag, value, lead_id in found:
            if tag == _BY_EXTERNAL_ID:
                self.by_user[value] = lead_id
            elif tag == _BY_EMAIL:
                self.by_email[value] = lead_id
            elif tag == _STORED:
                stored.add(value)
            else:
                identities.append((tag, value, lead_id))
        for kind, value, lead_id in identities:  # after external ids, which win
            if kind == Identity.Kind.USER_ID:
                self.by_user.setdefault(value, lead_id)
            elif kind == Identity.Kind.ANONYMOUS_ID:
                self.by_anon[value] = lead_id
        return stored

    def unknown_keys(self, m: Message) -> list[str]:
        """Identity keys of ``m`` that name no lead yet (a lead may be created for them)."""
        keys = [f"user:{m.user_id}"] if m.user_id and m.user_id not in self.by_user else []
        if m.email and m.email not in self.by_email:
            keys.append(f"email:{m.email}")
        if m.anonymous_id and m.anonymous_id not in self.by_anon:
            keys.append(f"anon:{m.anonymous_id}")
        if m.previous_id and m.previous_id not in self.by_user:  # alias binds it as both
            keys.append(f"user:{m.previous_id}")
        if m.previous_id and m.previous_id not in self.by_anon:
            keys.append(f"anon:{m.previous_id}")
        return keys

    def leads_of(self, m: Message) -> set[int]:
        """Every known lead ``m`` may write (its own, its ids', an alias' previousId's)."""
        found = {
            self.known(m),
            self.by_anon.get(m.anonymous_id or ""),
            self.by_user.get(m.user_id or ""),
            self.by_user.get(m.previous_id or ""),
            self.by_anon.get(m.previous_id or ""),
        }
        return {lead_id for lead_id in found if lead_id is not None}

    def repoint(self, old: int, new: int) -> None:
        """After lead ``old`` was merged into ``new``: its ids name ``new``."""
        for ids in (self.by_user, self.by_anon, self.by_email):
            for key, lead_id in ids.items():
                if lead_id == old:
                    ids[key] = new
        self.merged[old] = new

    def current(self, lead_id: int) -> int:
        """The lead ``lead_id`` is now (following merges made in this batch)."""
        for _step in range(len(self.merged) + 1):
            if lead_id not in self.merged:
                break
            lead_id = self.merged[lead_id]
        return lead_id

    def known(self, m: Message) -> int | None:
        if m.lead_id:
            return m.lead_id
        if m.user_id and m.user_id in self.by_user:
            return self.by_user[m.user_id]
        if m.email and m.email in self.by_email:
            return self.by_email[m.email]
        return None

    def settled(self, m: Message) -> int | None:
        """The lead of ``m`` when every id it carries already points at it (no writes needed)."""
        lead_id = self.known(m)
        if lead_id is None:
            if m.user_id or m.email or not m.anonymous_id:
                return None
            return self.by_anon.get(m.anonymous_id)
        if m.user_id and self.by_user.get(m.user_id) != lead_id:
            return None
        if m.anonymous_id and self.by_anon.get(m.anonymous_id) != lead_id:
            return None
        return lead_id

    def remember(self, m: Message, lead_id: int) -> None:
        if m.user_id:
            self.by_user[m.user_id] = lead_id
        if m.anonymous_id:
            self.by_anon[m.anonymous_id] = lead_id
        if m.email:
            self.by_email[m.email] = lead_id


_LEAD, _IDENTITY, _ACTIVITY, _MARK, _RECEIPT = (
    m._meta.db_table for m in (Lead, Identity, Activity, RescoreMark, IdentifyReceipt)
)
_KINDS = ", ".join(f"'{kind}'" for kind in sorted(Identity.Kind.values))
# (select and condition, column matched against a list), in _lookup's argument order. Each is
# the key of a unique index: e-mails by lower(email) (lead_email_unique) and identities by
# (kind, value), naming every kind so the index's first column is bounded too.
_LOOKUPS = (
    (f"SELECT '{_BY_EXTERNAL_ID}', external_id, id FROM {_LEAD} WHERE", "external_id"),  # noqa: S608
    (f"SELECT kind, value, lead_id FROM {_IDENTITY} WHERE kind IN ({_KINDS}) AND", "value"),  # noqa: S608
    (f"SELECT '{_BY_EMAIL}', lower(email), id FROM {_LEAD} WHERE", "lower(email)"),  # noqa: S608
    (f"SELECT '{_STORED}', message_id, 0 FROM {_ACTIVITY} WHERE", "message_id"),  # noqa: S608
    (f"SELECT '{_STORED}', message_id, 0 FROM {_RECEIPT} WHERE", "message_id"),  # noqa: S608
)


def _lookup(
    external_ids: list[str],
    identities: list[str],
    emails: list[str],
    activity_ids: list[str],
    identify_ids: list[str],
) -> list[tuple[str, str, int]]:
    """(tag, value, lead id) rows: leads by external id and e-mail, identities by value, and
    activities and identifies already stored by message id.

    PostgreSQL: one round trip, each list sent as one JSON text. Not a parameter per value
    (psycopg re-parses statements past 50) nor a text[] (psycopg quotes arrays item by item in
    Python: ~1.5 ms per 500 ids); ``= ANY(ARRAY(subquery))`` keeps the index plans whatever
    ``random_page_cost`` says."""
    parts = [
        (select, column, values)
        for (select, column), values in zip(
            _LOOKUPS, (external_ids, identities, emails, activity_ids, identify_ids), strict=True
        )
        if values
    ]
    if not parts:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = " UNION ALL ".join(
                f"{select} {column} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s)))"
                for select, column, _values in parts
            )
            cursor.execute(sql, [orjson.dumps(values).decode() for _, _, values in parts])
            return list(cursor.fetchall())
        rows: list[tuple[str, str, int]] = []
        for select, column, values in parts:
            for start in range(0, len(values), 500):  # SQLite's variable limit
                chunk = values[start : start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"{select} {column} IN ({marks})", chunk)
                rows += cursor.fetchall()
        return rows


def _lead_fields(m: Message) -> dict[str, Any]:
    """Lead columns from an identify's traits (and its ids); the rest go to ``traits``."""
    data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in m.traits.items():
        column = TRAIT_COLUMNS.get(key)
        if key in m.mapped:
            continue  # in ``custom`` (``_map_traits``)
        if column == "country" and not (isinstance(value, str) and len(value.strip()) == 2):
            extra[key] = value  # only ISO 3166 alpha-2 fits the column
        elif column and isinstance(value, str | int | float):
            data[column] = str(value)
        elif key == "company" and isinstance(value, dict) and isinstance(value.get("name"), str):
            data["company"] = value["name"]
            extra[key] = value
        elif key == "company" and isinstance(value, str):
            data["company"] = value
        elif (
            key == "address"
            and isinstance(value, dict)
            and isinstance(value.get("country"), str)
            and len(value["country"].strip()) == 2
        ):
            data["country"] = value["country"]
            extra[key] = value
        else:
            extra[key] = value
    if m.email:
        data["email"] = m.email
    for name, value in list(data.items()):
        limit = COLUMN_LENGTHS.get(name)
        if limit and name not in ("email", "country") and len(value) > limit:
            data[name] = value[:limit]
    if extra:
        data["traits"] = extra
    if m.custom:
        data["custom"] = m.custom
    return data


def trait_mappings() -> dict[str, Any]:
    """Identify trait name -> the custom field its value goes to (Settings › Trait mappings)."""
    return {t.trait: t.field for t in TraitMapping.objects.select_related("field")}


def _map_traits(m: Message, mappings: Mapping[str, Any]) -> None:
    """Check ``m``'s mapped traits as their fields' types into ``m.custom`` (before anything of
    the item is written). A value of the wrong type fails the item: a ValidationError naming
    the trait, the field and what its type expects."""
    errors: dict[str, str] = {}
    for key, value in m.traits.items():
        target = mappings.get(key)
        if target is None:
            continue
        try:
            m.custom[target.key] = customfields.clean_value(target, value)
        except customfields.FieldValueError as exc:
            errors[f"traits.{key}"] = _(
                "trait %(trait)s maps to the custom field %(key)s (%(label)s): %(error)s"
            ) % {"trait": repr(key), "key": repr(target.key), "label": target.label, "error": exc}
    if errors:
        raise ValidationError(errors)
    m.mapped = frozenset(k for k in m.traits if k in mappings)


def _is_anonymous_id(lead_id: int) -> bool:
    row = Lead.objects.filter(pk=lead_id).values_list("email", "external_id").first()
    return row is not None and not row[0] and not row[1]


def _is_anonymous(lead: Lead) -> bool:
    return not lead.email and not lead.external_id


@transaction.atomic
def _create_anonymous_lead(*, anonymous_id: str, at: datetime) -> int:
    """A Suspect known only by a Segment anonymousId (no e-mail or external id yet)."""
    lead = Lead.objects.create(stage=Stage.SUSPECT, stage_changed_at=at, source="segment")
    events.stage_change_recorded(
        lead=lead,
        from_stage=None,
        to=Stage.SUSPECT,
        actor=None,
        actor_kind=ActorKind.SYSTEM,
        source=StageChange.Source.API,
        reason=gettext_noop("created: anonymous visitor"),  # stored; shown translated
        at=at,
    )
    Identity.objects.create(lead=lead, kind=Identity.Kind.ANONYMOUS_ID, value=anonymous_id)
    return lead.pk


def _merge_anonymous(*, source_id: int, target_id: int) -> bool:
    """Move an anonymous lead's activities and ids to ``target``; drop the shell if untouched.
    False (nothing done) when ``source`` is not anonymous."""
    if source_id == target_id:
        return False
    source = Lead.objects.select_for_update().filter(pk=source_id).first()
    if source is None or not _is_anonymous(source):
        return False  # two identified leads are merged by an alias or a person, not here
    moved = Activity.objects.filter(lead_id=source_id).update(lead_id=target_id)
    Identity.objects.filter(lead_id=source_id).update(lead_id=target_id)
    _absorb_fields(source, target_id)
    if source.stage == Stage.SUSPECT:
        source.delete()  # only its "created" stage row goes with it
    audit_record(
        action="lead.merge_anonymous",
        target_type="lead",
        target_id=target_id,
        details={"from_lead": source_id, "activities": moved},
    )
    return True


# what an anonymous lead may have learned (group, context.campaign, identify traits); its ids
# move as Identity rows, consent is never learned anonymously
_ABSORBED = tuple(
    f
    for f in EDITABLE_FIELDS
    if f not in ("email", "external_id", "traits", "custom", "email_opt_out", "do_not_call")
)


def _absorb_fields(source: Lead, target_id: int) -> None:
    """Give ``target`` what the anonymous ``source`` knew, per field (each ``traits`` key on its
    own) by the one event-time rule (``lead_update(as_of=…)``): the newer value wins. A value
    with no recorded time (``source`` = "segment" from creation, first-touch UTMs) only fills
    an empty field of the target."""
    times = source.field_times or {}
    timed: dict[str, dict[str, Any]] = {}
    untimed: dict[str, Any] = {}
    for name in _ABSORBED:
        value = getattr(source, name)
        if value not in ("", None):
            at = times.get(name)
            (timed.setdefault(at, {}) if at else untimed)[name] = value
    for group in ("traits", "custom"):  # key by key, each at its own time
        for key, value in (getattr(source, group) or {}).items():
            at = times.get(f"{group}.{key}")
            bucket = timed.setdefault(at, {}) if at else untimed
            bucket.setdefault(group, {})[key] = value
    for at, data in sorted(timed.items()):
        lead_update(lead_id=target_id, data=data, as_of=datetime.fromisoformat(at))
    if untimed:
        target = Lead.objects.get(pk=target_id)
        fill = {
            name: value
            for name, value in untimed.items()
            if name not in ("traits", "custom") and getattr(target, name) in ("", None)
        }
        if traits := {k: v for k, v in untimed.get("traits", {}).items() if k not in target.traits}:
            fill["traits"] = traits
        held = target.custom or {}
        if custom := {k: v for k, v in untimed.get("custom", {}).items() if k not in held}:
            fill["custom"] = custom
        if fill:  # timed as the shell's creation, so any later statement replaces them
            lead_update(lead_id=target_id, data=fill, as_of=source.created_at)


def _bind(m: Message, lead_id: int, resolver: _Resolver) -> None:
    """Record that ``m``'s ids belong to ``lead_id`` (merging an anonymous lead if needed)."""
    if m.anonymous_id:
        previous = resolver.by_anon.get(m.anonymous_id)
        if previous is None:
            with transaction.atomic():
                Identity.objects.get_or_create(
                    kind=Identity.Kind.ANONYMOUS_ID,
                    value=m.anonymous_id,
                    defaults={"lead_id": lead_id},
                )
        elif previous != lead_id and _merge_anonymous(source_id=previous, target_id=lead_id):
            resolver.repoint(previous, lead_id)
    if m.user_id and resolver.by_user.get(m.user_id) != lead_id:
        current = Lead.objects.filter(pk=lead_id).values_list("external_id", flat=True).first()
        if not current:  # an anonymous (or e-mail only) lead takes the userId as external id
            lead_update(lead_id=lead_id, data={"external_id": m.user_id})
        elif current != m.user_id:
            with transaction.atomic():
                Identity.objects.get_or_create(
                    kind=Identity.Kind.USER_ID, value=m.user_id, defaults={"lead_id": lead_id}
                )
    resolver.remember(m, lead_id)


def _resolve_or_create(m: Message, resolver: _Resolver, now: datetime) -> tuple[int, bool]:
    """The lead ``m`` is about, and whether it was created from ``m``'s traits (identified,
    not anonymous); creates one when nobody matches. ``ingest`` has locked the identity keys
    nobody matched, so no concurrent request creates the same lead meanwhile."""
    created = False
    lead_id = resolver.known(m)
    if lead_id is None and m.anonymous_id and m.anonymous_id in resolver.by_anon:
        lead_id = resolver.by_anon[m.anonymous_id]
        if m.user_id and not _is_anonymous_id(lead_id):
            # a device already tied to someone else now sends as another user: a new person
            lead_id = None
    if lead_id is None:
        if m.user_id or m.email:
            data: dict[str, Any] = {"source": "segment"}
            if m.user_id:
                data["external_id"] = m.user_id
            if m.type == IDENTIFY:
                data.update(_lead_fields(m))
            elif m.email:
                data["email"] = m.email
            for _attempt in range(2):
                try:
                    with transaction.atomic():
                        lead_id = lead_create(
                            data=data, source=StageChange.Source.API, as_of=m.occurred_at
                        ).pk
                    created = True
                    break
                except IntegrityError:  # created concurrently: find it
                    resolver.load([m])
                    lead_id = resolver.known(m)
                    if lead_id is not None:
                        break
        elif m.anonymous_id:
            try:
                with transaction.atomic():
                    lead_id = _create_anonymous_lead(anonymous_id=m.anonymous_id, at=now)
            except IntegrityError:
                found = Identity.objects.filter(
                    kind=Identity.Kind.ANONYMOUS_ID, value=m.anonymous_id
                ).first()
                if found is None:
                    raise
                lead_id = found.lead_id
            resolver.by_anon[m.anonymous_id] = lead_id
    if lead_id is None:  # pragma: no cover  (endpoints require an identity)
        raise ValidationError({"userId": _("A message needs a userId or an anonymousId.")})
    if created or _may_change(m, lead_id, resolver):
        _bind(m, lead_id, resolver)
    return lead_id, created and m.type == IDENTIFY


def _may_change(m: Message, lead_id: int, resolver: _Resolver) -> bool:
    """Whether ``m`` may change ``lead_id`` beyond adding an activity (``leads.writepolicy``).
    When not, ``m.unapplied`` names what it carried that is left out (its traits, the ids it
    would link); a consent event is refused whole."""
    if may_change(m.caller, lead_id=lead_id, user_id=m.user_id, user_hash=m.user_hash):
        return True
    if m.type != IDENTIFY and m.kind in CONSENT_KINDS:
        # Translators: the event's name ("Unsubscribed", "email_bounce")
        what = _("%(event)s was not recorded") % {"event": m.name or m.kind}
        raise SignatureRequiredError(refusal(what), field=SIGNATURE_FIELD)
    m.unapplied = [f"traits.{key}" for key in sorted(m.traits)] if m.type == IDENTIFY else []
    if m.user_id and resolver.by_user.get(m.user_id) != lead_id:
        m.unapplied.append("userId")
    if m.anonymous_id and resolver.by_anon.get(m.anonymous_id) != lead_id:
        m.unapplied.append("anonymousId")
    return False


def _ignored(m: Message) -> ItemError:
    # Translators: fields: the message's fields left out ("traits.plan, userId")
    what = _("Not applied: %(fields)s") % {"fields": ", ".join(m.unapplied)}
    return ItemError(
        m.index,
        SignatureRequiredError.code,
        refusal(what),
        field=SIGNATURE_FIELD,
        ignored_fields=tuple(m.unapplied),
    )


def _receipt(m: Message, lead_id: int, now: datetime) -> bool:
    """Record that statement ``m`` is applied; False when a concurrent copy was, first."""
    try:
        with transaction.atomic():
            IdentifyReceipt.objects.create(
                message_id=m.message_id or "",
                lead_id=lead_id,
                occurred_at=m.occurred_at or now,
                received_at=now,
            )
    except IntegrityError:
        return False
    return True


def _identify(m: Message, resolver: _Resolver, now: datetime) -> int | None:
    """Apply an identify once per messageId, each trait only where nothing newer is known;
    None when a concurrent copy of the message was applied first."""
    lead_id, created = _resolve_or_create(m, resolver, now)
    if m.unapplied:  # a public key may not change this lead: nothing applied (and reported)
        return lead_id
    if not _receipt(m, lead_id, now):
        return None
    data = _lead_fields(m)
    if data and not created:  # lead_create applied them already
        lead_update(lead_id=lead_id, data=data, as_of=m.occurred_at or now)
    return lead_id


def _group(m: Message, resolver: _Resolver, now: datetime) -> int | None:
    """Attach the lead to its company, once per messageId: ``traits.company`` becomes
    ``{"id": groupId, …the group's traits}`` and the ``company`` column the group's
    ``traits.name``, each unless the lead holds a value recorded later (the identify rule).
    ``companies`` then links the lead to the account of that id (``events.group_applied``)."""
    lead_id, created = _resolve_or_create(m, resolver, now)
    if not created and m.caller.public and not _may_change(m, lead_id, resolver):
        m.unapplied = ["groupId", *m.unapplied]  # a known lead: not without a signature
        return lead_id
    if not _receipt(m, lead_id, now):
        return None
    data: dict[str, Any] = {"traits": {"company": {**m.traits, "id": m.group_id}}}
    name = m.traits.get("name")
    if isinstance(name, str) and name.strip():
        data["company"] = name.strip()[: COLUMN_LENGTHS["company"]]
    lead_update(lead_id=lead_id, data=data, as_of=m.occurred_at or now)
    events.group_applied.send(
        sender=Lead,
        lead_id=lead_id,
        group_id=m.group_id,
        traits=dict(m.traits),
        public=m.caller.public,
        at=m.occurred_at or now,
    )
    return lead_id


def _alias(m: Message, resolver: _Resolver, now: datetime) -> int | None:
    """``previousId`` becomes the same person as ``userId``, once per messageId. Its lead
    (by userId, external id or anonymousId) is merged into the userId's lead; when the userId is
    new, the previousId's lead takes it; when both are new, a lead is created. Afterwards the
    previousId names that lead as a userId and as an anonymousId (the spec allows either)."""
    prev = m.previous_id or ""
    sources = list(
        dict.fromkeys(x for x in (resolver.by_user.get(prev), resolver.by_anon.get(prev)) if x)
    )
    if m.caller.public and sources and not _may_alias(m, sources, resolver):
        return resolver.known(m) or sources[0]
    if resolver.known(m) is None and sources:
        lead_id = sources[0]  # a new userId for a known person
        _bind(m, lead_id, resolver)
    else:
        lead_id = _resolve_or_create(m, resolver, now)[0]
    if not _receipt(m, lead_id, now):
        return None
    # what previousId named before the merges (an external id goes with its merged lead)
    named = {
        Identity.Kind.USER_ID: resolver.by_user.get(prev),
        Identity.Kind.ANONYMOUS_ID: resolver.by_anon.get(prev),
    }
    for source_id in sources:
        if source_id != lead_id:
            _merge_into(source_id=source_id, target_id=lead_id)
            resolver.repoint(source_id, lead_id)
    for kind, before in named.items():
        if before != lead_id:
            with transaction.atomic():
                Identity.objects.update_or_create(
                    kind=kind, value=prev, defaults={"lead_id": lead_id}
                )
    resolver.by_user[prev] = resolver.by_anon[prev] = lead_id
    return lead_id


def _may_alias(m: Message, sources: list[int], resolver: _Resolver) -> bool:
    """A public key rewrites identities only of leads it may change (``leads.writepolicy``):
    the previousId's leads and the userId's. When not, ``m.unapplied`` says so."""
    target = resolver.known(m)
    if all(_may_change(m, x, resolver) for x in dict.fromkeys([*sources, target]) if x):
        m.unapplied = []
        return True
    m.unapplied = ["previousId"]
    return False


def _merge_into(*, source_id: int, target_id: int) -> None:
    """Fold lead ``source_id`` into ``target_id``: an anonymous shell here, an identified lead
    through the merge service (privacy's ``lead_merge``: everything re-pointed, audited)."""
    if _is_anonymous_id(source_id):
        _merge_anonymous(source_id=source_id, target_id=target_id)
        return
    try:
        lead_merge(survivor_id=target_id, duplicate_id=source_id)
    except DomainError as exc:  # e.g. an erased lead: name the alias' field, not the service's
        exc.field = "userId" if exc.field == "survivor" else "previousId"
        raise


_STATEMENT_APPLY = {IDENTIFY: _identify, GROUP: _group, ALIAS: _alias}


def _lock_leads_to_write(messages: list[Message], resolver: _Resolver) -> None:
    """Row-lock, in id order, every known lead that ``messages`` (statements, and events whose
    ids are not all settled) may write (traits, a userId learned, a lead merged), before writing
    any: batches that touch the same leads in different orders then queue instead of
    deadlocking. A lead merged away while we waited is gone: look the ids up again and lock
    their leads now."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time anyway
        return
    for _attempt in range(3):
        ids = {lead_id for m in messages for lead_id in resolver.leads_of(m)}
        if not ids:
            return
        locked = Lead.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
        if len(list(locked.values_list("pk", flat=True))) == len(ids):
            return
        resolver.load(messages)


def _window(now: datetime) -> tuple[datetime, datetime]:
    """The plausibility window for event times received at ``now``."""
    return (
        now - timedelta(days=settings.LEADFLOW_EVENT_MAX_AGE_DAYS),
        now + timedelta(seconds=settings.LEADFLOW_EVENT_MAX_FUTURE_SECONDS),
    )


def _implausible(m: Message, now: datetime) -> ItemError:
    """The item error of a message whose time is outside the window."""
    at = m.occurred_at or now
    if at < _window(now)[0]:
        days = settings.LEADFLOW_EVENT_MAX_AGE_DAYS
        message = ngettext(
            # Translators: field: the message's time field ("timestamp"); time: its ISO 8601 value
            "%(field)s %(time)s is more than %(count)d day in the past (the plausibility window).",
            "%(field)s %(time)s is more than %(count)d days in the past (the plausibility window).",
            days,
        ) % {"field": m.time_field, "time": at.isoformat(), "count": days}
    else:
        seconds = settings.LEADFLOW_EVENT_MAX_FUTURE_SECONDS
        message = ngettext(
            # Translators: field: the message's time field ("timestamp"); time: its ISO 8601 value
            "%(field)s %(time)s is more than %(count)d second in the future (the plausibility "
            "window).",
            "%(field)s %(time)s is more than %(count)d seconds in the future (the plausibility "
            "window).",
            seconds,
        ) % {"field": m.time_field, "time": at.isoformat(), "count": seconds}
    return ItemError(m.index, "implausible_time", message, field=m.time_field)


def _error_of(index: int, exc: Exception) -> ItemError:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            name, errors = next(iter(exc.message_dict.items()))
            return ItemError(index, "invalid", f"{name}: {' '.join(errors)}", field=name)
        return ItemError(index, "invalid", " ".join(exc.messages))
    if isinstance(exc, DomainError):
        return ItemError(index, exc.code, exc.message, field=exc.field)
    if isinstance(exc, IntegrityError):  # a concurrent request claimed the same id first
        return ItemError(index, "conflict", _("A concurrent request changed this lead; resend."))
    raise exc


_PLACE_ATTEMPTS = 3


def ingest(
    *,
    messages: list[Message],
    source: str = "segment",
    now: datetime | None = None,
    caller: Caller = SERVER,
) -> IngestResult:
    """Store a batch: identifies first (so events in the same batch find their lead), then every
    event once. A message that cannot be stored is reported with its index; the rest commit.
    ``caller``: who sends (``leads.writepolicy``: a public key changes known leads only signed).

    A lead can be merged away (deleted) by a concurrent alias or identify after its events were
    placed on it; PostgreSQL's deferred foreign keys then fail the commit. When this call owns
    the transaction (the endpoints), the whole batch runs again: nothing of it was kept, and the
    ids now point to the lead that is left. Inside a caller's transaction the commit is not
    ours, so the rows are checked at the insert instead (``_store_activities_relocating``),
    which costs four more round trips per batch."""
    now = now or timezone.now()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with transaction.atomic():
            return _ingest(messages, source=source, now=now, caller=caller, own_commit=False)
    for attempt in range(1, _PLACE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _ingest(messages, source=source, now=now, caller=caller, own_commit=True)
        except IntegrityError as exc:
            if attempt == _PLACE_ATTEMPTS or not _lead_merged_away(exc):
                raise
            log.info("ingest: a lead was merged away during the batch; placing it again")
    raise AssertionError("unreachable")


def _lead_merged_away(exc: IntegrityError) -> bool:
    """A commit-time foreign-key violation: a row of this batch points to a deleted lead."""
    return getattr(exc.__cause__, "sqlstate", None) == "23503"  # foreign_key_violation


def _ingest(
    messages: list[Message], *, source: str, now: datetime, caller: Caller, own_commit: bool
) -> IngestResult:
    result = IngestResult()
    for m in messages:
        m.caller = caller
    # exactly-once, cheap part: drop ids repeated in the batch or stored earlier
    seen: set[str] = set()
    fresh: list[Message] = []
    for m in messages:
        if m.message_id is None:  # the sender gave none: nothing to dedupe against
            m.message_id = f"lf-{uuid.uuid4()}"
        elif m.message_id in seen:
            result.duplicates += 1
            continue
        seen.add(m.message_id)
        fresh.append(m)
    resolver = _Resolver()
    stored_before = resolver.load(fresh, check_stored=True)
    oldest, latest = _window(now)
    pending: list[Message] = []
    for m in fresh:
        if m.message_id in stored_before:
            result.duplicates += 1
        elif m.occurred_at is not None and not oldest <= m.occurred_at <= latest:
            result.errors.append(_implausible(m, now))
        else:
            pending.append(m)
    # the messages that may write a lead (the rest only insert an activity of a known lead)
    # (and those with a campaign: the first touch may write their lead, locked with the rest)
    writers = [m for m in pending if m.type != ACTIVITY or m.utm or resolver.settled(m) is None]
    # ids nobody has yet: lock them, then look again, so a batch that created their lead while
    # we read waits to commit and is found (not a unique violation: parallel first messages)
    new_keys = [key for m in writers for key in resolver.unknown_keys(m)]
    if new_keys:
        identity_keys_lock(new_keys)
        resolver.load([m for m in writers if resolver.unknown_keys(m)])
    if writers:
        _lock_leads_to_write(writers, resolver)

    mappings = trait_mappings() if any(m.type == IDENTIFY for m in pending) else {}
    rows: list[tuple[Message, int]] = []
    # identifies first, then aliases (their merges re-point ids before events are placed)
    for m in sorted(pending, key=lambda m: _ORDER.get(m.type, len(_ORDER))):  # stable
        guarded = caller.public and m.kind in CONSENT_KINDS  # asks writepolicy even when settled
        if m.type == ACTIVITY and not guarded and (lead_id := resolver.settled(m)) is not None:
            rows.append((m, lead_id))  # the common case: a known lead, nothing to learn
            continue
        try:
            with transaction.atomic():
                if m.type == ACTIVITY:
                    rows.append((m, _resolve_or_create(m, resolver, now)[0]))
                else:
                    if m.type == IDENTIFY and mappings:
                        _map_traits(m, mappings)  # a wrong type fails the item, unwritten
                    applied = _STATEMENT_APPLY[m.type](m, resolver, now)
                    if applied is None:
                        result.duplicates += 1
                        continue
                    if not m.unapplied:  # (else nothing applied: reported in ignored below)
                        if m.type == IDENTIFY:
                            result.identified += 1
                        elif m.type == GROUP:
                            result.grouped += 1
                        else:
                            result.aliased += 1
                    result.outcomes[m.index] = (None, applied)
        except (ValidationError, DomainError, IntegrityError) as exc:
            result.errors.append(_error_of(m.index, exc))
            continue
        if m.unapplied:
            result.ignored.append(_ignored(m))
    if rows:
        if own_commit:  # a lead merged away meanwhile fails the commit: ``ingest`` reruns
            inserted = _store_activities(rows, source=source, now=now)
        else:
            rows, inserted = _store_activities_relocating(rows, source=source, now=now)
        lead_ids = sorted({lead_id for _m, lead_id in rows})
        for m, lead_id in rows:
            activity_id = inserted.get(m.message_id or "")
            if activity_id is None:
                result.duplicates += 1  # a concurrent copy of the batch stored it first
            else:
                result.stored += 1
            result.outcomes[m.index] = (activity_id, lead_id)
        events.activities_recorded.send(sender=Activity, lead_ids=lead_ids)
    _fill_first_touch(messages=pending, result=result, resolver=resolver, now=now)
    result.errors.sort(key=lambda e: e.index)
    return result


_ORDER = {IDENTIFY: 0, ALIAS: 1}


def _fill_first_touch(
    *, messages: list[Message], result: IngestResult, resolver: _Resolver, now: datetime
) -> None:
    """``context.campaign`` of the messages applied: the earliest one per lead fills the
    lead's UTM fields where all five are still empty (first touch)."""
    first: dict[int, tuple[datetime, dict[str, str]]] = {}
    for m in messages:
        outcome = result.outcomes.get(m.index)
        if not m.utm or outcome is None:
            continue
        at, lead_id = m.occurred_at or now, resolver.current(outcome[1])
        if lead_id not in first or at < first[lead_id][0]:
            first[lead_id] = (at, m.utm)
    leads_fill_first_touch(touches={lead_id: utm for lead_id, (_at, utm) in first.items()}, at=now)


def _store_activities_relocating(
    rows: list[tuple[Message, int]], *, source: str, now: datetime
) -> tuple[list[tuple[Message, int]], dict[str, int]]:
    """``_store_activities``; if a lead was merged away (deleted) after we placed its events
    (a concurrent alias or identify), place them again where their ids point now.

    PostgreSQL checks Django's foreign keys at commit (deferred): too late to place the rows
    again, so they are checked at the insert here (and deferred again afterwards)."""
    if connection.vendor != "postgresql":  # SQLite: one writer at a time, nothing moves
        return rows, _store_activities(rows, source=source, now=now)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            try:
                with transaction.atomic():
                    return rows, _store_activities(rows, source=source, now=now)
            except IntegrityError:  # a foreign key to a lead deleted meanwhile
                resolver = _Resolver()
                resolver.load([m for m, _lead_id in rows])
                rows = [(m, resolver.settled(m) or resolver.known(m) or x) for m, x in rows]
                return rows, _store_activities(rows, source=source, now=now)
        finally:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# One statement: the new rows (skipping message ids already stored) and a rescoring mark for
# each lead that got one. No lead row is written or locked (the inserts' foreign-key checks
# take key-share locks, which nothing else here conflicts with). The rows travel as one JSON
# document: orjson writes it in C, where psycopg would quote six text[] parameters item by item
# in Python (~10 ms per 500 rows).
_STORE_ACTIVITIES = f"""
    WITH t AS (
        SELECT * FROM jsonb_to_recordset(%s::jsonb)
            AS t(lead bigint, kind text, name text, at timestamptz, props jsonb, mid text)
    ), ins AS (
        INSERT INTO {_ACTIVITY}
            (lead_id, kind, name, occurred_at, received_at, properties, source, message_id)
        SELECT lead, kind, name, at, %s, props, %s, mid FROM t
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id, id, lead_id
    ), marks AS (
        INSERT INTO {_MARK} (lead_id, marked_at) SELECT DISTINCT lead_id, %s FROM ins
    )
    SELECT message_id, id FROM ins
"""  # noqa: S608  (our table names; values are parameters)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits (from the stdlib-parsed REST API)
        return json.dumps(value, default=lambda v: v.isoformat())


def _store_activities(
    rows: list[tuple[Message, int]], *, source: str, now: datetime
) -> dict[str, int]:
    """Insert the activities, skipping message ids already stored, and mark their leads for
    rescoring; returns {message id: activity id} for the rows inserted."""
    if connection.vendor == "postgresql":
        document = _json_text(
            [
                {
                    "lead": lead_id,
                    "kind": m.kind,
                    "name": m.name[:200],
                    "at": m.occurred_at or now,
                    "props": m.properties,
                    "mid": m.message_id,
                }
                for m, lead_id in rows
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute(_STORE_ACTIVITIES, [document, now, source, now])
            return dict(cursor.fetchall())
    out = {}
    marked: set[int] = set()
    for m, lead_id in rows:
        activity = Activity(
            lead_id=lead_id,
            kind=m.kind,
            name=m.name[:200],
            occurred_at=m.occurred_at or now,
            properties=m.properties,
            source=source,
            message_id=m.message_id,
        )
        try:
            with transaction.atomic():
                activity.save()
        except IntegrityError:
            continue
        out[m.message_id or ""] = activity.pk
        marked.add(lead_id)
    leads_mark_for_rescore(sorted(marked), at=now)
    return out


def normalize_id(value: Any) -> str | None:
    """Segment ids may be strings or numbers; empty means absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("must be a string")
    value = value.strip()
    return value or None


def normalize_traits_email(traits: Mapping[str, Any]) -> str | None:
    value = traits.get("email")
    return normalize_email(value) if isinstance(value, str) else None
