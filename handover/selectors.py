"""Reads of the handover app. Visibility of handovers follows the leads' visibility."""

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from types import EllipsisType
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _

from handover.models import (
    AccountHandover,
    Delivery,
    Handover,
    Notification,
    QualificationChecklist,
    QualificationFramework,
    RejectionReason,
    SlaTimer,
)
from leadflow.models import User
from leadflow.roles import Role
from leads.extensions import CardBadge, TimelineEntry
from leads.lifecycle import Stage
from leads.models import Lead, Team, lead_display_name
from leads.permissions import ManagerScope, manager_scope
from leads.selectors import lead_visible_qs
from scoring.selectors import score_breakdown


def handover_visible_qs(*, user: User) -> QuerySet[Handover]:
    """Handovers of leads ``user`` may see, plus their own and their teams' queue."""
    qs = Handover.objects.select_related("lead", "owner", "rejection_reason")
    if user.has_perm("leads.view_all_leads"):
        return qs
    if not user.has_perm("handover.view_handover"):
        return qs.none()
    visible = lead_visible_qs(user=user).values("pk")
    return qs.filter(
        Q(lead__in=visible) | Q(owner=user) | Q(owner__isnull=True, team__members=user)
    ).distinct()


def account_inbox(
    *, user: User, scope: ManagerScope | None | EllipsisType = ..., limit: int = 20
) -> list[AccountHandover]:
    """Open account handovers (MQA) the user may decide, the earliest deadline first: the same
    rule as ``handover_inbox`` (theirs, their teams' queue, a manager's teams)."""
    if not user.has_perm("handover.decide_sal"):
        return []
    if isinstance(scope, EllipsisType):
        scope = manager_scope(user)
    teams = Team.objects.filter(members=user).values("pk")
    mine = Q(owner=user) | Q(owner__isnull=True, team__in=teams)
    qs = AccountHandover.objects.select_related("account", "owner").filter(
        status=AccountHandover.Status.OPEN
    )
    if scope is None or not scope.everything:
        qs = qs.filter(mine | scope.q() if scope is not None else mine)
    return list(qs.order_by(F("due_at").asc(nulls_last=True), "opened_at", "id")[:limit])


def handover_inbox(
    *, user: User, scope: ManagerScope | None | EllipsisType = ...
) -> QuerySet[Handover]:
    """The SAL inbox: open handovers the user owns or may claim from a team queue, and for a
    manager every open handover of the teams they manage (``handover.permissions.may_decide``,
    as a filter).

    Both kinds are visible to the user by definition (see ``handover_visible_qs``), so the
    lead-visibility subquery is left out: with a rep seeing 150k of 1M leads it made this page
    take 40 s. The team queue is a subquery, not a join, so no row comes back twice.
    ``scope``: the user's ``manager_scope`` when the caller has it already (three queries).
    """
    if not user.has_perm("handover.view_handover"):
        return Handover.objects.none()
    teams = Team.objects.filter(members=user).values("pk")
    mine = Q(owner=user) | Q(owner__isnull=True, team__in=teams)
    if not user.has_perm("handover.decide_sal"):
        scope = None
    elif isinstance(scope, EllipsisType):
        scope = manager_scope(user)
    qs = Handover.objects.select_related("lead", "owner", "rejection_reason").filter(
        status=Handover.Status.OPEN
    )
    if scope is None or not scope.everything:
        qs = qs.filter(mine | scope.q() if scope is not None else mine)
    return qs.order_by("opened_at", "id")


def rejections_by_source(*, user: User) -> list[dict[str, Any]]:
    """Rejected handovers counted by lead source and reason (for the reports and the inbox)."""
    return list(
        handover_visible_qs(user=user)
        .filter(status=Handover.Status.REJECTED)
        .order_by()
        .values("lead_source", "reason_code")
        .annotate(count=Count("id"))
        .order_by("lead_source", "-count", "reason_code")
    )


def notification_list(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user)
    return qs.filter(read_at__isnull=True) if unread_only else qs


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def delivery_list() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("event", "subscription", "recipient")


def _score_breakdown(lead_id: int) -> Any:
    """The per-rule breakdown of the lead's stored score (scoring sits below handover)."""
    return score_breakdown(lead_id=lead_id)


def email_context(*, payload: Mapping[str, Any], recipient: User) -> dict[str, Any]:
    """What a rep needs in the e-mail: who, why now, scores, last activities, SLA due, a link."""
    lead_id = payload.get("lead_id")
    lead = (
        Lead.objects.select_related("owner", "team").filter(pk=int(lead_id)).first()
        if lead_id
        else None
    )
    timer = None
    if payload.get("timer_id"):
        timer = SlaTimer.objects.select_related("policy").filter(pk=payload["timer_id"]).first()
    elif lead is not None:
        timer = (
            SlaTimer.objects.select_related("policy")
            .filter(lead=lead, state=SlaTimer.State.RUNNING)
            .order_by("due_at")
            .first()
        )
    return {
        "recipient": recipient,
        "title": payload.get("title", ""),
        "why": payload.get("body", ""),
        "lead": lead,
        "activities": list(lead.activities.order_by("-occurred_at")[:5]) if lead else [],
        "breakdown": _score_breakdown(lead.pk) if lead else None,
        "timer": timer,
        # past due even before the scanner has marked the breach (it runs every minute or so)
        "overdue": timer is not None
        and (timer.breached_at is not None or timer.due_at <= timezone.now()),
        "link": payload.get("link") or settings.SITE_URL,
        "site_url": settings.SITE_URL,
    }


# --- browser pages (SAL inbox, lead panel, board badges, manager home) -------------------------


UNASSIGNED = "none"  # the inbox's owner filter for handovers nobody owns yet (team queues)
# A manager's (or an admin's) inbox can hold thousands: the page shows the most urgent ones and
# says there are more (its filter narrows it to one rep).
INBOX_LIMIT = 200


class InboxRow(NamedTuple):
    """One waiting handover as the inbox shows it: its own columns, its lead's, and its
    earliest running SLA deadline. Columns rather than model instances: a manager's 200 rows
    were 800 instances (handover, lead, owners) and a third of the page's time."""

    pk: int
    lead_id: int
    owner_id: int | None
    team_id: int | None
    sla_due: datetime | None
    first_name: str
    last_name: str
    email: str | None
    external_id: str | None
    company: str
    job_title: str
    score: int
    grade: str
    source: str

    @property
    def display_name(self) -> str:
        return lead_display_name(
            self.first_name, self.last_name, self.email, self.external_id, self.lead_id
        )


_INBOX_COLUMNS = (
    *("pk", "lead_id", "owner_id", "team_id", "sla_due"),
    *(f"lead__{name}" for name in InboxRow._fields[5:]),
)


def inbox_rows(
    *,
    user: User,
    owner: str = "",
    lead_id: int | None = None,
    limit: int = INBOX_LIMIT,
    scope: ManagerScope | None | EllipsisType = ...,
) -> list[InboxRow]:
    """The inbox, most urgent first: earliest running SLA deadline, then the oldest handover.
    ``owner``: a user id, or ``UNASSIGNED``; ``lead_id``: just that lead's handover. At most
    ``limit`` + 1 rows (the one more says there are more). ``scope``: as ``handover_inbox``."""
    due = Min("timers__due_at", filter=Q(timers__state=SlaTimer.State.RUNNING))
    qs = handover_inbox(user=user, scope=scope)
    if owner == UNASSIGNED:
        qs = qs.filter(owner__isnull=True)
    elif owner.isdigit():
        qs = qs.filter(owner_id=int(owner))
    if lead_id is not None:
        qs = qs.filter(lead_id=lead_id)
    ordered = qs.annotate(sla_due=due).order_by(
        F("sla_due").asc(nulls_last=True), "opened_at", "id"
    )
    return [InboxRow._make(values) for values in ordered.values_list(*_INBOX_COLUMNS)[: limit + 1]]


def inbox_owner_names(*, rows: Sequence[InboxRow], user: User) -> dict[int, str]:
    """The names of the rows' owners other than ``user`` (one query, none for a rep's own
    inbox), as ``str(user)`` writes them."""
    ids = {row.owner_id for row in rows} - {None, user.pk}
    if not ids:
        return {}
    return {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}


def inbox_owner_choices(*, user: User, scope: ManagerScope | None) -> list[tuple[str, str]]:
    """The owners a manager's inbox can be filtered by: "Mine" first when they own handovers
    themselves, the members of the teams they manage (every rep and manager for admins), and
    the team queues. (No choice means all of them: ``inbox_all_label``.) ``scope``: the
    user's ``manager_scope``."""
    if scope is None:
        return []
    rows = [(str(pk), name) for pk, name in reassign_choices(user=user, scope=scope)]
    mine = [
        (value, _("Mine (%(name)s)") % {"name": name})
        for value, name in rows
        if value == str(user.pk)
    ]
    others = [row for row in rows if row[0] != str(user.pk)]
    return [*mine, *others, (UNASSIGNED, _("Unassigned (team queue)"))]


def inbox_all_label(*, scope: ManagerScope | None) -> str:
    return _("All teams") if scope is not None and scope.everything else _("Everyone in my teams")


def reassign_choices(*, user: User, scope: ManagerScope | None = None) -> list[tuple[int, str]]:
    """Whom ``user`` may give leads to (``handover.permissions.may_receive``): the members of
    the teams they manage; every active rep and manager for admins."""
    scope = scope or manager_scope(user)
    if scope is None:
        return []
    people = User.objects.filter(
        is_active=True, groups__name__in=[Role.SALES_REP.value, Role.SALES_MANAGER.value]
    )
    if not scope.everything:
        people = User.objects.filter(pk__in=scope.member_ids, is_active=True)
    return [(u.pk, str(u)) for u in people.distinct().order_by("first_name", "username")]


SALS_SHOWN = 100


def sals_to_qualify(*, user: User, limit: int = SALS_SHOWN) -> list[Lead]:
    """The user's accepted leads (SAL) waiting for a qualification call, most urgent first:
    those with a running SLA clock by deadline, then the rest, longest in SAL first.

    Two bounded reads, not one sort of every SAL the user owns by its earliest deadline (0.44 s
    for a rep with 21,507 SALs at 1M leads): running clocks are few, and the rest is a walk of
    lead_owner_stage_time_idx that stops after ``limit`` leads.
    """
    # the user's own leads are visible to them by definition: no visibility subquery (0.3 s at 1M)
    mine = Lead.objects.filter(stage=Stage.SAL, owner=user)
    running = Q(sla_timers__state=SlaTimer.State.RUNNING)
    clocked: list[Lead] = list(
        mine.filter(running)
        .annotate(sla_due=Min("sla_timers__due_at"))
        .order_by("sla_due", "stage_changed_at", "id")[:limit]
    )
    if len(clocked) == limit:
        return clocked
    rest = list(mine.exclude(running).order_by("stage_changed_at", "id")[: limit - len(clocked)])
    for lead in rest:
        lead.sla_due = None  # type: ignore[attr-defined]
    return clocked + rest


class _Badges:
    """Writes the SLA badges of one page, in its language and time zone: the words looked up
    once (a lookup costs about 15 µs, a board shows hundreds of cards), the day of a deadline
    ("D d M", translated) formatted once per day."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._days: dict[date, str] = {}
        # Translators: %(stage)s is a stage code (MQL, SAL, SQL); %(due)s a day and time
        self.due = _("%(stage)s SLA due %(due)s")
        # Translators: an SLA badge's tooltip: "MQL SLA due Sat 05 Dec 14:30 — breached"
        self.breached = _("%(due)s — breached")
        # Translators: an SLA badge on a board card; %(left)s is a span like "2h 10m"
        self.overdue = _("SLA overdue %(left)s")
        # Translators: an SLA badge on a board card; %(left)s is a span like "2h 10m"
        self.running = _("SLA %(left)s")
        # Translators: a short time span on a board card's SLA badge: days and hours
        self.days = _("%(days)sd %(hours)sh")
        # Translators: a short time span on a board card's SLA badge: hours and minutes
        self.hours = _("%(hours)sh %(minutes)sm")
        # Translators: a short time span on a board card's SLA badge: minutes
        self.minutes = _("%(minutes)sm")

    def __call__(self, timer: SlaTimer) -> CardBadge:
        left = timer.due_at - self.now
        local = timezone.localtime(timer.due_at)
        day = self._days.get(local.date())
        if day is None:
            day = self._days[local.date()] = date_format(local, "D d M")
        due = self.due % {"stage": timer.stage.upper(), "due": f"{day} {local:%H:%M}"}
        if left.total_seconds() <= 0:
            return CardBadge(
                self.overdue % {"left": self._span(-left)},
                "breach",
                self.breached % {"due": due},
                timer.due_at,
            )
        tone = "warn" if timer.warn_at is not None and timer.warn_at <= self.now else "ok"
        return CardBadge(self.running % {"left": self._span(left)}, tone, due, timer.due_at)

    def _span(self, delta: timedelta) -> str:
        minutes = int(delta.total_seconds() // 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, mins = divmod(rest, 60)
        if days:
            return self.days % {"days": days, "hours": hours}
        if hours:
            return self.hours % {"hours": hours, "minutes": mins}
        return self.minutes % {"minutes": mins}


def sla_badges(lead_ids: Sequence[int]) -> dict[int, CardBadge]:
    """The most urgent running SLA clock of each lead (one query), for board cards."""
    if not lead_ids:
        return {}
    badge = _Badges(timezone.now())
    badges: dict[int, CardBadge] = {}
    timers = SlaTimer.objects.filter(
        lead_id__in=list(lead_ids), state=SlaTimer.State.RUNNING
    ).order_by("lead_id", "due_at")
    for timer in timers:
        if timer.lead_id not in badges:
            badges[timer.lead_id] = badge(timer)
    return badges


def lead_notification_entries(lead: Lead) -> list[TimelineEntry]:
    """Notifications sent about a lead, for its timeline."""
    rows = (
        Notification.objects.filter(lead_id=lead.pk)
        .select_related("recipient")
        .order_by("-id")[:50]
    )
    # Translators: whom a notification in a lead's timeline was sent to
    to = _("to %(user)s")
    return [
        TimelineEntry(
            at=n.created_at,
            kind="notification",
            title=n.title,
            detail=n.body,
            actor=to % {"user": n.recipient},
        )
        for n in rows
    ]


def lead_panel(*, lead: Lead) -> dict[str, Any]:
    """What the lead page's side panel shows: handover, SLA clocks, checklists, score."""
    badge = _Badges(timezone.now())
    timers = list(
        SlaTimer.objects.filter(lead=lead, state=SlaTimer.State.RUNNING)
        .select_related("policy", "owner")
        .order_by("due_at")
    )
    for timer in timers:
        timer.badge = badge(timer)  # type: ignore[attr-defined]
    checklists = list(
        QualificationChecklist.objects.filter(lead=lead)
        .select_related("framework", "updated_by")
        .order_by("framework__name")
    )
    for checklist in checklists:
        checklist.rows = [  # type: ignore[attr-defined]
            {
                "label": c["label"],
                "met": bool(checklist.answers.get(c["key"], {}).get("met")),
                "note": checklist.answers.get(c["key"], {}).get("note", ""),
            }
            for c in checklist.framework.criteria
        ]
    handover = (
        Handover.objects.filter(lead=lead)
        .select_related("owner", "decided_by", "rejection_reason")
        .order_by("-opened_at", "-id")
        .first()
    )
    return {
        "handover": handover,
        "timers": timers,
        "checklists": checklists,
        "breakdown": _score_breakdown(lead.pk),
    }


def frameworks() -> QuerySet[QualificationFramework]:
    return QualificationFramework.objects.filter(active=True).order_by("-is_default", "name")


def rejection_reasons() -> QuerySet[RejectionReason]:
    return RejectionReason.objects.filter(active=True).order_by("position", "label")


def team_sla_status(*, user: User) -> list[dict[str, Any]]:
    """Per rep of the user's teams (every team for admins): open handovers and SLA clocks."""
    teams = Team.objects.prefetch_related("members").order_by("name")
    scope = manager_scope(user)
    if scope is None:
        return []
    if not scope.everything:
        teams = teams.filter(pk__in=scope.team_ids)
    now = timezone.now()
    soon = now + timedelta(hours=1)
    rows: list[dict[str, Any]] = []
    team_list = list(teams)
    member_ids = {m.pk for t in team_list for m in t.members.all()}
    running = Q(state=SlaTimer.State.RUNNING)
    clocks = {
        r["owner_id"]: r
        for r in SlaTimer.objects.filter(running, owner_id__in=member_ids)
        .order_by()
        .values("owner_id")
        .annotate(
            running=Count("id"),
            overdue=Count("id", filter=Q(due_at__lte=now)),
            due_soon=Count("id", filter=Q(due_at__gt=now, due_at__lte=soon)),
            next_due=Min("due_at", filter=Q(due_at__gt=now)),
        )
    }
    open_handovers = dict(
        Handover.objects.filter(status=Handover.Status.OPEN, owner_id__in=member_ids)
        .order_by()
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    for team in team_list:
        members = []
        for member in sorted(team.members.all(), key=lambda u: str(u)):
            c = clocks.get(member.pk, {})
            members.append(
                {
                    "user": member,
                    "open": open_handovers.get(member.pk, 0),
                    "running": c.get("running", 0),
                    "overdue": c.get("overdue", 0),
                    "due_soon": c.get("due_soon", 0),
                    "next_due": c.get("next_due"),
                }
            )
        queue = Handover.objects.filter(
            status=Handover.Status.OPEN, owner__isnull=True, team=team
        ).count()
        rows.append({"team": team, "members": members, "queue": queue})
    return rows
