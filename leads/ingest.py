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
- ``identify`` upserts the lead's traits (mapped ones to columns, the rest into ``traits``).
"""

import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leads import events
from leads.lifecycle import ActorKind, Stage
from leads.models import Activity, ActivityKind, Identity, Lead, StageChange
from leads.services import lead_create, lead_update, normalize_email

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


class _Resolver:
    """Maps user ids, anonymous ids and e-mails to lead ids, loading each batch in 3 queries."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self.by_user: dict[str, int] = {}
        self.by_anon: dict[str, int] = {}
        self.by_email: dict[str, int] = {}
        self.load(messages)

    def load(self, messages: Iterable[Message]) -> None:
        messages = list(messages)
        users = sorted({m.user_id for m in messages if m.user_id})
        anons = sorted({m.anonymous_id for m in messages if m.anonymous_id})
        emails = sorted({m.email for m in messages if m.email})
        lead, identity = Lead._meta.db_table, Identity._meta.db_table
        if users:
            for ext, pk in _rows_matching(lead, "external_id", users, "external_id, id"):
                self.by_user[ext] = pk
        if users or anons:
            for kind, value, lead_id in _rows_matching(
                identity, "value", users + anons, "kind, value, lead_id"
            ):
                if kind == Identity.Kind.USER_ID:
                    self.by_user.setdefault(value, lead_id)
                elif kind == Identity.Kind.ANONYMOUS_ID:
                    self.by_anon[value] = lead_id
        if emails:
            for email, pk in _rows_matching(lead, "email", emails, "email, id"):
                self.by_email[email] = pk

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


def _rows_matching(table: str, column: str, values: list[str], select: str) -> list[Any]:
    """``SELECT select FROM table WHERE column IN values``: one array parameter on PostgreSQL
    (psycopg re-parses statements with more than 50 parameters every time)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = f"SELECT {select} FROM {table} WHERE {column} = ANY(%s)"  # noqa: S608
            cursor.execute(sql, [values])
            return list(cursor.fetchall())
        rows: list[Any] = []
        for start in range(0, len(values), 500):  # SQLite's variable limit
            chunk = values[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            sql = f"SELECT {select} FROM {table} WHERE {column} IN ({marks})"  # noqa: S608
            cursor.execute(sql, chunk)
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


def _resolve_or_create(m: Message, resolver: _Resolver, now: datetime) -> int:
    """The lead ``m`` is about; creates one (identified or anonymous) when nobody matches."""
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
                        lead_id = lead_create(data=data, source=StageChange.Source.API).pk
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
    return lead_id


def _identify(m: Message, resolver: _Resolver, now: datetime) -> int:
    lead_id = _resolve_or_create(m, resolver, now)
    data = _lead_fields(m)
    if data:
        if "traits" in data:
            existing = Lead.objects.filter(pk=lead_id).values_list("traits", flat=True).first()
            data["traits"] = {**(existing or {}), **data["traits"]}
        lead_update(lead_id=lead_id, data=data)
    return lead_id


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
    activity = Activity._meta.db_table
    stored_before = {
        row[0] for row in _rows_matching(activity, "message_id", sorted(seen), "message_id")
    }
    pending: list[Message] = []
    for m in fresh:
        if m.message_id in stored_before:
            result.duplicates += 1
        else:
            pending.append(m)
    resolver = _Resolver(pending)

    rows: list[tuple[Message, int]] = []
    for m in sorted(pending, key=lambda m: m.type != IDENTIFY):  # identifies first, stable
        if m.type != IDENTIFY and (lead_id := resolver.settled(m)) is not None:
            rows.append((m, lead_id))  # the common case: a known lead, nothing to learn
            continue
        try:
            with transaction.atomic():
                if m.type == IDENTIFY:
                    lead_id = _identify(m, resolver, now)
                    result.identified += 1
                    result.outcomes[m.index] = (None, lead_id)
                else:
                    rows.append((m, _resolve_or_create(m, resolver, now)))
        except (ValidationError, DomainError, IntegrityError) as exc:
            result.errors.append(_error_of(m.index, exc))
    if rows:
        inserted = _insert_activities(rows, source=source, now=now)
        lead_ids = sorted({lead_id for _m, lead_id in rows})
        _mark_dirty(lead_ids, now)
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


def _mark_dirty(lead_ids: list[int], now: datetime) -> None:
    """Mark leads for rescoring; a lead already marked keeps its older mark (and is not
    rewritten: most leads in a busy batch are already waiting for the scoring worker)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Lead._meta.db_table} SET score_dirty_at = %s"  # noqa: S608
                " WHERE id IN (SELECT id FROM leads_lead WHERE id = ANY(%s)"
                " AND score_dirty_at IS NULL ORDER BY id FOR NO KEY UPDATE)",  # one lock order
                [now, lead_ids],
            )
        return
    for start in range(0, len(lead_ids), 500):
        chunk = lead_ids[start : start + 500]
        Lead.objects.filter(pk__in=chunk, score_dirty_at__isnull=True).update(score_dirty_at=now)


def _insert_activities(
    rows: list[tuple[Message, int]], *, source: str, now: datetime
) -> dict[str, int]:
    """Insert, skipping message ids already stored; returns {message id: activity id}."""
    if connection.vendor == "postgresql":
        cols: list[list[Any]] = [[] for _ in range(6)]
        for m, lead_id in rows:
            for col, value in zip(
                cols,
                (
                    lead_id,
                    m.kind,
                    m.name[:200],
                    m.occurred_at or now,
                    json.dumps(m.properties),
                    m.message_id,
                ),
                strict=True,
            ):
                col.append(value)
        sql = f"""
            INSERT INTO {Activity._meta.db_table}
                (lead_id, kind, name, occurred_at, received_at, properties, source, message_id)
            SELECT l, k, n, o, %s, p::jsonb, %s, mid
              FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],
                          %s::text[]) AS t(l, k, n, o, p, mid)
            ON CONFLICT (message_id) DO NOTHING
            RETURNING message_id, id
        """  # noqa: S608  (our table name; values are parameters)
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, source, *cols])
            return dict(cursor.fetchall())
    out = {}
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
