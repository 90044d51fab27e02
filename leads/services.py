"""Every write to leads, activities and the lifecycle. Views, API, tasks and commands call these."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import orjson
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import dateformat, timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError, NotFoundError
from leadflow.models import User
from leadflow.roles import Role
from leads import customfields, events, interactions, money
from leads.lifecycle import (
    EXIT_AFTER_ACCEPTANCE,
    REASON_REQUIRED,
    ActorKind,
    Stage,
    TransitionNotPermittedError,
    ensure_allowed,
)
from leads.models import (
    Activity,
    ExitReason,
    Lead,
    Note,
    RescoreMark,
    SavedView,
    StageChange,
    Task,
    Win,
    email_in,
)

# Fields a person or integration may set on a lead. ``stage``, scores and owner have their own
# services; nothing writes them through here.
EDITABLE_FIELDS: tuple[str, ...] = (
    "email",
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "seniority",
    "company",
    "domain",
    "industry",
    "company_size",
    "country",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "email_opt_out",
    "do_not_call",
    "traits",
    "custom",  # custom field values by key, checked by leads.customfields
)


class LeadNotFoundError(NotFoundError):
    code = "lead_not_found"


class LeadErasedError(DomainError):
    code = "lead_erased"


@dataclass(frozen=True)
class Transition:
    lead: Lead
    change: StageChange | None  # None: the lead was already in the target stage (a no-op)


def normalize_email(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


def normalize_phone(value: str | None) -> str:
    """Digits only, keeping a leading "+" (or "00") as "+": "+49 (30) 1234-56" -> "+4930123456"."""
    text = (value or "").strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00") and len(digits) > 2:
        return "+" + digits[2:]
    return digits


def domain_of(email: str | None) -> str:
    return email.rsplit("@", 1)[1] if email and "@" in email else ""


def actor_kind_for(user: User | None) -> ActorKind | None:
    """The lifecycle actor kind of a user: None for someone with no role at all."""
    if user is None:
        return ActorKind.SYSTEM
    if user.is_superuser:
        return ActorKind.MANAGER
    roles = {g.name for g in user.groups.all()}
    for role, kind in (
        (Role.ADMIN, ActorKind.MANAGER),
        (Role.SALES_MANAGER, ActorKind.MANAGER),
        (Role.SALES_REP, ActorKind.SALES_REP),
        (Role.MARKETER, ActorKind.MARKETER),
        (Role.INTEGRATION, ActorKind.INTEGRATION),
    ):
        if role.value in roles:
            return kind
    return None


def _clean_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, _("This field cannot be set.")))
    fields = dict(data)
    if "traits" in fields and not isinstance(fields["traits"], dict):
        # keys of it are merged and timed one by one: a list, number or true has none
        raise ValidationError({"traits": _('Must be a JSON object, e.g. {"plan": "pro"}.')})
    if "custom" in fields and not isinstance(fields["custom"], Mapping):
        raise ValidationError({"custom": _('Must be a JSON object, e.g. {"erp": "sap"}.')})
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
    if "external_id" in fields:
        fields["external_id"] = (fields["external_id"] or "").strip() or None
    if "country" in fields and fields["country"]:
        fields["country"] = str(fields["country"]).strip().upper()
    if "phone" in fields:
        fields["phone"] = (fields["phone"] or "").strip()
        fields["phone_normalized"] = normalize_phone(fields["phone"])
    return fields


def identity_keys_lock(keys: Iterable[str]) -> None:
    """Hold a lock per identity key ("email:…", "user:…", "anon:…") until the transaction ends,
    so two requests creating the lead of one new identity run one after the other: the second,
    re-reading after the wait, finds the first's lead instead of tripping a unique constraint.

    PostgreSQL: transaction-level advisory locks on a 64-bit hash, taken in one statement in
    hash order (two callers never wait on each other in a circle). A hash collision only makes
    two unrelated keys wait for each other. SQLite needs none: it runs one writing transaction
    at a time and ours begin IMMEDIATE."""
    wanted = sorted(set(keys))
    if not wanted or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # an ORDER BY subquery is not flattened, so the locks are taken in hash order
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT hashtextextended(v, 7) AS k"
            " FROM jsonb_array_elements_text(%s::jsonb) AS v ORDER BY 1) AS s",
            [orjson.dumps(wanted).decode()],
        )


def identity_keys(*, email: str | None, external_id: str | None) -> list[str]:
    """The lock keys of a lead's identity (as ``identity_keys_lock`` takes them)."""
    keys = [f"email:{email.lower()}"] if email else []
    return keys + ([f"user:{external_id}"] if external_id else [])


# a field whose value follows another's (its time is that field's)
_DERIVED = {"phone_normalized": "phone"}


def _field_times(lead: Lead, fields: Mapping[str, Any], at: datetime) -> dict[str, str]:
    """``lead.field_times`` with ``fields`` (and each key of a ``traits`` among them) set at
    ``at``."""
    times = dict(lead.field_times or {})
    stamp = at.isoformat()
    for name in fields:
        if name in ("traits", "custom"):
            times.update((f"{name}.{key}", stamp) for key in fields[name] or {})
        elif name not in _DERIVED:
            times[name] = stamp
    return times


def _newer_only(lead: Lead, fields: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """The part of ``fields`` (observed at ``as_of``) that no newer value has replaced; traits
    merge key by key into the lead's."""
    times = lead.field_times or {}

    def current(name: str) -> bool:
        at = times.get(name)
        return at is None or datetime.fromisoformat(at) <= as_of

    out = {
        name: value
        for name, value in fields.items()
        if name not in ("traits", "custom") and current(_DERIVED.get(name, name))
    }
    traits = {k: v for k, v in (fields.get("traits") or {}).items() if current(f"traits.{k}")}
    if traits:
        out["traits"] = {**(lead.traits or {}), **traits}
    custom = {k: v for k, v in (fields.get("custom") or {}).items() if current(f"custom.{k}")}
    if custom:
        out["custom"] = custom
    return out


def _validate(lead: Lead, *, identity: bool = True) -> None:
    """``identity``: check that the lead has an e-mail or external id (a new lead, or an edit of
    those fields). An anonymous visitor's lead, made by ingestion, has neither and may still
    learn other fields."""
    if identity and not lead.email and not lead.external_id:
        raise ValidationError({"email": _("A lead needs an e-mail address or an external id.")})
    lead.full_clean(exclude=["owner", "team", "stage_changed_at"])


@transaction.atomic
def lead_create(
    *,
    data: Mapping[str, Any],
    actor: User | None = None,
    source: str = StageChange.Source.SYSTEM,
    at: datetime | None = None,
    as_of: datetime | None = None,
    require_custom: bool = False,
) -> Lead:
    """Create a Suspect from contact data. Raises ValidationError naming each bad field.

    ``as_of``: when the data was true (an event's time), recorded per field; default now.
    ``require_custom``: refuse a required custom field left empty (people, the REST API and
    imports say so; event ingestion does not, as an anonymous visitor cannot know it)."""
    fields = _clean_fields(data)
    fields["custom"] = customfields.clean_custom(
        fields.get("custom", {}),
        fields=customfields.lead_fields(),
        creating=True,
        enforce_required=require_custom,
    )
    if fields.get("email") and not fields.get("domain"):
        fields["domain"] = domain_of(fields["email"])
    at = at or timezone.now()
    lead = Lead(**fields, stage=Stage.SUSPECT, stage_changed_at=at)
    lead.field_times = _field_times(lead, fields, as_of or at)
    _validate(lead)
    events.lead_create_requested.send(sender=Lead, fields=fields, actor=actor, source=source)
    lead.save()
    leads_mark_for_rescore([lead.pk])  # its fit may already make it a Lead
    if lead.domain:
        events.lead_domains_set.send(sender=Lead, lead_ids=[lead.pk])
    events.stage_change_recorded(
        lead=lead,
        from_stage=None,
        to=Stage.SUSPECT,
        actor=actor,
        actor_kind=actor_kind_for(actor) or ActorKind.SYSTEM,
        source=source,
        reason=gettext_noop("created"),  # stored in English; pages show it translated
        at=at,
    )
    return lead


_IDENTIFIERS = ("email", "external_id", "phone")


@transaction.atomic
def lead_update(
    *,
    lead_id: int,
    data: Mapping[str, Any],
    actor: User | None = None,
    as_of: datetime | None = None,
) -> Lead:
    """Set fields of a lead. Each field's time is recorded; with ``as_of`` (when an event said
    so) a field, or a key of ``traits`` or ``custom``, whose recorded time is newer keeps its
    value; ``traits`` and ``custom`` merge key by key (a custom value null or "" clears it,
    except a required field's). Without ``as_of`` (a person or integration editing now) all
    apply."""
    fields = _clean_fields(data)
    if "custom" in fields:
        fields["custom"] = customfields.clean_custom(
            fields["custom"], fields=customfields.lead_fields(), creating=False
        )
    lead = _locked(lead_id)
    if lead.erased_at is not None:  # a GDPR tombstone: personal data must not come back
        raise LeadErasedError(
            _("Lead %(id)s was erased; it cannot be edited.") % {"id": lead_id}, field="lead"
        )
    if as_of is not None:
        fields = _newer_only(lead, fields, as_of)
        if not fields:
            return lead
    changed = {
        name: value
        for name in _IDENTIFIERS
        if (value := fields.get(name)) and value != getattr(lead, name)
    }
    if changed:  # an erased person's identifiers may not come back on another lead either
        events.lead_identifiers_requested.send(
            sender=Lead, fields=changed, lead_id=lead.pk, actor=actor
        )
    lead.field_times = _field_times(lead, fields, as_of or timezone.now())
    domain_before = lead.domain
    for name, value in fields.items():
        if name == "custom":
            value = customfields.merged(lead.custom, value)
        setattr(lead, name, value)
    if "email" in fields and "domain" not in fields and not lead.domain:
        lead.domain = domain_of(lead.email)
    _validate(lead, identity="email" in fields or "external_id" in fields)
    lead.save(update_fields=[*fields, "domain", "field_times", "updated_at"])
    leads_mark_for_rescore([lead.pk])  # fit fields may have changed
    if lead.domain and lead.domain != domain_before:
        events.lead_domains_set.send(sender=Lead, lead_ids=[lead.pk])
    if {"job_title", "seniority"} & set(fields):
        events.lead_titles_set.send(sender=Lead, lead_ids=[lead.pk])
    return lead


UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def leads_fill_first_touch(*, touches: Mapping[int, Mapping[str, str]], at: datetime) -> None:
    """Set each lead's UTM fields from its ``touches`` entry if all five are still empty: the
    first touch is kept, as one set (a later campaign never mixes its tags in), and the lead is
    marked for rescoring. A conditional UPDATE, so concurrent first touches cannot both apply;
    on PostgreSQL one statement for all the leads (ingestion calls it once per batch, with the
    leads already row-locked)."""
    sets = {
        lead_id: {name: utm[name][:200] for name in UTM_FIELDS if utm.get(name)}
        for lead_id, utm in sorted(touches.items())
    }
    sets = {lead_id: data for lead_id, data in sets.items() if data}
    if not sets:
        return
    if connection.vendor == "postgresql":
        document = orjson.dumps([{"id": lead_id, **data} for lead_id, data in sets.items()])
        with connection.cursor() as cursor:
            cursor.execute(_FILL_FIRST_TOUCH, [document.decode(), at, at])
        return
    empty = dict.fromkeys(UTM_FIELDS, "")
    filled = [
        lead_id
        for lead_id, data in sets.items()
        if Lead.objects.filter(pk=lead_id, **empty).update(**data, updated_at=at)
    ]
    leads_mark_for_rescore(filled, at=at)


_LEAD_TABLE, _MARK_TABLE = Lead._meta.db_table, RescoreMark._meta.db_table
_FILL_FIRST_TOUCH = f"""
    WITH t AS (
        SELECT * FROM jsonb_to_recordset(%s::jsonb) AS t(id bigint, {", ".join(f"{n} text" for n in UTM_FIELDS)})
    ), filled AS (
        UPDATE {_LEAD_TABLE} AS l SET {", ".join(f"{n} = coalesce(t.{n}, '')" for n in UTM_FIELDS)},
            updated_at = %s
        FROM t WHERE l.id = t.id AND {" AND ".join(f"l.{n} = ''" for n in UTM_FIELDS)}
        RETURNING l.id
    )
    INSERT INTO {_MARK_TABLE} (lead_id, marked_at) SELECT id, %s FROM filled
"""  # noqa: S608  (our table and column names; values are parameters)


def leads_mark_for_rescore(lead_ids: Iterable[int], *, at: datetime | None = None) -> None:
    """Queue leads for the scoring sweep. Call in the transaction that changed their inputs, so
    the mark commits (or rolls back) with the change."""
    at = at or timezone.now()
    RescoreMark.objects.bulk_create(
        [RescoreMark(lead_id=lead_id, marked_at=at) for lead_id in lead_ids], batch_size=5000
    )


def _no_lead(lead_id: int) -> str:
    return _("There is no lead with id %(id)s.") % {"id": lead_id}


def _locked(lead_id: int) -> Lead:
    # FOR NO KEY UPDATE, as every writer that keeps the row (handover, SLA, scoring sweep): it
    # still serialises them, but rows that merely point at the lead (activities, rescore marks,
    # stage changes) insert without waiting for the editor to commit. Deletes take FOR UPDATE.
    try:
        return Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    except Lead.DoesNotExist:
        raise LeadNotFoundError(_no_lead(lead_id), field="lead") from None


class StaleLeadError(DomainError):
    """The caller saw the lead in another stage than it is in now (someone else moved it)."""

    code = "stale_lead"


@dataclass(frozen=True)
class Expected:
    """Where the caller saw the lead (optimistic concurrency): its stage and, optionally, when it
    entered that stage (``stage_changed_at``, to the second: also catches a round trip)."""

    stage: str
    changed_at: datetime | None = None


def ensure_unmoved(lead: Lead, expected: Expected | None) -> None:
    """Raise StaleLeadError (409, naming who moved the lead and when) if ``lead`` is no longer
    where the caller saw it. Call with the lead's row locked, so no move slips in between; the
    board, the lifecycle API and handover decisions all check here."""
    if expected is None:
        return
    moved = lead.stage != expected.stage or (
        expected.changed_at is not None
        and abs((lead.stage_changed_at - expected.changed_at).total_seconds()) >= 1
    )
    if not moved:
        return
    last = lead.stage_changes.select_related("actor").order_by("-changed_at", "-id").first()
    who = shown = ""
    if last is not None:
        who = shown = str(last.actor) if last.actor is not None else str(last.actor_kind)
        if last.actor is None and last.actor_kind == ActorKind.SYSTEM:
            # Translators: who moved a lead when no person did (scoring, SLA jobs)
            shown = pgettext("who moved a lead", "system")
    # Translators: a date format (letters of Django's "date" filter) for a day this year and a
    # time, "05 Dec 16:05": order and punctuate them as your language does
    when_format = pgettext("date format", "d M H:i")
    values = {
        "lead": lead.display_name,
        "stage": Stage(lead.stage).label,
        "who": shown,
        "when": dateformat.format(timezone.localtime(lead.stage_changed_at), when_format),
    }
    if who:
        message = _(
            # Translators: who: the person who moved the lead (or "system"); when: "05 Dec 16:05"
            "%(lead)s was moved to %(stage)s by %(who)s %(when)s while you were looking. "
            "Reload to see where it is now."
        )
    else:
        message = _(
            "%(lead)s was moved to %(stage)s %(when)s while you were looking. "
            "Reload to see where it is now."
        )
    raise StaleLeadError(
        message % values,
        field="expected_stage",
        extra={
            "stage": lead.stage,
            "moved_by": who or None,
            "moved_at": lead.stage_changed_at.isoformat(),
        },
    )


@transaction.atomic
def _move_stage(
    *,
    lead_id: int,
    to: Stage,
    actor: User | None,
    source: str,
    reason: str = "",
    at: datetime | None = None,
    actor_kind: ActorKind | None = None,
    expected: Expected | None = None,
    locked: Lead | None = None,
    reason_code: str = "",
) -> Transition:
    """The one place a lead's stage changes: lock, refuse if stale, no-op if there, check the
    table, audit, save.

    ``actor_kind`` overrides the kind derived from ``actor`` only for trusted callers (API keys
    act as integrations, imports replaying history act as the system). ``expected``: where the
    caller saw the lead; None (the default) moves it from wherever it is now. ``locked``: the
    lead, if the caller already holds its row lock in this transaction (``_locked``, or FOR
    UPDATE) and read it under that lock (the bulk runner): it is not read again.
    ``reason_code``: an ``ExitReason``; needed to leave SAL or SQL (``EXIT_AFTER_ACCEPTANCE``),
    taken by any move to Nurture or Disqualified; ``reason`` is then the comment.
    """
    kind = actor_kind or actor_kind_for(actor)
    if kind is None:
        raise TransitionNotPermittedError(_("You have no role that may change a lead's stage."))
    if locked is not None and locked.pk != lead_id:
        raise ValueError(f"locked is lead {locked.pk}, not {lead_id}")
    lead = locked or _locked(lead_id)
    ensure_unmoved(lead, expected)
    current = Stage(lead.stage)
    if current == to:
        return Transition(lead=lead, change=None)
    ensure_allowed(current, to, kind, reason or reason_code)
    exit_reason = _exit_reason(current, to, reason_code, reason.strip())
    if exit_reason is not None:
        reason = exit_reason.text(reason.strip())
    events.stage_change_requested.send(sender=Lead, lead=lead, to=to, actor=actor, actor_kind=kind)
    at = at or timezone.now()
    lead.stage, lead.stage_changed_at = to, at
    lead.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    change = events.stage_change_recorded(
        lead=lead,
        from_stage=current,
        to=to,
        actor=actor,
        actor_kind=kind,
        source=source,
        reason=reason,
        reason_code=exit_reason.code if exit_reason else "",
        at=at,
    )
    if exit_reason is not None and exit_reason.reset_engagement and to == Stage.NURTURE:
        lead_reset_engagement(lead_id=lead.pk, at=at)
    return Transition(lead=lead, change=change)


def _only_exits_take_a_code() -> str:
    return _("Only a move to Nurture or Disqualified takes an exit reason.")


def exit_reasons_for(to: Stage) -> list[ExitReason]:
    """The active exit reasons that may send a lead to ``to``, in their configured order."""
    return [r for r in ExitReason.objects.filter(active=True) if r.fits(to)]


def _exit_reason(current: Stage, to: Stage, code: str, comment: str) -> ExitReason | None:
    """The exit reason named by ``code`` for this move, or None for a move without one; a
    ValidationError naming ``reason_code`` (or ``reason``, for a missing comment) otherwise."""
    stages = {"current": current.label, "to": to.label}
    if not code:
        if (current, to) not in EXIT_AFTER_ACCEPTANCE:
            return None
        codes = ", ".join(r.code for r in exit_reasons_for(to))
        raise ValidationError(
            {
                "reason_code": _(
                    "Leaving %(current)s for %(to)s needs an exit reason; use one of: %(codes)s."
                )
                % {**stages, "codes": codes}
            }
        )
    return exit_reason_for(code, to, comment)


def exit_reason_for(code: str, to: Stage, comment: str) -> ExitReason:
    """The active exit reason ``code`` for a move to ``to``, if ``comment`` satisfies it; a
    ValidationError naming ``reason_code`` (with the valid codes) or ``reason`` otherwise."""
    if to not in REASON_REQUIRED:
        raise ValidationError({"reason_code": _only_exits_take_a_code()})
    reason = ExitReason.objects.filter(code=code, active=True).first()
    if reason is None or not reason.fits(to):
        codes = ", ".join(r.code for r in exit_reasons_for(to))
        raise ValidationError(
            {
                "reason_code": _(
                    "%(code)s is not an exit reason for a move to %(to)s; use one of: %(codes)s."
                )
                % {"to": to.label, "code": repr(code), "codes": codes}
            }
        )
    if reason.requires_comment and not comment:
        raise ValidationError(
            {"reason": _("The reason “%(reason)s” needs a comment.") % {"reason": reason.label}}
        )
    return reason


# One public service per transition. They differ only in the target; the table decides who may.


def lead_qualify(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str = "",
    expected: Expected | None = None,
    locked: Lead | None = None,
) -> Transition:
    """Suspect → Lead: the lead fits the ideal customer profile."""
    return _move_stage(
        lead_id=lead_id,
        to=Stage.LEAD,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
    )


def lead_mark_mql(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str = "",
    expected: Expected | None = None,
    locked: Lead | None = None,
) -> Transition:
    """Lead/Nurture → MQL: engaged enough for marketing to hand over."""
    return _move_stage(
        lead_id=lead_id,
        to=Stage.MQL,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
    )


def lead_mark_sal(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str = "",
    expected: Expected | None = None,
    locked: Lead | None = None,
) -> Transition:
    """MQL → SAL: a sales rep accepted the lead (called by the handover service)."""
    return _move_stage(
        lead_id=lead_id,
        to=Stage.SAL,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
    )


@transaction.atomic
def lead_mark_sql(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str = "",
    expected: Expected | None = None,
    locked: Lead | None = None,
    expected_value: Decimal | None = None,
    currency: str | None = None,
) -> Transition:
    """SAL → SQL: passed the qualification call, optionally with the deal's expected value and
    currency (set first, so the SQL entry in the stage log records them)."""
    if money_given := _given(expected_value=expected_value, currency=currency):
        lead_deal_set(lead_id=lead_id, actor=actor, **money_given)
    return _move_stage(
        lead_id=lead_id,
        to=Stage.SQL,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
    )


@transaction.atomic
def lead_convert(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str = "",
    deal_value: Decimal | None = None,
    currency: str | None = None,
    at: datetime | None = None,
    expected: Expected | None = None,
    locked: Lead | None = None,
) -> Transition:
    """SQL → Customer: won, optionally with the won value and its currency (else the lead's)."""
    deal_value = money.amount(deal_value, field="deal_value")
    if currency is not None:
        money.deal_currency(currency)  # refused before the move: nothing is half-written
    result = _move_stage(
        lead_id=lead_id,
        to=Stage.CUSTOMER,
        actor=actor,
        source=source,
        reason=reason,
        at=at,
        expected=expected,
        locked=locked,
    )
    money_given = _given(deal_value=deal_value, currency=currency)
    if money_given and result.change is not None:
        lead = lead_deal_set(lead_id=lead_id, actor=actor, **money_given)
        return Transition(lead, result.change)
    return result


def _given(**values: Any) -> dict[str, Any]:
    """The keyword arguments a caller gave (not None)."""
    return {name: value for name, value in values.items() if value is not None}


_UNSET: Any = object()
# the deal fields a person or integration sets (``lead_deal_set``)
DEAL_FIELDS = ("expected_value", "deal_value", "currency")


@transaction.atomic
def lead_deal_set(
    *,
    lead_id: int,
    actor: User | None,
    expected_value: Any = _UNSET,
    deal_value: Any = _UNSET,
    currency: Any = _UNSET,
    request: Any = None,
) -> Lead:
    """Set the deal's money: the expected value while the lead is open (the rep's estimate,
    usually at SQL), the won value once it is a Customer, and the currency both are in (ISO
    4217; the reporting currency or one with an exchange rate). Leaves out what is not given;
    null clears a value. Refuses the whole change naming the first bad field; audited."""
    given = {
        name: value
        for name, value in zip(DEAL_FIELDS, (expected_value, deal_value, currency), strict=True)
        if value is not _UNSET
    }
    if not given:
        raise ValidationError({"expected_value": _("Give expected_value, deal_value or currency.")})
    fields: dict[str, Any] = {}
    for name in ("expected_value", "deal_value"):
        if name in given:
            fields[name] = money.amount(given[name], field=name)
    if "currency" in given:
        fields["currency"] = money.deal_currency(given["currency"])
    lead = _locked(lead_id)
    if lead.erased_at is not None:
        raise LeadErasedError(
            _("Lead %(id)s was erased; it cannot be edited.") % {"id": lead_id}, field="lead"
        )
    won = lead.stage == Stage.CUSTOMER
    if "deal_value" in fields and fields["deal_value"] is not None and not won:
        raise ValidationError(
            {
                "deal_value": _(
                    "A won value is set once the lead is a Customer; give expected_value."
                )
            }
        )
    if "expected_value" in fields and lead.stage in (Stage.CUSTOMER, Stage.DISQUALIFIED):
        raise ValidationError(
            {"expected_value": _("The deal is closed: set the won value (deal_value) instead.")}
            if won
            else {"expected_value": _("A disqualified lead has no open deal.")}
        )
    before = {name: getattr(lead, name) for name in fields}
    changed = {name: value for name, value in fields.items() if before[name] != value}
    if changed:
        for name, value in changed.items():
            setattr(lead, name, value)
        lead.save(update_fields=[*changed, "updated_at"])
        audit_record(
            action="lead.deal_set",
            actor=actor,
            target_type="lead",
            target_id=lead.pk,
            details={
                name: {"from": _plain(before[name]), "to": _plain(value)}
                for name, value in changed.items()
            },
            request=request,
        )
    return lead


@transaction.atomic
def lead_win_add(
    *,
    lead_id: int,
    actor: User | None,
    value: Any = None,
    currency: Any = "",
    won_at: datetime | None = None,
    note: str = "",
    request: Any = None,
) -> Win:
    """Record a customer's repeat win (renewal, upsell): its value and currency, when (default
    now; not in the future, not before the lead became a customer) and a note. Audited."""
    amount = money.amount(value, field="value")
    if amount is None:
        raise ValidationError({"value": _("This field is required.")})
    code = money.deal_currency(currency)
    if len(note or "") > 200:
        raise ValidationError({"note": _("At most 200 characters.")})
    lead = _locked(lead_id)
    if lead.stage != Stage.CUSTOMER:
        raise ValidationError(
            {"lead": _("A repeat win is recorded on a customer; win the lead first.")}
        )
    now = timezone.now()
    when = won_at or now
    if when > now + timedelta(minutes=5):
        raise ValidationError({"won_at": _("A win cannot be in the future.")})
    if when < lead.stage_changed_at:
        raise ValidationError({"won_at": _("A repeat win comes after the lead became a customer.")})
    win = Win.objects.create(
        lead=lead, won_at=when, value=amount, currency=code, note=note or "",
        actor=actor if actor is not None and actor.pk else None,
    )  # fmt: skip
    audit_record(
        action="lead.win_add", actor=actor, target_type="lead", target_id=lead.pk,
        details={"win": win.pk, "value": str(amount), "currency": code}, request=request,
    )  # fmt: skip
    return win


@transaction.atomic
def lead_win_remove(*, lead_id: int, win_id: int, actor: User | None, request: Any = None) -> None:
    """Take back a repeat win recorded by mistake (audited, with what it was)."""
    win = Win.objects.select_for_update().filter(pk=win_id, lead_id=lead_id).first()
    if win is None:
        raise NotFoundError(
            _("Lead %(lead)s has no repeat win %(win)s.") % {"lead": lead_id, "win": win_id},
            field="win",
        )
    audit_record(
        action="lead.win_remove", actor=actor, target_type="lead", target_id=lead_id,
        details={"win": win.pk, "value": str(win.value), "currency": win.currency,
                 "won_at": win.won_at.isoformat()},
        request=request,
    )  # fmt: skip
    win.delete()


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def lead_recycle(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str,
    expected: Expected | None = None,
    locked: Lead | None = None,
    reason_code: str = "",
) -> Transition:
    """Back to nurture with a reason (rejected as not ready, lost, score fell); ``reason_code``
    names an exit reason (see ``_move_stage``)."""
    return _move_stage(
        lead_id=lead_id,
        to=Stage.NURTURE,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
        reason_code=reason_code,
    )


def lead_disqualify(
    *,
    lead_id: int,
    actor: User | None,
    source: str,
    reason: str,
    expected: Expected | None = None,
    locked: Lead | None = None,
    reason_code: str = "",
) -> Transition:
    """Out of the funnel with a reason (bad fit, duplicate, competitor, ...); ``reason_code``
    as for ``lead_recycle``."""
    return _move_stage(
        lead_id=lead_id,
        to=Stage.DISQUALIFIED,
        actor=actor,
        source=source,
        reason=reason,
        expected=expected,
        locked=locked,
        reason_code=reason_code,
    )


class TransitionService(Protocol):
    def __call__(
        self,
        *,
        lead_id: int,
        actor: User | None,
        source: str,
        reason: str,
        expected: Expected | None = None,
        locked: Lead | None = None,
    ) -> Transition: ...


TRANSITION_SERVICES: dict[Stage, TransitionService] = {
    Stage.LEAD: lead_qualify,
    Stage.MQL: lead_mark_mql,
    Stage.SAL: lead_mark_sal,
    Stage.SQL: lead_mark_sql,
    Stage.CUSTOMER: lead_convert,
    Stage.NURTURE: lead_recycle,
    Stage.DISQUALIFIED: lead_disqualify,
}


EXIT_SERVICES = {Stage.NURTURE: lead_recycle, Stage.DISQUALIFIED: lead_disqualify}


def lead_move(
    *,
    lead_id: int,
    to: str,
    actor: User | None,
    source: str,
    reason: str = "",
    expected: Expected | None = None,
    locked: Lead | None = None,
    reason_code: str = "",
) -> Transition:
    """Move to a stage named by the caller (board drag, API, bulk): dispatches to the one
    service. ``locked``, ``reason_code``: see ``_move_stage``."""
    try:
        stage = Stage(to)
    except ValueError:
        raise ValidationError(
            {
                "stage": _("Unknown stage %(stage)s; expected one of %(stages)s.")
                % {"stage": repr(to), "stages": ", ".join(Stage.values)}
            }
        ) from None
    if stage == Stage.SUSPECT:
        raise ValidationError(
            {"stage": _("No lead can move back to %(stage)s.") % {"stage": Stage.SUSPECT.label}}
        )
    if stage in EXIT_SERVICES:
        return EXIT_SERVICES[stage](
            lead_id=lead_id,
            actor=actor,
            source=source,
            reason=reason,
            expected=expected,
            locked=locked,
            reason_code=reason_code,
        )
    if reason_code:
        raise ValidationError({"reason_code": _only_exits_take_a_code()})
    return TRANSITION_SERVICES[stage](
        lead_id=lead_id, actor=actor, source=source, reason=reason, expected=expected, locked=locked
    )


@transaction.atomic
def activity_record(
    *,
    lead_id: int,
    kind: str,
    occurred_at: datetime,
    name: str = "",
    properties: Mapping[str, Any] | None = None,
    source: str = "",
    message_id: str | None = None,
    actor: User | None = None,
) -> Activity:
    """Store one activity and mark the lead for rescoring, in one transaction."""
    activity = Activity(
        lead_id=lead_id,
        actor=actor,
        kind=kind,
        name=name,
        occurred_at=occurred_at,
        properties=dict(properties or {}),
        source=source,
        message_id=message_id,
    )
    activity.full_clean(exclude=["lead", "message_id", "actor"])
    if not Lead.objects.filter(pk=lead_id).exists():
        raise LeadNotFoundError(_no_lead(lead_id), field="lead")
    activity.save()
    leads_mark_for_rescore([lead_id])
    events.activities_recorded.send(sender=Activity, lead_ids=[lead_id])
    return activity


@transaction.atomic
def lead_assign(
    *,
    lead_id: int,
    owner: User | None,
    team_id: int | None = None,
    actor: User | None = None,
    locked: Lead | None = None,
) -> Lead:
    """Give a lead an owner (and team). Handover's assignment rules and managers call this.
    ``locked``: the lead, if the caller holds its row lock (as for ``_move_stage``)."""
    if locked is not None and locked.pk != lead_id:
        raise ValueError(f"locked is lead {locked.pk}, not {lead_id}")
    lead = locked or _locked(lead_id)
    lead.owner = owner
    if team_id is not None:
        lead.team_id = team_id
    lead.save(update_fields=["owner", "team", "updated_at"])
    return lead


@transaction.atomic
def lead_reset_engagement(*, lead_id: int, at: datetime | None = None) -> Lead:
    """Engagement restarts from ``at``: earlier activities stop counting (recycled leads)."""
    lead = _locked(lead_id)
    lead.score_reset_at = at or timezone.now()
    lead.save(update_fields=["score_reset_at", "updated_at"])
    leads_mark_for_rescore([lead.pk])
    return lead


# --- browser UI: moves with a stale-page check, notes, tasks, saved views ----------------------


def lead_move_checked(
    *,
    lead_id: int,
    to: str,
    actor: User | None,
    source: str,
    reason: str = "",
    reason_code: str = "",
    expected_stage: str,
    expected_changed_at: datetime | None = None,
) -> Transition:
    """``lead_move`` for a person looking at a page: refuse if the lead moved since it loaded."""
    expected = Expected(stage=expected_stage, changed_at=expected_changed_at)
    return lead_move(
        lead_id=lead_id,
        to=to,
        actor=actor,
        source=source,
        reason=reason,
        reason_code=reason_code,
        expected=expected,
    )


@transaction.atomic
def note_add(*, lead_id: int, author: User, body: str) -> Note:
    body = body.strip()
    if not body:
        raise ValidationError({"body": _("Write something first.")})
    if len(body) > 10_000:
        raise ValidationError({"body": _("Keep notes under 10,000 characters.")})
    if not Lead.objects.filter(pk=lead_id).exists():
        raise LeadNotFoundError(_no_lead(lead_id), field="lead")
    return Note.objects.create(lead_id=lead_id, author=author, body=body, created_at=timezone.now())


@transaction.atomic
def interaction_log(
    *,
    lead_id: int,
    actor: User,
    kind: str,
    outcome: str,
    occurred_at: datetime,
    duration_minutes: int | None = None,
    notes: str = "",
    request: Any = None,
) -> Activity:
    """A call, meeting or e-mail a person logs on a lead: one activity (scored like any other,
    shown on the timeline by whom) and one audit row, or nothing at all."""
    notes = notes.strip() if isinstance(notes, str) else notes
    errors = interactions.interaction_errors(
        kind=kind,
        outcome=outcome,
        duration_minutes=duration_minutes,
        occurred_at=occurred_at,
        notes=notes,
        now=timezone.now(),
    )
    if errors:
        raise ValidationError(errors)
    activity = activity_record(
        lead_id=lead_id,
        kind=kind,
        occurred_at=occurred_at,
        properties=interactions.interaction_properties(
            outcome=outcome, duration_minutes=duration_minutes, notes=notes
        ),
        source="ui",
        actor=actor,
    )
    audit_record(
        action="lead.log_interaction",
        actor=actor,
        target_type="lead",
        target_id=lead_id,
        details={"activity_id": activity.pk, "kind": kind, "outcome": outcome},
        request=request,
    )
    return activity


# A due time a little in the past is a follow-up written down late (or a browser clock in
# another time zone than LEADFLOW_TIME_ZONE, up to 14 h apart); further back, or years ahead, is
# a typo (a task "due 2001").
TASK_DUE_PAST_TOLERANCE = timedelta(hours=24)
TASK_DUE_MAX_AHEAD = timedelta(days=5 * 366)


def task_due_check(due_at: datetime, *, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if due_at < now - TASK_DUE_PAST_TOLERANCE:
        when = date_format(timezone.localtime(due_at), "DATETIME_FORMAT")
        raise ValidationError(
            {"due_at": _("%(when)s has passed; pick a time from today on.") % {"when": when}}
        )
    if due_at > now + TASK_DUE_MAX_AHEAD:
        day = date_format(timezone.localtime(due_at), "DATE_FORMAT")
        raise ValidationError(
            {"due_at": _("%(day)s is more than 5 years away; check the year.") % {"day": day}}
        )


@transaction.atomic
def task_add(
    *,
    lead_id: int,
    created_by: User,
    title: str,
    due_at: datetime | None = None,
    assignee: User | None = None,
) -> Task:
    title = title.strip()
    if not title:
        raise ValidationError({"title": _("Say what needs doing.")})
    if due_at is not None:
        task_due_check(due_at)
    if not Lead.objects.filter(pk=lead_id).exists():
        raise LeadNotFoundError(_no_lead(lead_id), field="lead")
    task = Task(
        lead_id=lead_id,
        title=title,
        due_at=due_at,
        assignee=assignee or created_by,
        created_by=created_by,
        created_at=timezone.now(),
    )
    task.full_clean(exclude=["lead", "assignee", "created_by"])
    task.save()
    return task


@transaction.atomic
def task_set_done(*, task_id: int, lead_id: int, done: bool, actor: User) -> Task:
    task = Task.objects.select_for_update().filter(pk=task_id, lead_id=lead_id).first()
    if task is None:
        raise NotFoundError(_("There is no such task on this lead."), field="task")
    task.done_at = (task.done_at or timezone.now()) if done else None
    task.save(update_fields=["done_at"])
    return task


class SavedViewExistsError(DomainError):
    """The owner already has a view of that name and did not say to replace it."""

    code = "saved_view_exists"
    status = 409


@transaction.atomic
def task_complete(*, task_id: int, actor: User) -> tuple[Task, bool]:
    """Tick a task off from "My tasks": (task, whether this call completed it). One conditional
    UPDATE, so a double click or two tabs complete it once and keep the first time. Callers
    check that ``actor`` may see the task (``selectors.task_for_user``)."""
    done = Task.objects.filter(pk=task_id, done_at__isnull=True).update(done_at=timezone.now())
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise NotFoundError(_("There is no such task."), field="task")
    return task, bool(done)


@transaction.atomic
def saved_view_save(*, owner: User, name: str, query: str, replace: bool = False) -> SavedView:
    """Create the owner's view called ``name`` with a filter query string; overwrite one of that
    name only with ``replace`` (never silently: the page asks first)."""
    name = name.strip()
    if not name:
        raise ValidationError({"view_name": _("Give the view a name.")})
    if len(name) > 80:
        raise ValidationError({"view_name": _("Keep the name under 80 characters.")})
    if len(query) > 1000:
        raise ValidationError({"view_name": _("These filters are too long to save.")})
    if not replace and SavedView.objects.filter(owner=owner, name=name).exists():
        raise SavedViewExistsError(
            _("You already have a view called “%(name)s”.") % {"name": name}, field="view_name"
        )
    view, _created = SavedView.objects.update_or_create(
        owner=owner, name=name, defaults={"query": query}
    )
    return view


@transaction.atomic
def saved_view_delete(*, owner: User, view_id: int) -> None:
    SavedView.objects.filter(owner=owner, pk=view_id).delete()


class IdentityConflictError(DomainError):
    code = "identity_conflict"


@dataclass(frozen=True)
class Upsert:
    lead: Lead
    created: bool


class LeadExistsError(DomainError):
    """A person asked to create a lead whose e-mail or external id another lead already has."""

    code = "lead_exists"


@transaction.atomic  # holds the identity lock until the new lead is committed
def lead_upsert(
    *,
    data: Mapping[str, Any],
    actor: User | None = None,
    source: str = StageChange.Source.API,
    update_existing: bool = True,
    require_custom: bool = False,
) -> Upsert:
    """Create a lead, or update the one with the same e-mail or external id (integrations).

    ``update_existing=False`` (a person's "New lead" form) refuses a match instead, with
    LeadExistsError naming the lead (``extra["lead_id"]``): typing a known e-mail into a blank
    form should lead to that lead, not overwrite it field by field."""
    # cleaned here only to match on; create and update clean ``data`` themselves (cleaning adds
    # derived fields, e.g. ``phone_normalized``, that no caller may pass in)
    fields = _clean_fields(data)
    # a concurrent create of the same identity waits here, then finds and updates this one
    identity_keys_lock(
        identity_keys(email=fields.get("email"), external_id=fields.get("external_id"))
    )
    for _attempt in range(2):
        match = _upsert_match(email=fields.get("email"), external_id=fields.get("external_id"))
        if match is not None and not update_existing:
            same_email = bool(fields.get("email")) and match.email == fields["email"]
            taken = (
                _("%(name)s (lead %(id)s) already has this e-mail address.")
                if same_email
                else _("%(name)s (lead %(id)s) already has this external id.")
            )
            raise LeadExistsError(
                taken % {"name": match.display_name, "id": match.pk},
                field="email" if same_email else "external_id",
                extra={"lead_id": match.pk},
            )
        if match is not None:
            return Upsert(lead=lead_update(lead_id=match.pk, data=data, actor=actor), created=False)
        try:
            with transaction.atomic():
                lead = lead_create(
                    data=data, actor=actor, source=source, require_custom=require_custom
                )
                return Upsert(lead=lead, created=True)
        except IntegrityError:
            continue
    raise IdentityConflictError(_("The lead was changed concurrently; retry."))  # pragma: no cover


def _upsert_match(*, email: str | None, external_id: str | None) -> Lead | None:
    by_email = Lead.objects.filter(email_in([email])).first() if email else None
    by_external = Lead.objects.filter(external_id=external_id).first() if external_id else None
    if by_email and by_external and by_email.pk != by_external.pk:
        raise IdentityConflictError(
            _(
                "The e-mail belongs to lead %(email_lead)s and the external id to lead "
                "%(external_lead)s; merge them first."
            )
            % {"email_lead": by_email.pk, "external_lead": by_external.pk},
            field="external_id",
        )
    return by_email or by_external
