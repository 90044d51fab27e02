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
- ``identify`` upserts the lead's traits (mapped ones to columns, the rest into ``traits``),
  once per messageId (an ``IdentifyReceipt``), and by event time per field: a value older than
  the one the lead holds changes nothing, whatever order the messages arrive in.
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

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leads import events
from leads.lifecycle import ActorKind, Stage
from leads.models import (
    Activity,
    ActivityKind,
    IdentifyReceipt,
    Identity,
    Lead,
    RescoreMark,
    StageChange,
)
from leads.services import (
    identity_keys_lock,
    lead_create,
    lead_update,
    leads_mark_for_rescore,
    normalize_email,
)

log = logging.getLogger(__name__)

IDENTIFY, ACTIVITY = "identify", "activity"

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
COLUMN_LENGTHS = {
    f.name: f.max_length for f in Lead._meta.concrete_fields if getattr(f, "max_length", None)
}


@dataclass
class Message:
    """One event or identify, already shape-checked by the endpoint that received it."""

    index: int
    type: str  # IDENTIFY or ACTIVITY
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


@dataclass(frozen=True)
class ItemError:
    index: int
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    identified: int = 0
    errors: list[ItemError] = field(default_factory=list)
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

    def load(self, messages: Iterable[Message], check_stored: bool = False) -> set[str]:
        """Learn the leads of ``messages``' ids; with ``check_stored``, returns which of their
        message ids are stored (an activity's among activities, an identify's among receipts:
        a re-sent message keeps its type, and a batch of events then skips the receipts)."""
        messages = list(messages)
        users = sorted({m.user_id for m in messages if m.user_id})
        anons = sorted({m.anonymous_id for m in messages if m.anonymous_id})
        emails = sorted({m.email for m in messages if m.email})
        stored: set[str] = set()
        identities: list[tuple[str, str, int]] = []
        activity_ids: set[str] = set()
        identify_ids: set[str] = set()
        for m in messages if check_stored else ():
            (identify_ids if m.type == IDENTIFY else activity_ids).add(m.message_id or "")
        found = _lookup(users, users + anons, emails, sorted(activity_ids), sorted(identify_ids))
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
        return keys

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
                for select, column, _ in parts
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
    return data


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
        reason="created: anonymous visitor",
        at=at,
    )
    Identity.objects.create(lead=lead, kind=Identity.Kind.ANONYMOUS_ID, value=anonymous_id)
    return lead.pk


def _merge_anonymous(*, source_id: int, target_id: int) -> None:
    """Move an anonymous lead's activities and ids to ``target``; drop the shell if untouched."""
    if source_id == target_id:
        return
    source = Lead.objects.select_for_update().filter(pk=source_id).first()
    if source is None or not _is_anonymous(source):
        return  # two identified leads are merged by a person, not by ingestion
    moved = Activity.objects.filter(lead_id=source_id).update(lead_id=target_id)
    Identity.objects.filter(lead_id=source_id).update(lead_id=target_id)
    if source.traits:
        target = Lead.objects.select_for_update().get(pk=target_id)
        target.traits = {**source.traits, **target.traits}
        target.save(update_fields=["traits", "updated_at"])
    if source.stage == Stage.SUSPECT:
        source.delete()  # only its "created" stage row goes with it
    audit_record(
        action="lead.merge_anonymous",
        target_type="lead",
        target_id=target_id,
        details={"from_lead": source_id, "activities": moved},
    )


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
        elif previous != lead_id:
            _merge_anonymous(source_id=previous, target_id=lead_id)
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
        raise ValidationError({"userId": "A message needs a userId or an anonymousId."})
    _bind(m, lead_id, resolver)
    return lead_id, created and m.type == IDENTIFY


def _identify(m: Message, resolver: _Resolver, now: datetime) -> int | None:
    """Apply an identify once per messageId, each trait only where nothing newer is known;
    None when a concurrent copy of the message was applied first."""
    lead_id, created = _resolve_or_create(m, resolver, now)
    at = m.occurred_at or now
    try:
        with transaction.atomic():
            IdentifyReceipt.objects.create(
                message_id=m.message_id or "", lead_id=lead_id, occurred_at=at, received_at=now
            )
    except IntegrityError:
        return None
    data = _lead_fields(m)
    if data and not created:  # lead_create applied them already
        lead_update(lead_id=lead_id, data=data, as_of=at)
    return lead_id


def _lock_leads_to_write(messages: list[Message], resolver: _Resolver) -> None:
    """Row-lock, in id order, every known lead that ``messages`` (identifies, and events whose
    ids are not all settled) may write (identify traits, a userId learned, an anonymous lead
    merged), before writing any: batches that touch the same leads in different orders then
    queue instead of deadlocking."""
    ids: set[int] = set()
    for m in messages:
        ids.update(
            lead_id
            for lead_id in (
                resolver.known(m),
                resolver.by_anon.get(m.anonymous_id or ""),
                resolver.by_user.get(m.user_id or ""),
            )
            if lead_id is not None
        )
    if ids and connection.vendor == "postgresql":  # SQLite: one writer at a time anyway
        locked = Lead.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
        list(locked.values_list("pk", flat=True))


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
        reason = f"is more than {settings.LEADFLOW_EVENT_MAX_AGE_DAYS} days in the past"
    else:
        reason = f"is more than {settings.LEADFLOW_EVENT_MAX_FUTURE_SECONDS} seconds in the future"
    message = f"{m.time_field} {at.isoformat()} {reason} (the plausibility window)."
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
        return ItemError(index, "conflict", "A concurrent request changed this lead; resend.")
    raise exc


@transaction.atomic
def ingest(
    *, messages: list[Message], source: str = "segment", now: datetime | None = None
) -> IngestResult:
    """Store a batch: identifies first (so events in the same batch find their lead), then every
    event once. A message that cannot be stored is reported with its index; the rest commit."""
    now = now or timezone.now()
    result = IngestResult()
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
    writers = [m for m in pending if m.type == IDENTIFY or resolver.settled(m) is None]
    # ids nobody has yet: lock them, then look again, so a batch that created their lead while
    # we read waits to commit and is found (not a unique violation: parallel first messages)
    new_keys = [key for m in writers for key in resolver.unknown_keys(m)]
    if new_keys:
        identity_keys_lock(new_keys)
        resolver.load([m for m in writers if resolver.unknown_keys(m)])
    if writers:
        _lock_leads_to_write(writers, resolver)

    rows: list[tuple[Message, int]] = []
    for m in sorted(pending, key=lambda m: m.type != IDENTIFY):  # identifies first, stable
        if m.type != IDENTIFY and (lead_id := resolver.settled(m)) is not None:
            rows.append((m, lead_id))  # the common case: a known lead, nothing to learn
            continue
        try:
            with transaction.atomic():
                if m.type == IDENTIFY:
                    identified = _identify(m, resolver, now)
                    if identified is None:
                        result.duplicates += 1
                        continue
                    result.identified += 1
                    result.outcomes[m.index] = (None, identified)
                else:
                    rows.append((m, _resolve_or_create(m, resolver, now)[0]))
        except (ValidationError, DomainError, IntegrityError) as exc:
            result.errors.append(_error_of(m.index, exc))
    if rows:
        lead_ids = sorted({lead_id for _m, lead_id in rows})
        inserted = _store_activities(rows, source=source, now=now)
        for m, lead_id in rows:
            activity_id = inserted.get(m.message_id or "")
            if activity_id is None:
                result.duplicates += 1  # a concurrent copy of the batch stored it first
            else:
                result.stored += 1
            result.outcomes[m.index] = (activity_id, lead_id)
        events.activities_recorded.send(sender=Activity, lead_ids=lead_ids)
    result.errors.sort(key=lambda e: e.index)
    return result


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
