"""Reads of accounts: lists, an account's members and buying-group coverage, a lead's account,
name-match suggestions. Members are filtered by who may see each lead."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import Any

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Account, AccountDomain, BuyingRole, Membership
from leadflow.i18n import shown
from leadflow.models import User
from leads.extensions import TimelineEntry
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange
from leads.permissions import Perm
from leads.selectors import activity_entry, lead_visible_qs

# a member engages when they had an activity in this many days (coverage "engaged")
ENGAGED_DAYS = 30


def account_visible_qs(*, user: User) -> QuerySet[Account]:
    """Accounts are shared company records: everyone who may see accounts sees all of them
    (their members stay filtered by lead visibility)."""
    if not user.has_perm("companies.view_account"):
        return Account.objects.none()
    return Account.objects.all()


def account_list_qs(*, user: User) -> QuerySet[Account]:
    return (
        account_visible_qs(user=user)
        .select_related("owner", "team", "parent")
        # a correlated count: computed for the rows a page shows, never for all accounts
        # (a join + GROUP BY counted every account's members before LIMIT cut the page)
        .annotate(member_count=_member_count())
        .order_by(Lower("name"), "pk")
    )


def _member_count() -> Any:
    current = (
        Membership.objects.filter(account=OuterRef("pk"), ended_at__isnull=True)
        .order_by()
        .values("account")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(current, output_field=IntegerField()), 0)


def account_get_visible(*, user: User, account_id: int) -> Account | None:
    return account_visible_qs(user=user).filter(pk=account_id).first()


def current_members_qs(*, account_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(account_id=account_id, ended_at__isnull=True)


@dataclass(frozen=True)
class RosterMember:
    lead_id: int
    role: str
    score: int  # the lead's
    engagement: int  # the lead's engagement score
    active: bool  # an activity within ENGAGED_DAYS


def account_roster(account: Account) -> list[RosterMember]:
    """Every current member of ``account`` with what the account page shows of it, in one pass
    over the members (by lead id: each lead page read once), read once per account object: the
    members by score, the buying-group coverage and the most engaged share it (three passes over
    a 5,000-member account's leads were 70 ms of its page). Lead visibility is not applied."""
    cached: list[RosterMember] | None = getattr(account, "_roster", None)
    if cached is not None:
        return cached
    since = timezone.now() - timedelta(days=ENGAGED_DAYS)
    # one EXISTS per member on the (lead, time) index: a join to the activities counted each
    # activity as a member (60 "decision makers" in an account of 25)
    active = Activity.objects.filter(lead_id=OuterRef("lead_id"), occurred_at__gte=since)
    rows = (
        current_members_qs(account_id=account.pk)
        .annotate(active=Exists(active))
        .order_by("lead_id")
        .values_list("lead_id", "role", "lead__score", "lead__engagement_score", "active")
    )
    roster = [RosterMember(*row) for row in rows]
    account._roster = roster  # type: ignore[attr-defined]
    return roster


def top_engaged_members(
    roster: Sequence[RosterMember], *, limit: int
) -> tuple[list[tuple[int, int]], int]:
    """(lead id, engagement score) of the members with engagement, the most engaged first (then
    by lead id), at most ``limit``, and how many such members there are: the "why" of an
    account's score, read when it is shown (the sweep stores only the totals)."""
    engaged = sorted(
        ((m.lead_id, m.engagement) for m in roster if m.engagement > 0),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return engaged[:limit], len(engaged)


def members_by_score(roster: Sequence[RosterMember]) -> list[int]:
    """The members' lead ids, highest lead score first (then by lead id): the account page's
    order."""
    return [m.lead_id for m in sorted(roster, key=lambda m: (-m.score, m.lead_id))]


def account_members(*, user: User, account_id: int) -> QuerySet[Membership]:
    """The account's current members ``user`` may see, with their lead."""
    members = current_members_qs(account_id=account_id)
    if not user.has_perm(Perm.VIEW_ALL_LEADS):
        # A user who sees every lead needs no test (a membership's lead always exists): at 5,000
        # members the EXISTS probed each lead once more, in the page and again in its count.
        members = members.filter(Exists(lead_visible_qs(user=user).filter(pk=OuterRef("lead_id"))))
    return members.select_related("lead", "lead__owner").order_by("-lead__score", "lead_id")


def members_in_order(*, account_id: int, lead_ids: list[int]) -> list[Membership]:
    """The current memberships of ``lead_ids`` in ``account_id`` with their leads, in that
    order (a page of ``members_by_score``)."""
    rows = {
        m.lead_id: m
        for m in current_members_qs(account_id=account_id)
        .filter(lead_id__in=lead_ids)
        .select_related("lead", "lead__owner")
    }
    return [rows[i] for i in lead_ids if i in rows]


@dataclass(frozen=True)
class Coverage:
    role: str
    label: str
    members: int  # current members in the role
    engaged: int  # of them, active within ENGAGED_DAYS


def buying_coverage(roster: Sequence[RosterMember]) -> list[Coverage]:
    """Per buying role (unknown last): how many current members hold it and how many engage."""
    members = Counter(m.role for m in roster)
    engaged = Counter(m.role for m in roster if m.active)
    return [
        Coverage(role=role.value, label=str(role.label), members=members[role.value],
                 engaged=engaged[role.value])
        for role in BuyingRole
    ]  # fmt: skip


def lead_membership(*, lead_id: int) -> Membership | None:
    """The lead's current link (its account, or an explicit "no account"), if any."""
    return (
        Membership.objects.filter(lead_id=lead_id, ended_at__isnull=True)
        .select_related("account")
        .first()
    )


def lead_membership_log(*, lead_id: int) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(lead_id=lead_id)
        .select_related("account", "actor")
        .order_by("-started_at", "-pk")
    )


def owned_accounts_exist() -> bool:
    return Account.objects.filter(owner__isnull=False).exists()


def lead_owned_account(*, lead_id: int) -> Account | None:
    """The lead's current account if it has an owner (lead-to-account routing)."""
    member = (
        Membership.objects.filter(
            lead_id=lead_id, ended_at__isnull=True, account__owner__isnull=False
        )
        .select_related("account")
        .first()
    )
    return member.account if member is not None else None


def lead_accounts(lead_ids: list[int]) -> dict[int, Account]:
    """Each lead's current account, in one query (board cards, lists)."""
    return {
        m.lead_id: m.account
        for m in Membership.objects.filter(
            lead_id__in=lead_ids, ended_at__isnull=True, account__isnull=False
        ).select_related("account")
        if m.account is not None
    }


def account_suggestions(*, lead: Lead, limit: int = 3) -> QuerySet[Account]:
    """Accounts whose name is the lead's company text (any case): offered, never linked."""
    company = lead.company.strip()
    if not company:
        return Account.objects.none()
    return Account.objects.annotate(lname=Lower("name")).filter(lname=company.lower())[:limit]


def account_for_domain(domain: str) -> Account | None:
    found = AccountDomain.objects.filter(domain=domain.strip().lower()).select_related("account")
    row = found.first()
    return row.account if row is not None else None


def account_lookup(values: set[str]) -> dict[str, int | str]:
    """Each value's account id, by external id, then domain, then exact name (any case); a name
    two accounts share maps to "ambiguous" (an import column naming the account)."""
    out: dict[str, int | str] = {}
    by_external = dict(
        Account.objects.filter(external_id__in=values).values_list("external_id", "pk")
    )
    lowered = {v.lower(): v for v in values}
    by_domain = dict(
        AccountDomain.objects.filter(domain__in=list(lowered)).values_list("domain", "account_id")
    )
    names: dict[str, list[int]] = {}
    for name, pk in (
        Account.objects.annotate(lname=Lower("name"))
        .filter(lname__in=list(lowered))
        .values_list("lname", "pk")
    ):
        names.setdefault(name, []).append(pk)
    for value in values:
        if value in by_external:
            out[value] = by_external[value]
        elif value.lower() in by_domain:
            out[value] = by_domain[value.lower()]
        elif len(names.get(value.lower(), [])) == 1:
            out[value] = names[value.lower()][0]
        elif value.lower() in names:
            out[value] = "ambiguous"
    return out


TIMELINE_LIMIT = 30


def account_timeline(
    *, user: User, account_id: int, limit: int = TIMELINE_LIMIT
) -> list[TimelineEntry]:
    """The account's rolled-up timeline, newest first: its current members' activities and stage
    changes (of the leads ``user`` may see), and people joining and leaving. Three queries, each
    cut at ``limit`` in the database (an account may have thousands of members)."""
    members = account_members(user=user, account_id=account_id).values("lead_id")
    activities = (
        Activity.objects.filter(lead_id__in=members)
        .select_related("lead", "actor")
        .order_by("-occurred_at", "-id")[:limit]
    )
    changes = (
        StageChange.objects.filter(lead_id__in=members)
        .select_related("lead")
        .order_by("-changed_at", "-id")[:limit]
    )
    visible = lead_visible_qs(user=user).filter(pk=OuterRef("lead_id"))
    moves = (
        Membership.objects.filter(account_id=account_id)
        .filter(Exists(visible))
        .select_related("lead")
        .order_by("-started_at", "-id")[:limit]
    )

    def who(entry: TimelineEntry, name: str) -> TimelineEntry:
        return TimelineEntry(
            at=entry.at,
            kind=entry.kind,
            title=f"{name}: {entry.title}",
            detail=entry.detail,
            actor=entry.actor,
        )

    entries = chain(
        (who(activity_entry(a), a.lead.display_name) for a in activities),
        (
            TimelineEntry(
                at=c.changed_at,
                kind="stage",
                title=f"{c.lead.display_name}: {Stage(c.to_stage).label}",
                detail=shown(c.reason),
            )
            for c in changes
        ),
        (
            TimelineEntry(
                at=m.started_at,
                kind="member",
                title=_("%(name)s joined") % {"name": m.lead.display_name},
                detail=m.get_source_display(),
            )
            for m in moves
        ),
        (
            TimelineEntry(
                at=m.ended_at,
                kind="member",
                title=_("%(name)s left") % {"name": m.lead.display_name},
            )
            for m in moves
            if m.ended_at is not None
        ),
    )
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]
