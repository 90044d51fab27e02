"""SLA timers: start, stop, move with the owner, and the beat scanner that fires them.

Deadlines are rows (``SlaTimer.due_at`` and ``next_action_at``), never Celery countdown/ETA
tasks. ``sla_scan`` claims due rows with ``SELECT … FOR UPDATE SKIP LOCKED`` in batches, so any
number of scanners can run at once and each warning, breach and escalation step fires exactly
once (also guarded by a unique row per timer/kind/step). A timer whose firing fails is set
aside as a dead letter (``leadflow.deadletter``) and the rest of its batch fires.
"""

import copy
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from handover.calendars import BusinessCalendar, add_business_minutes
from handover.models import EventType, SlaEvent, SlaPolicy, SlaTimer
from handover.outbox import OutboxBatch, Reader
from handover.rules import EscalationAction
from leadflow import batchscope, deadletter
from leadflow.exceptions import DomainError, NotFoundError, PermissionDeniedError
from leadflow.models import User
from leads.lifecycle import Stage
from leads.models import Lead, lead_display_name

logger = logging.getLogger(__name__)
DEAD_LETTER_KIND = "handover.sla_timer"  # a timer whose firing failed (leadflow/deadletter)


def timer_start(
    *,
    lead_id: int,
    stage: Stage,
    owner_id: int | None,
    now: datetime,
    handover_id: int | None = None,
) -> SlaTimer | None:
    """Start the stage's SLA clock (if a policy is active for the stage)."""
    found = deadline(stage, now)
    if found is None:
        return None
    policy, due, warn = found
    return SlaTimer.objects.create(
        lead_id=lead_id,
        handover_id=handover_id,
        policy=policy,
        stage=stage,
        owner_id=owner_id,
        started_at=now,
        warn_at=warn,
        due_at=due,
        next_action_at=min(warn, due) if warn else due,
    )


def deadline(stage: Stage, now: datetime) -> tuple[SlaPolicy, datetime, datetime | None] | None:
    """The stage's active policy, and the deadline and warning time of a clock started ``now``
    in its business calendar (lead timers and account handovers); None without a policy."""
    policy, cal = batchscope.cached(("handover.sla_policy", stage), lambda: _policy(stage))
    if policy is None or cal is None:
        return None
    due = add_business_minutes(cal, now, policy.target_minutes)
    warn = (
        add_business_minutes(cal, due, -policy.warn_before_minutes)
        if policy.warn_before_minutes
        else None
    )
    return policy, due, warn


def _policy(stage: Stage) -> tuple[SlaPolicy | None, BusinessCalendar | None]:
    policy = SlaPolicy.objects.filter(stage=stage, active=True).select_related("calendar").first()
    return (policy, policy.calendar.as_calendar()) if policy else (None, None)


def timers_stop(*, lead_id: int, stage: str, now: datetime) -> int:
    """The lead left ``stage``: its running timer is met (reported with met time vs due)."""
    return SlaTimer.objects.filter(
        lead_id=lead_id, stage=stage, state=SlaTimer.State.RUNNING
    ).update(state=SlaTimer.State.MET, stopped_at=now, next_action_at=None)


def timers_reassign(*, lead_id: int, owner_id: int, now: datetime, restart: bool) -> list[SlaTimer]:
    """Running timers follow the new owner; ``restart`` supersedes them with fresh clocks."""
    running = list(
        SlaTimer.objects.select_for_update().filter(lead_id=lead_id, state=SlaTimer.State.RUNNING)
    )
    if not restart:
        SlaTimer.objects.filter(pk__in=[t.pk for t in running]).update(owner_id=owner_id)
        for timer in running:
            timer.owner_id = owner_id
        return running
    fresh = []
    for timer in running:
        timer.state, timer.stopped_at, timer.next_action_at = SlaTimer.State.SUPERSEDED, now, None
        timer.save(update_fields=["state", "stopped_at", "next_action_at"])
        new = timer_start(
            lead_id=lead_id,
            stage=Stage(timer.stage),
            owner_id=owner_id,
            now=now,
            handover_id=timer.handover_id,
        )
        if new is not None:
            fresh.append(new)
    return fresh


# --- what is due: pure given a timer, its ladder and calendar ------------------------------------


@dataclass
class Firing:
    kind: str
    step: int
    scheduled_for: datetime


def due_firings(
    timer: SlaTimer, ladder: list[dict[str, Any]], cal: BusinessCalendar, now: datetime
) -> tuple[list[Firing], datetime | None]:
    """Fire everything due by ``now`` (updating ``timer`` in memory); returns next action time."""
    fired: list[Firing] = []
    if timer.warn_at and not timer.warned_at and timer.warn_at <= now:
        fired.append(Firing(SlaEvent.Kind.WARNING, 0, timer.warn_at))
        timer.warned_at = now
    if not timer.breached_at and timer.due_at <= now:
        fired.append(Firing(SlaEvent.Kind.BREACH, 0, timer.due_at))
        timer.breached_at = now
        timer.warned_at = timer.warned_at or (now if timer.warn_at else None)
    pending: list[datetime] = []
    if timer.warn_at and not timer.warned_at:
        pending.append(timer.warn_at)
    if not timer.breached_at:
        pending.append(timer.due_at)
    else:
        while timer.escalation_level < len(ladder):
            step = ladder[timer.escalation_level]
            at = add_business_minutes(cal, timer.due_at, step["after_minutes"])
            if at > now:
                pending.append(at)
                break
            fired.append(Firing(step["action"], timer.escalation_level, at))
            timer.escalation_level += 1
            if step["action"] == EscalationAction.REASSIGN:
                return fired, None  # the reassign supersedes this timer
    return fired, min(pending) if pending else None


# --- the scanner ---------------------------------------------------------------------------------


@dataclass
class ScanResult:
    claimed: int = 0  # timers whose firings committed (set-aside ones are not counted)
    fired: Counter[str] = field(default_factory=Counter)
    reassigned: int = 0


def _sla_text(
    kind: str, *, name: str, stage: str, policy: str, due_at: datetime
) -> tuple[str, str]:
    """A firing's notification (title, body), in the active language and time zone: the
    recipient's (``OutboxBatch`` calls it under ``leadflow.i18n.for_user``)."""
    values = {
        "name": name,
        "stage": stage.upper(),
        "policy": policy,
        "due": date_format(timezone.localtime(due_at), "D d M H:i"),
    }
    if kind == SlaEvent.Kind.WARNING:
        # Translators: %(name)s is a lead; %(stage)s a stage code (MQL, SAL, SQL)
        title = _("SLA warning: %(name)s (%(stage)s)")
        # Translators: %(policy)s is an SLA policy's name; %(due)s a day and time
        body = _("The %(policy)s SLA for %(name)s is due %(due)s: act before it breaches.")
    elif kind == SlaEvent.Kind.BREACH:
        title = _("SLA breached: %(name)s (%(stage)s)")
        body = _("The %(policy)s SLA for %(name)s was due %(due)s and is now overdue.")
    elif kind == SlaEvent.Kind.REMIND_OWNER:
        title = _("Reminder: overdue: %(name)s (%(stage)s)")
        body = _("The %(policy)s SLA for %(name)s was due %(due)s; please act now.")
    else:
        title = _("Escalation: overdue lead: %(name)s (%(stage)s)")
        body = _("The %(policy)s SLA for %(name)s was due %(due)s; the owner has not acted.")
    return title % values, body % values


def sla_scan(*, now: datetime | None = None, batch: int = 500) -> ScanResult:
    """One pass: claim due timers batch by batch, fire what is due, then carry out reassigns."""
    now = now or timezone.now()
    result = ScanResult()
    while True:
        claimed = _scan_batch(now=now, batch=batch, result=result)
        if claimed < batch:
            break
    result.reassigned = escalations_reassign(now=now)
    return result


def _scan_batch(*, now: datetime, batch: int, result: ScanResult) -> int:
    with transaction.atomic():
        timers = {
            t.pk: t
            for t in SlaTimer.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=SlaTimer.State.RUNNING, next_action_at__lte=now)
            .select_related("policy", "policy__calendar")
            .order_by("next_action_at")[:batch]
        }
        if not timers:
            return 0
        leads = _leads(timers.values())
        calendars: dict[int, BusinessCalendar] = {}
        done = deadletter.isolate(
            list(timers),
            lambda ids: _fire([timers[pk] for pk in ids], leads, calendars, now),
            kind=DEAD_LETTER_KIND,
        )
        fired = {pk for part in done for pk in part.timer_ids}
        _park(timers.keys() - fired)
    for part in done:  # (counted once committed)
        result.claimed += len(part.timer_ids)
        result.fired.update(part.kinds)
    return len(timers)


@dataclass
class _Fired:
    timer_ids: list[int]
    kinds: Counter[str]


def _fire(
    timers: list[SlaTimer],
    leads: Mapping[int, Mapping[str, Any]],
    calendars: dict[int, BusinessCalendar],
    now: datetime,
) -> _Fired:
    """Fire what is due on ``timers``, set-based (the work ``deadletter.isolate`` may bisect)."""
    # copies: a rolled-back attempt must not leave its firings on the timers the halves reuse
    timers = [copy.copy(t) for t in timers]
    events: list[SlaEvent] = []
    kinds: Counter[str] = Counter()
    outbox = OutboxBatch(now=now)
    for timer in timers:
        policy = timer.policy
        cal = calendars.get(policy.calendar_id)
        if cal is None:
            cal = calendars[policy.calendar_id] = policy.calendar.as_calendar()
        firings, timer.next_action_at = due_firings(timer, policy.escalation, cal, now)
        for firing in firings:
            events.append(
                SlaEvent(
                    timer=timer,
                    kind=firing.kind,
                    step=firing.step,
                    scheduled_for=firing.scheduled_for,
                    fired_at=now,
                )
            )
            kinds[firing.kind] += 1
            _notify(outbox, timer, firing, leads[timer.lead_id])
    _save_progress(timers)
    SlaEvent.objects.bulk_create(events)
    outbox.flush()
    return _Fired([t.pk for t in timers], kinds)


def _leads(timers: Iterable[SlaTimer]) -> dict[int, Mapping[str, Any]]:
    return {
        row["pk"]: row
        for row in Lead.objects.filter(pk__in={t.lead_id for t in timers}).values(
            "pk",
            "first_name",
            "last_name",
            "email",
            "external_id",
            "company",
            "team__manager_id",
            "team__manager__language",  # (what the manager's notifications are written in)
            "team__manager__time_zone",
        )
    }


def _park(timer_ids: Collection[int]) -> None:
    """Timers set aside as dead letters leave the scan until their retry restores them.

    ``next_action_at = NULL`` is the simplest park: the scan (and its partial index) already
    skips NULL, the retry recomputes what is due from the timer's own fields (never from
    ``next_action_at``), and a timer whose retries gave up stays out of the scan, as the dead
    letter rule says, until someone retries it from the admin. If even this write fails (a fault
    on the timer row itself), the timer comes back next scan and is set aside again: slower,
    never a stall.
    """
    if not timer_ids:
        return
    try:
        with transaction.atomic():
            SlaTimer.objects.filter(pk__in=timer_ids).update(next_action_at=None)
    except Exception as exc:
        if not deadletter.isolable(exc):
            raise
        logger.warning("sla: could not park timers %s: %s", sorted(timer_ids), exc)


def timer_retry(timer_id: int) -> None:
    """A timer set aside: fire what is due on it now, as the scan does, and put it back in the
    scan (its next action time). Raises if its firing fails again (it stays parked)."""
    now = timezone.now()
    with transaction.atomic():
        timer = (
            SlaTimer.objects.select_for_update(of=("self",))
            .filter(pk=timer_id, state=SlaTimer.State.RUNNING)
            .select_related("policy", "policy__calendar")
            .first()
        )
        if timer is None:
            return  # met, cancelled or superseded meanwhile: nothing to fire
        _fire([timer], _leads([timer]), {}, now)


def _save_progress(timers: list[SlaTimer]) -> None:
    """Write back what fired: one statement with array parameters on PostgreSQL.

    (Django's bulk_update builds a CASE per field with thousands of parameters, which psycopg
    re-parses each time: measured 1.2 s for 1,000 timers against ≈ 10 ms for this.)
    """
    if connection.vendor != "postgresql":
        SlaTimer.objects.bulk_update(
            timers, ["warned_at", "breached_at", "escalation_level", "next_action_at"]
        )
        return
    table = SlaTimer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS t SET warned_at = v.warned_at, breached_at = v.breached_at, "  # noqa: S608
            "escalation_level = v.level, next_action_at = v.next_at "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::smallint[], "
            "%s::timestamptz[]) AS v(id, warned_at, breached_at, level, next_at) WHERE t.id = v.id",
            [
                [t.pk for t in timers],
                [t.warned_at for t in timers],
                [t.breached_at for t in timers],
                [t.escalation_level for t in timers],
                [t.next_action_at for t in timers],
            ],
        )


def _notify(outbox: OutboxBatch, timer: SlaTimer, firing: Firing, lead: Mapping[str, Any]) -> None:
    if firing.kind == SlaEvent.Kind.REASSIGN:
        return  # carried out (and announced) by escalations_reassign
    name = lead_display_name(
        lead["first_name"], lead["last_name"], lead["email"], lead["external_id"], lead["pk"]
    )
    manager = lead["team__manager_id"]
    to_manager = firing.kind == SlaEvent.Kind.NOTIFY_MANAGER or timer.owner_id is None
    outbox.notify(
        recipient_id=manager if to_manager else timer.owner_id,
        reader=(
            Reader(lead["team__manager__language"], lead["team__manager__time_zone"])
            if to_manager and manager
            else None  # (the owners' are read for the whole batch at once)
        ),
        kind=f"sla.{firing.kind}",
        text=partial(
            _sla_text,
            firing.kind,
            name=name,
            stage=timer.stage,
            policy=timer.policy.name,
            due_at=timer.due_at,
        ),
        lead_id=timer.lead_id,
        handover_id=timer.handover_id,
        timer_id=timer.pk,
    )
    if firing.kind in (SlaEvent.Kind.WARNING, SlaEvent.Kind.BREACH):
        event = (
            EventType.SLA_WARNING
            if firing.kind == SlaEvent.Kind.WARNING
            else EventType.SLA_BREACHED
        )
        outbox.event(
            event,
            {
                "timer": {
                    "id": timer.pk,
                    "stage": timer.stage,
                    "policy": timer.policy.name,
                    "owner_id": timer.owner_id,
                    "started_at": timer.started_at,
                    "due_at": timer.due_at,
                    "warn_at": timer.warn_at,
                },
                "lead": {"id": timer.lead_id, "name": name, "company": lead["company"]},
                "handover_id": timer.handover_id,
            },
        )


def escalations_reassign(*, now: datetime, limit: int = 200) -> int:
    """Carry out fired ``reassign`` steps, one transaction each (lead → handover → timer locks).

    A step fired but not done (the process died) is picked up by the next scan.
    """
    from handover.services import assignment_pick, lead_reassign

    pending = SlaEvent.objects.filter(
        kind=SlaEvent.Kind.REASSIGN, done_at__isnull=True
    ).values_list("pk", flat=True)[:limit]
    done = 0
    for event_id in list(pending):
        with transaction.atomic():
            event = (
                SlaEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, done_at__isnull=True)
                .select_related("timer")
                .first()
            )
            if event is None:
                continue
            timer = event.timer
            if timer.state == SlaTimer.State.RUNNING:
                lead = Lead.objects.select_for_update(no_key=True).get(pk=timer.lead_id)
                exclude = {timer.owner_id} if timer.owner_id else set()
                pick = assignment_pick(lead=lead, now=now, exclude=exclude)
                manager = (
                    Lead.objects.filter(pk=lead.pk)
                    .values_list("team__manager_id", flat=True)
                    .first()
                )
                new_owner = pick.owner_id or manager
                if new_owner and new_owner != timer.owner_id:
                    lead_reassign(
                        lead_id=lead.pk,
                        owner_id=new_owner,
                        actor=None,
                        why=partial(_escalation_why, timer.policy.name),
                        restart_timers=True,
                    )
                    done += 1
                else:
                    logger.warning("sla: nobody to reassign lead %s to", lead.pk)
                    SlaTimer.objects.filter(pk=timer.pk).update(next_action_at=None)
            SlaEvent.objects.filter(pk=event.pk).update(done_at=timezone.now())
    return done


def _not_running(state: str) -> str:
    if state == SlaTimer.State.MET:
        return _("This SLA timer is already met.")
    if state == SlaTimer.State.CANCELLED:
        return _("This SLA timer is already cancelled.")
    if state == SlaTimer.State.SUPERSEDED:
        return _("This SLA timer is already superseded.")
    # Translators: %(state)s is the timer's state code
    return _("This SLA timer is already %(state)s.") % {"state": state}


def _escalation_why(policy: str) -> str:
    return _("SLA escalation: %(policy)s overdue") % {"policy": policy}


class TimerNotRunningError(DomainError):
    code = "sla_timer_not_running"


@transaction.atomic
def timer_mark_met(*, timer_id: int, actor: User) -> SlaTimer:
    """The owner (or a manager) did what the SLA asks (e.g. contacted the new SQL)."""
    timer = SlaTimer.objects.select_for_update().filter(pk=timer_id).first()
    if timer is None:
        raise NotFoundError(_("There is no SLA timer with id %(id)s.") % {"id": timer_id})
    if timer.owner_id != actor.pk and not actor.has_perm("handover.reassign_handover"):
        raise PermissionDeniedError(_("Only the owner or a manager may mark this SLA as met."))
    if timer.state != SlaTimer.State.RUNNING:
        raise TimerNotRunningError(_not_running(timer.state))
    timer.state, timer.stopped_at, timer.next_action_at = SlaTimer.State.MET, timezone.now(), None
    timer.save(update_fields=["state", "stopped_at", "next_action_at"])
    return timer


@transaction.atomic
def timer_restart_from(*, timer_id: int, started_at: datetime) -> SlaTimer:
    """Recompute a running timer as if its clock had started at ``started_at``.

    For imports of leads that were already waiting (and for the demo's overdue handover).
    """
    timer = SlaTimer.objects.select_for_update().select_related("policy__calendar").get(pk=timer_id)
    cal = timer.policy.calendar.as_calendar()
    timer.started_at = started_at
    timer.due_at = add_business_minutes(cal, started_at, timer.policy.target_minutes)
    timer.warn_at = (
        add_business_minutes(cal, timer.due_at, -timer.policy.warn_before_minutes)
        if timer.policy.warn_before_minutes
        else None
    )
    timer.warned_at = timer.breached_at = None
    timer.escalation_level = 0
    timer.next_action_at = min(timer.warn_at, timer.due_at) if timer.warn_at else timer.due_at
    timer.save()
    return timer
