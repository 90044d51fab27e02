"""Every write of the handover app: assignment, accept/reject/reassign, checklists, settings.

Lock order everywhere: lead, then handover, then timers (the SLA scanner locks timers only and
never waits for a lead, so the two never deadlock).
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from companies.selectors import lead_owned_account, owned_accounts_exist
from handover import rule_precision, rules, sla
from handover.calendars import BusinessCalendar, is_working_time
from handover.models import (
    AssignmentMember,
    AssignmentRule,
    EventType,
    Handover,
    HandoverAssignment,
    HandoverRuleHit,
    OutOfOffice,
    QualificationChecklist,
    QualificationFramework,
    RejectionReason,
    RepProfile,
)
from handover.outbox import OutboxBatch, Reader, lead_snapshot
from handover.permissions import may_decide, may_reassign, may_receive
from leadflow import batchscope
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError, NotFoundError, PermissionDeniedError
from leadflow.models import User
from leads import services as lead_services
from leads.lifecycle import ActorKind, Stage
from leads.models import Lead, StageChange, Team
from scoring import selectors as scoring_selectors


class HandoverNotFoundError(NotFoundError):
    code = "handover_not_found"


class HandoverAlreadyDecidedError(DomainError):
    code = "handover_already_decided"


class NotHandoverOwnerError(PermissionDeniedError):
    code = "not_handover_owner"


class QualificationRequiredError(DomainError):
    code = "qualification_required"


# --- assignment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    owner_id: int | None
    team_id: int | None
    rule: AssignmentRule | None
    outcome: str  # MEMBER, FALLBACK, QUEUE, ACCOUNT_OWNER or ACCOUNT_QUEUE; unused without a rule
    account: str = ""  # the account whose owner decided (ACCOUNT_*)

    MEMBER = "member"  # a member of the rule was free
    FALLBACK = "fallback"  # nobody free: the rule's fallback owner
    QUEUE = "queue"  # nobody free and no fallback: the team queue
    ACCOUNT_OWNER = "account_owner"  # the lead's account owner was free
    ACCOUNT_QUEUE = "account_queue"  # the account owner was away: the account's team queue

    def explain(self) -> str:
        """Why this owner, in the active language (of the person told about it)."""
        if self.rule is None:
            return _("no rule matched: unassigned queue")
        if self.outcome == Pick.MEMBER:
            text = _("rule %(rule)s")
        elif self.outcome == Pick.ACCOUNT_OWNER:
            return _("rule %(rule)s: owner of the account %(account)s") % {
                "rule": self.rule.name,
                "account": self.account,
            }
        elif self.outcome == Pick.ACCOUNT_QUEUE:
            return _("rule %(rule)s: the account %(account)s's owner is away, team queue") % {
                "rule": self.rule.name,
                "account": self.account,
            }
        elif self.outcome == Pick.FALLBACK:
            text = _("rule %(rule)s: nobody free, fallback owner")
        else:
            text = _("rule %(rule)s: nobody free, team queue")
        return text % {"rule": self.rule.name}

    @property
    def why(self) -> str:
        """Why, as the assignment history keeps it (in English, whoever reads it later)."""
        return in_english(self.explain)


def _period_start(now: datetime, period: str) -> datetime:
    # the site's day, week and month: a cap must not move with the zone of whoever's request
    # assigns (a manager in another zone reassigning by hand)
    site = timezone.get_default_timezone()
    local = timezone.localtime(now, site).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == AssignmentRule.Period.WEEK:
        return local - timedelta(days=local.weekday())
    if period == AssignmentRule.Period.MONTH:
        return local.replace(day=1)
    return local


def rule_matches(rule: AssignmentRule, lead: Lead) -> bool:
    return (
        (not rule.countries or lead.country.upper() in {c.upper() for c in rule.countries})
        and (not rule.industries or lead.industry.lower() in {i.lower() for i in rule.industries})
        and (not rule.company_sizes or lead.company_size in rule.company_sizes)
    )


def reps_available(user_ids: Collection[int], now: datetime, working_hours: bool) -> set[int]:
    users = frozenset(user_ids)
    # read once per batch (absences that have not ended by now, profiles, who is active) and
    # judged at each lead's ``now``
    absences = batchscope.cached(
        ("handover.absences", users),
        lambda: list(
            OutOfOffice.objects.filter(user_id__in=users, ends_at__gt=now).values_list(
                "user_id", "starts_at", "ends_at"
            )
        ),
    )
    away = {user for user, starts, ends in absences if starts <= now < ends}
    free = {u for u in users if u not in away}
    for user_id, accepts_leads, cal in batchscope.cached(
        ("handover.profiles", users), lambda: _profiles(users)
    ):
        if user_id in free and (
            not accepts_leads
            or (working_hours and cal is not None and not is_working_time(cal, now))
        ):
            free.discard(user_id)
    active = batchscope.cached(
        ("handover.active", users),
        lambda: set(User.objects.filter(pk__in=users, is_active=True).values_list("pk", flat=True)),
    )
    return free & active


def _profiles(users: Collection[int]) -> list[tuple[int, bool, BusinessCalendar | None]]:
    profiles = RepProfile.objects.filter(user_id__in=users).select_related("calendar")
    return [
        (p.user_id, p.accepts_leads, p.calendar.as_calendar() if p.calendar else None)
        for p in profiles
    ]


def assignment_pick(*, lead: Lead, now: datetime, exclude: Collection[int] = ()) -> Pick:
    """Evaluate the rules in order and reserve the chosen rep (call inside a transaction)."""
    rules_ = batchscope.cached(
        "handover.assignment_rules",
        lambda: list(AssignmentRule.objects.filter(active=True).order_by("position", "id")),
    )
    for rule in rules_:
        if not rule_matches(rule, lead):
            continue
        if rule.account_owner_first and (by_account := account_pick(rule, lead, now, exclude)):
            return by_account
        # Lock the rule: concurrent handovers take turns, so rotation and caps hold under load.
        # In a batch the lock is held to its end, so the rule and its members (whose rotation
        # only lock holders write) are read once.
        rule, all_members = batchscope.cached(
            ("handover.rule_locked", rule.pk), partial(_lock_rule, rule.pk)
        )
        members = [m for m in all_members if m.user_id not in exclude]
        free = reps_available({m.user_id for m in members}, now, rule.require_working_hours)
        chosen = member_choose(rule, members, free, period_counts(rule, free, now), now)
        if chosen is not None:
            chosen.last_assigned_at = now
            chosen.save(update_fields=["last_assigned_at"])
            return Pick(chosen.user_id, rule.team_id, rule, Pick.MEMBER)
        return rule_fallback(rule, exclude)
    return Pick(None, None, None, Pick.QUEUE)


def period_counts(rule: AssignmentRule, users: Collection[int], now: datetime) -> dict[int, int]:
    """Assignments each of ``users`` had in the rule's capacity period so far."""
    return dict(
        HandoverAssignment.objects.filter(
            owner_id__in=users, at__gte=_period_start(now, rule.capacity_period)
        )
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )


def member_choose(
    rule: AssignmentRule,
    members: Sequence[AssignmentMember],
    free: Collection[int],
    counts: Mapping[int, int],
    now: datetime,
) -> AssignmentMember | None:
    """The rule's pick among its free members under the cap: the fewest assignments in the
    period per weight, then whoever was assigned longest ago (None: nobody eligible)."""
    eligible = [
        m
        for m in members
        if m.user_id in free and (rule.capacity is None or counts.get(m.user_id, 0) < rule.capacity)
    ]
    if not eligible:
        return None
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    return min(
        eligible,
        key=lambda m: (counts.get(m.user_id, 0) / m.weight, m.last_assigned_at or oldest, m.pk),
    )


def rule_fallback(rule: AssignmentRule, exclude: Collection[int] = ()) -> Pick:
    """A matching rule with no member free: its fallback owner, else the team's queue."""
    fallback = rule.fallback_owner_id if rule.fallback_owner_id not in exclude else None
    return Pick(fallback, rule.team_id, rule, Pick.FALLBACK if fallback else Pick.QUEUE)


def account_pick(
    rule: AssignmentRule, lead: Lead, now: datetime, exclude: Collection[int]
) -> Pick | None:
    """Lead-to-account routing: the owner of the lead's account when free (capacity caps do not
    apply: the account is theirs), else the account's team queue (the owner's team when the
    account has none); None when the lead has no owned account, to go on with the rotation."""
    # in a batch (bulk moves, imports), one look at whether any account has an owner at all
    if not batchscope.cached("companies.owned_accounts", owned_accounts_exist):
        return None
    account = lead_owned_account(lead_id=lead.pk)
    if account is None or account.owner_id is None or account.owner_id in exclude:
        return None
    if account.owner_id in reps_available({account.owner_id}, now, rule.require_working_hours):
        return Pick(account.owner_id, account.team_id or rule.team_id, rule, Pick.ACCOUNT_OWNER,
                    account.name)  # fmt: skip
    team_id = account.team_id or (
        Team.objects.filter(members=account.owner_id).values_list("pk", flat=True).first()
    )
    if team_id is None:
        return None
    return Pick(None, team_id, rule, Pick.ACCOUNT_QUEUE, account.name)


def _lock_rule(rule_id: int) -> tuple[AssignmentRule, list[AssignmentMember]]:
    rule = AssignmentRule.objects.select_for_update().get(pk=rule_id)
    return rule, list(rule.members.filter(active=True))


# --- opening, accepting, rejecting, reassigning ------------------------------------------------


def _managers(lead: Lead) -> list[tuple[int, Reader]]:
    """Who hears about a lead when the owner cannot: the team's manager (and the language and
    time zone to write to them in, read with it)."""
    return team_managers(lead.team_id)


def team_managers(team_id: int | None) -> list[tuple[int, Reader]]:
    """The team's manager with their language and time zone (none without a team or manager);
    read once per batch."""
    if team_id is None:
        return []
    manager = batchscope.cached(
        ("handover.team_manager", team_id),
        lambda: Team.objects.filter(pk=team_id)
        .values_list("manager_id", "manager__language", "manager__time_zone")
        .first(),
    )
    if manager is None or manager[0] is None:
        return []
    return [(manager[0], Reader(manager[1], manager[2]))]


def handover_open(*, lead: Lead, now: datetime, batch: OutboxBatch) -> Handover:
    """A lead just entered MQL (inside the moving transaction; the lead is locked)."""
    existing = Handover.objects.filter(lead=lead, status=Handover.Status.OPEN).first()
    if existing is not None:
        return existing
    pick = assignment_pick(lead=lead, now=now)
    owner_id = pick.owner_id if pick.owner_id is not None else lead.owner_id
    team_id = pick.team_id if pick.team_id is not None else lead.team_id
    handover = Handover.objects.create(
        lead=lead,
        owner_id=owner_id,
        team_id=team_id,
        rule=pick.rule,
        opened_at=now,
        assigned_at=now if owner_id else None,
        lead_source=lead.source,
    )
    HandoverAssignment.objects.create(
        handover=handover, owner_id=owner_id, why=pick.why[:200], at=now
    )
    # what the lead was handed over on (rule precision): for a whole batch at once in a scope
    if not batchscope.defer("handover.rule_hits", rule_hits_record, handover):
        rule_hits_record([handover])
    owner: User | None = None
    if (owner_id, team_id) != (lead.owner_id, lead.team_id):
        owner = (
            batchscope.cached(("handover.owner", owner_id), lambda: User.objects.get(pk=owner_id))
            if owner_id
            else None
        )
        lead_services.lead_assign(lead_id=lead.pk, owner=owner, team_id=team_id, locked=lead)
        lead.owner_id, lead.team_id = owner_id, team_id
    timer = sla.timer_start(
        lead_id=lead.pk, stage=Stage.MQL, owner_id=owner_id, handover_id=handover.pk, now=now
    )
    text = partial(
        _opened_text,
        name=lead.display_name,
        company=lead.company,
        pick=pick,
        assigned=bool(owner_id),
        timed=timer is not None,
    )
    recipients = [(owner_id, Reader.of(owner) if owner else None)] if owner_id else _managers(lead)
    for recipient, reader in recipients:
        batch.notify(
            recipient_id=recipient,
            kind="handover.assigned" if owner_id else "handover.unassigned",
            text=text,
            reader=reader,
            lead_id=lead.pk,
            handover_id=handover.pk,
            timer_id=timer.pk if timer else None,
        )
    batch.event(
        EventType.HANDOVER_ASSIGNED, _handover_data(handover, lead, due_at=timer and timer.due_at)
    )
    return handover


def rule_hits_record(handovers: list[Handover]) -> None:
    """Write the rules each handover's lead carried points from when it opened: three queries
    for any number of handovers (``handover_open`` defers them to the end of a batch)."""
    earned = scoring_selectors.rules_earned(lead_ids=[h.lead_id for h in handovers])
    rule_precision.mark_opened(handovers)
    HandoverRuleHit.objects.bulk_create(
        HandoverRuleHit(handover=h, rule_key=key, points=points)
        for h in handovers
        for key, points in earned.get(h.lead_id, ())
    )


def _opened_text(
    *, name: str, company: str, pick: Pick, assigned: bool, timed: bool
) -> tuple[str, str]:
    """The new handover's notification (title, body), in the recipient's language."""
    if assigned:
        title = _("New MQL to accept: %(name)s") % {"name": name}
    else:
        title = _("Unassigned MQL in the queue: %(name)s") % {"name": name}
    body = _("%(name)s (%(company)s) became an MQL.") % {
        "name": name,
        "company": company or _("no company"),
    }
    body += f" {pick.explain()}."
    # No due time baked into the text: a clock can restart later (a pause, a calendar change,
    # the demo's backdated seed) and the e-mail then gave two different due dates. The e-mail's
    # SLA line and the inbox countdown read the live timer.
    if timed:
        body += " " + _("Accept or reject it in the SAL inbox.")
    return title, body


def _handover_data(handover: Handover, lead: Lead, **extra: Any) -> dict[str, Any]:
    return {
        "handover": {
            "id": handover.pk,
            "status": handover.status,
            "owner_id": handover.owner_id,
            "team_id": handover.team_id,
            "opened_at": handover.opened_at,
            "decided_at": handover.decided_at,
            "reason_code": handover.reason_code,
            "comment": handover.comment,
        },
        "lead": lead_snapshot(lead),
        **extra,
    }


def _lock(handover_id: int) -> tuple[Lead, Handover]:
    """Lock the lead, then the handover (the one order every writer uses)."""
    lead_id = Handover.objects.filter(pk=handover_id).values_list("lead_id", flat=True).first()
    if lead_id is None:
        raise HandoverNotFoundError(_("There is no handover with id %(id)s.") % {"id": handover_id})
    lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    return lead, Handover.objects.select_for_update().get(pk=handover_id)


def _ensure_open_and_may_decide(handover: Handover, actor: User) -> None:
    if handover.status != Handover.Status.OPEN:
        raise HandoverAlreadyDecidedError(_already_decided(handover), field="status")
    if not may_decide(actor, handover):
        raise NotHandoverOwnerError(
            _(
                "Only the owner of this handover, its team's queue or a manager of its team may "
                "decide it."
            )
        )


def _already_decided(handover: Handover) -> str:
    # Translators: who decided a handover, when it is not known
    values = {"who": handover.decided_by or _("someone")}
    if handover.status == Handover.Status.ACCEPTED:
        return _("This handover was already accepted by %(who)s.") % values
    if handover.status == Handover.Status.REJECTED:
        return _("This handover was already rejected by %(who)s.") % values
    if handover.status == Handover.Status.CANCELLED:
        return _("This handover was already cancelled by %(who)s.") % values
    # Translators: %(status)s is the handover's status code
    return _("This handover was already %(status)s by %(who)s.") % {
        **values,
        "status": handover.status,
    }


@transaction.atomic
def handover_accept(
    *, handover_id: int, actor: User, expected: lead_services.Expected | None = None
) -> Handover:
    """MQL → SAL. Concurrent accepts: exactly one wins; the rest get HandoverAlreadyDecided
    (or StaleLeadError, naming who moved the lead, when they said where they saw it)."""
    lead, handover = _lock(handover_id)
    lead_services.ensure_unmoved(lead, expected)
    _ensure_open_and_may_decide(handover, actor)
    now = timezone.now()
    handover.status, handover.decided_at, handover.decided_by = Handover.Status.ACCEPTED, now, actor
    if handover.owner_id is None:  # claimed from the queue: the claimer owns it
        handover.owner = actor
        handover.assigned_at = now
        HandoverAssignment.objects.create(
            handover=handover, owner=actor, assigned_by=actor, why="claimed from the queue", at=now
        )
    handover.save(update_fields=["status", "decided_at", "decided_by", "owner", "assigned_at"])
    rule_precision.mark_opened([handover])
    if lead.owner_id != handover.owner_id:
        lead_services.lead_assign(lead_id=lead.pk, owner=handover.owner, actor=actor)
    result = lead_services.lead_mark_sal(
        lead_id=lead.pk,
        actor=actor,
        source=StageChange.Source.HANDOVER,
        reason=gettext_noop("accepted"),
    )
    batch = OutboxBatch(now=now)
    batch.event(EventType.HANDOVER_ACCEPTED, _handover_data(handover, result.lead))
    batch.flush()
    return handover


def rejection_reason_for(reason_code: str, comment: str) -> RejectionReason:
    """The active reason ``reason_code``, if ``comment`` satisfies it; a ValidationError naming
    ``reason`` (with the valid codes) or ``comment`` otherwise. Lead and account handovers."""
    reason = RejectionReason.objects.filter(code=reason_code, active=True).first()
    if reason is None:
        codes = ", ".join(
            RejectionReason.objects.filter(active=True).values_list("code", flat=True)
        )
        raise ValidationError(
            {
                "reason": _("Unknown rejection reason %(code)s; use one of: %(codes)s.")
                % {"code": repr(reason_code), "codes": codes}
            }
        )
    if reason.requires_comment and not comment:
        raise ValidationError(
            {"comment": _("The reason “%(reason)s” needs a comment.") % {"reason": reason.label}}
        )
    return reason


@transaction.atomic
def handover_reject(
    *,
    handover_id: int,
    actor: User,
    reason_code: str,
    comment: str = "",
    expected: lead_services.Expected | None = None,
) -> Handover:
    """Reject with a configured reason: recycle to nurture (maybe resetting engagement) or DQ."""
    comment = comment.strip()
    reason = rejection_reason_for(reason_code, comment)
    lead, handover = _lock(handover_id)
    lead_services.ensure_unmoved(lead, expected)
    _ensure_open_and_may_decide(handover, actor)
    now = timezone.now()
    handover.status, handover.decided_at, handover.decided_by = Handover.Status.REJECTED, now, actor
    handover.rejection_reason, handover.reason_code, handover.comment = reason, reason.code, comment
    handover.save(
        update_fields=[
            "status",
            "decided_at",
            "decided_by",
            "rejection_reason",
            "reason_code",
            "comment",
        ]
    )
    rule_precision.mark_opened([handover])
    text = reason.text(comment)
    source = StageChange.Source.HANDOVER
    if reason.route == RejectionReason.Route.NURTURE:
        result = lead_services.lead_recycle(
            lead_id=lead.pk, actor=actor, source=source, reason=text
        )
        if reason.reset_engagement:
            lead_services.lead_reset_engagement(lead_id=lead.pk, at=now)
    else:
        result = lead_services.lead_disqualify(
            lead_id=lead.pk, actor=actor, source=source, reason=text
        )
    batch = OutboxBatch(now=now)
    batch.event(
        EventType.HANDOVER_REJECTED, _handover_data(handover, result.lead, route=reason.route)
    )
    batch.flush()
    return handover


def _sales_user(owner_id: int) -> User:
    user = User.objects.filter(pk=owner_id, is_active=True).first()
    if user is None or lead_services.actor_kind_for(user) not in (
        ActorKind.SALES_REP,
        ActorKind.MANAGER,
    ):
        raise ValidationError(
            {"owner": _("User %(id)s is not an active sales rep or manager.") % {"id": owner_id}}
        )
    return user


Why = str | Callable[[], str]
"""Why a lead was reassigned: a callable writes it in the active language (the notified
person's; the records keep it in English), a string is kept as given."""


def in_english(text: Callable[[], str]) -> str:
    """``text`` as the records keep it (assignment history, audit, webhooks): in English."""
    with translation.override("en"):
        return text()


def reassigned_by_a_manager() -> str:
    return _("reassigned by a manager")


def reassigned_by(user: User) -> Why:
    """The ``why`` of a reassign a person chose (the lead page's Reassign)."""
    return partial(_reassigned_by, str(user))


def _reassigned_by(name: str) -> str:
    return _("reassigned by %(user)s") % {"user": name}


@transaction.atomic
def lead_reassign(
    *,
    lead_id: int,
    owner_id: int,
    actor: User | None,
    why: Why = reassigned_by_a_manager,
    restart_timers: bool = False,
) -> Lead:
    """Give a lead (and its open handover and running SLA timers) to another rep.

    A manager's reassign moves the running timers to the new owner with their deadlines; an
    SLA escalation (``restart_timers``) closes them as superseded and starts fresh ones.
    """
    if actor is not None and not actor.has_perm("handover.reassign_handover"):
        raise PermissionDeniedError(_("Only managers may reassign leads."))
    owner = _sales_user(owner_id)
    try:
        lead = Lead.objects.select_for_update(no_key=True).get(pk=lead_id)
    except Lead.DoesNotExist:
        raise NotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        ) from None
    if actor is not None and not may_reassign(actor, lead):  # an SLA escalation has no actor
        raise PermissionDeniedError(
            _("%(name)s belongs to another team: only its team's manager may reassign it.")
            % {"name": lead.display_name},
            field="lead",
        )
    if actor is not None and not may_receive(actor, owner.pk):
        raise ValidationError(
            {"owner": _("%(user)s is not in a team you manage.") % {"user": owner}}
        )
    why_text = why if callable(why) else partial(str, why)  # (a string: itself, as given)
    record = in_english(why_text)
    previous = lead.owner_id
    now = timezone.now()
    lead = lead_services.lead_assign(lead_id=lead.pk, owner=owner, actor=actor)
    handover = (
        Handover.objects.select_for_update().filter(lead=lead, status=Handover.Status.OPEN).first()
    )
    if handover is not None:
        handover.owner, handover.assigned_at = owner, now
        handover.save(update_fields=["owner", "assigned_at"])
        HandoverAssignment.objects.create(
            handover=handover, owner=owner, assigned_by=actor, why=record[:200], at=now
        )
    timers = sla.timers_reassign(
        lead_id=lead.pk, owner_id=owner.pk, now=now, restart=restart_timers
    )
    if actor is not None:  # a person's decision (an escalation is in the SLA event log)
        audit_record(
            action="lead.reassign",
            actor=actor,
            target_type="lead",
            target_id=lead.pk,
            details={
                "from_owner": previous,
                "to_owner": owner.pk,
                "handover": handover.pk if handover else None,
                "why": record,
            },
        )
    batch = OutboxBatch(now=now)
    name, dues = lead.display_name, [(t.stage, t.due_at) for t in timers]
    batch.notify(
        recipient_id=owner.pk,
        kind="handover.reassigned",
        text=partial(_reassigned_text, name=name, why=why_text, dues=dues),
        reader=Reader.of(owner),
        lead_id=lead.pk,
        handover_id=handover.pk if handover else None,
    )
    if previous and previous != owner.pk:
        batch.notify(
            recipient_id=previous,
            kind="handover.taken_away",
            text=partial(_taken_away_text, name=name, why=why_text),
            lead_id=lead.pk,
            email=False,
        )
    if handover is not None:
        batch.event(EventType.HANDOVER_ASSIGNED, _handover_data(handover, lead, why=record))
    batch.flush()
    return lead


def _reassigned_text(
    *, name: str, why: Callable[[], str], dues: list[tuple[str, datetime]]
) -> tuple[str, str]:
    """The new owner's notification (title, body), in their language and time zone."""
    body = f"{why()}." + "".join(
        " "
        # Translators: %(stage)s is a stage code (MQL, SAL, SQL); %(due)s a day and time
        + _("%(stage)s SLA due %(due)s.")
        % {"stage": stage.upper(), "due": date_format(timezone.localtime(due_at), "D d M H:i")}
        for stage, due_at in dues
    )
    return _("Lead reassigned to you: %(name)s") % {"name": name}, body


def _taken_away_text(*, name: str, why: Callable[[], str]) -> tuple[str, str]:
    """The previous owner's notification (title, body), in their language."""
    return _("Lead reassigned away from you: %(name)s") % {"name": name}, f"{why()}."


# --- qualification ------------------------------------------------------------------------------


@transaction.atomic
def checklist_save(
    *, lead_id: int, framework_code: str, answers: Mapping[str, Any], actor: User | None
) -> QualificationChecklist:
    """Store a lead's answers to a framework and whether its pass rule holds."""
    framework = QualificationFramework.objects.filter(code=framework_code, active=True).first()
    if framework is None:
        raise ValidationError(
            {
                "framework": _("Unknown or inactive framework %(code)s.")
                % {"code": repr(framework_code)}
            }
        )
    try:
        clean = rules.validate_answers(criteria=framework.criteria, answers=answers)
    except rules.RuleError as exc:
        raise ValidationError({exc.field: str(exc)}) from None
    if not Lead.objects.filter(pk=lead_id).exists():
        raise NotFoundError(_("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead")
    checklist, _created = QualificationChecklist.objects.select_for_update().get_or_create(
        lead_id=lead_id, framework=framework
    )
    merged = {**checklist.answers, **clean}
    result = rules.evaluate_checklist(
        criteria=framework.criteria,
        min_met=framework.min_met,
        required=framework.required,
        answers=merged,
    )
    checklist.answers, checklist.updated_by = merged, actor
    if result.passed and not checklist.passed:
        checklist.passed_at = timezone.now()
    elif not result.passed:
        checklist.passed_at = None
    checklist.passed = result.passed
    checklist.save()
    return checklist


def ensure_qualified(*, lead: Lead) -> None:
    """SAL → SQL needs a passed checklist (called from the stage_change_requested hook)."""
    if not QualificationChecklist.objects.filter(
        lead=lead, passed=True, framework__active=True
    ).exists():
        raise QualificationRequiredError(
            _(
                "Fill a qualification checklist (BANT, CHAMP, GPCTBA/C&I) that passes before "
                "moving this lead to SQL."
            ),
            field="stage",
        )


# --- notifications and settings -----------------------------------------------------------------


def notifications_mark_read(*, user: User, ids: Collection[int] | None = None) -> int:
    """Mark some (or all) of ``user``'s notifications read; returns how many changed."""
    qs = user.notifications.filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- browser UI: qualify in one step --------------------------------------------------------------


@dataclass(frozen=True)
class QualifyResult:
    checklist: QualificationChecklist
    moved: bool  # False: answers saved, but the framework's pass rule does not hold yet


@transaction.atomic
def handover_qualify(
    *, lead_id: int, framework_code: str, answers: Mapping[str, Any], actor: User
) -> QualifyResult:
    """Save the checklist answers and, when they pass, move the SAL to SQL (one transaction)."""
    if not actor.has_perm("handover.qualify_lead"):
        raise PermissionDeniedError(_("You may not qualify leads."))
    checklist = checklist_save(
        lead_id=lead_id, framework_code=framework_code, answers=answers, actor=actor
    )
    if not checklist.passed:
        return QualifyResult(checklist=checklist, moved=False)
    lead_services.lead_mark_sql(
        lead_id=lead_id,
        actor=actor,
        source=StageChange.Source.HANDOVER,
        reason=f"qualified with {checklist.framework.name}",
    )
    return QualifyResult(checklist=checklist, moved=True)
