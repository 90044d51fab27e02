"""The account reports (issue 18): MQA → opportunity → won, buying-group coverage of won and
lost accounts, and the open pipeline by tier. Exact definitions: docs/reports.md, "Accounts".

Who belonged to an account comes from the membership log (``companies.Membership``), never
from a lead's company text: a lead's move counts for an account when one of the lead's
membership rows in that account covers the move's time, [``started_at``, ``ended_at``). A
lead's *first* membership row also covers the lead's history before it, back to its entry into
the funnel: before its first link the lead had no recorded company, and the backfill links
leads that already have a history.

Every figure is one set-based query (``EXISTS`` / scalar subqueries driven from the account's
membership rows and the stage log's (lead, changed_at) index); nothing loops over accounts in
Python.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Account, BuyingRole, Membership, Tier
from handover.models import AccountHandover
from leads.lifecycle import Stage
from leads.models import StageChange
from reports.base import Column, Report, none_label, rate
from reports.filters import ReportFilters

# the open end of a current membership's cover (fits PostgreSQL's timestamptz and SQLite's text)
FOREVER: Final = datetime(9999, 12, 31, tzinfo=UTC)

# a lost opportunity: an SQL member recycled or disqualified (leads.lifecycle.ALLOWED[SQL])
LOST_TO: Final = (Stage.NURTURE, Stage.DISQUALIFIED)
# the buying roles a report counts as covered (``unknown`` is no role)
ROLES: Final = tuple(r for r in BuyingRole if r != BuyingRole.UNKNOWN)
TIERS: Final = (*Tier.values, "")


def _at(value: datetime) -> Value:
    return Value(value, output_field=DateTimeField())


def memberships() -> QuerySet[Membership]:
    """Membership rows in an account, with the time each covers: [covers_from, covers_to).
    A lead's first row covers from the lead's first stage-log entry (its entry into the
    funnel) if that came before the link."""
    earlier = Membership.objects.filter(
        lead_id=OuterRef("lead_id"), started_at__lt=OuterRef("started_at")
    )
    entry = (
        StageChange.objects.filter(lead_id=OuterRef("lead_id"))
        .order_by("changed_at", "id")
        .values("changed_at")[:1]
    )
    return Membership.objects.filter(account__isnull=False).annotate(
        covers_from=Case(
            When(Exists(earlier), then=F("started_at")),
            default=Least(Coalesce(Subquery(entry), F("started_at")), F("started_at")),
            output_field=DateTimeField(),
        ),
        covers_to=Coalesce(F("ended_at"), _at(FOREVER)),
    )


def member_moves(*, to: Iterable[Stage], from_stage: Stage | None = None) -> QuerySet[StageChange]:
    """Stage-log entries of the outer membership row's lead (``OuterRef`` = a row of
    ``memberships()``) into ``to`` made while that row covered them."""
    moves = StageChange.objects.filter(
        lead_id=OuterRef("lead_id"),
        to_stage__in=[s.value for s in to],
        changed_at__gte=OuterRef("covers_from"),
        changed_at__lt=OuterRef("covers_to"),
    )
    return moves if from_stage is None else moves.filter(from_stage=from_stage.value)


def tier_label(tier: str) -> str:
    return str(Tier(tier).label) if tier else _("No tier")


# --- MQA → opportunity → won ----------------------------------------------------------------------


def _credit_until() -> Any:
    """The account's next MQA (or never): a move is credited to the latest MQA before it."""
    later = (
        AccountHandover.objects.filter(
            account_id=OuterRef("account_id"), opened_at__gt=OuterRef("opened_at")
        )
        .order_by("opened_at")
        .values("opened_at")[:1]
    )
    return Coalesce(Subquery(later), _at(FOREVER))


def _reached_after_mqa(stage: Stage) -> Exists:
    """A member of the MQA's account entered ``stage`` in [opened_at, next MQA)."""
    moves = member_moves(to=[stage]).filter(
        changed_at__gte=OuterRef(OuterRef("opened_at")),
        changed_at__lt=OuterRef(OuterRef("credit_until")),
    )
    return Exists(memberships().filter(account_id=OuterRef("account_id")).filter(Exists(moves)))


def account_mqa(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """MQA events (AccountHandover rows) opened in the period, by MQA month (report time zone),
    tier and/or source as they were at the MQA: how many led to an opportunity (a member
    entered SQL) and to a win (a member entered Customer) before the account's next MQA."""
    group = {
        "month": ("month",),
        "tier": ("tier",),
        "source": ("source",),
        "month_tier": ("month", "tier"),
        "month_source": ("month", "source"),
    }[f.mqa_by]
    qs = AccountHandover.objects.filter(f.period_q("opened_at"), f.account_q())
    if f.source:
        qs = qs.filter(source=f.source)
    month = {"month": TruncMonth("opened_at")} if "month" in group else {}
    rows = list(
        qs.annotate(credit_until=_credit_until())
        .annotate(is_opp=_reached_after_mqa(Stage.SQL), is_won=_reached_after_mqa(Stage.CUSTOMER))
        .order_by()
        .values(*(g for g in group if g != "month"), **month)
        .annotate(
            mqas=Count("pk"),
            opportunities=Count("pk", filter=Q(is_opp=True)),
            won=Count("pk", filter=Q(is_won=True)),
            won_after_opportunity=Count("pk", filter=Q(is_opp=True, is_won=True)),
        )
    )
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        if "month" in group:
            row["month"] = timezone.localtime(r["month"]).strftime("%Y-%m")
        if "tier" in group:
            row["tier"], row["tier_label"] = r["tier"], tier_label(r["tier"])
        if "source" in group:
            row["source"] = r["source"] or none_label()
        row |= {
            "mqas": r["mqas"],
            "opportunities": r["opportunities"],
            "won": r["won"],
            "mqa_to_opportunity_rate": rate(r["opportunities"], r["mqas"]),
            "mqa_to_won_rate": rate(r["won"], r["mqas"]),
            "opportunity_to_won_rate": rate(r["won_after_opportunity"], r["opportunities"]),
        }
        out.append(row)
    out.sort(
        key=lambda r: (
            r.get("month", ""),
            TIERS.index(r["tier"]) if "tier" in r else 0,
            -r["mqas"] if "source" in r else 0,
            r.get("source", ""),
        )
    )
    keys = [Column("month", _("MQA month"), "text")] if "month" in group else []
    keys += [Column("tier_label", _("Tier"), "text")] if "tier" in group else []
    keys += [Column("source", _("Source"), "text")] if "source" in group else []
    return Report(
        slug="accounts-mqa",
        title=_("Accounts: MQA → opportunity → won"),
        columns=[
            *keys,
            # Translators: marketing qualified accounts (events: an account may qualify again)
            Column("mqas", _("MQAs")),
            Column("opportunities", _("Opportunities (member reached SQL)")),
            Column("won", _("Won (member became customer)")),
            Column("mqa_to_opportunity_rate", _("MQA→Opportunity"), "rate"),
            Column("mqa_to_won_rate", _("MQA→Won"), "rate"),
            Column("opportunity_to_won_rate", _("Opportunity→Won"), "rate"),
        ],
        rows=out,
        chart_type="line" if f.mqa_by == "month" else "bar",
        chart_label=keys[0].key,
        chart_series=["mqas", "opportunities", "won"],
    )


# --- buying-group coverage of won and lost accounts -----------------------------------------------


def _first_member_move(*, to: Iterable[Stage], from_stage: Stage | None = None, last: bool) -> Any:
    """The account's (``OuterRef("pk")``) first (or last) member move into ``to``."""
    order = "-changed_at" if last else "changed_at"
    per_member = Subquery(
        member_moves(to=to, from_stage=from_stage).order_by(order).values("changed_at")[:1]
    )
    return Subquery(
        memberships()
        .filter(account_id=OuterRef("pk"))
        .annotate(at=per_member)
        .filter(at__isnull=False)
        .order_by("-at" if last else "at")
        .values("at")[:1]
    )


def _covers(role: str) -> Exists:
    """A member of the account holding ``role`` at the account's ``outcome_at``."""
    return Exists(
        memberships().filter(
            Q(covers_from__lte=OuterRef("outcome_at"), covers_to__gt=OuterRef("outcome_at")),
            account_id=OuterRef("pk"),
            role=role,
        )
    )


def account_outcomes(f: ReportFilters) -> dict[str, QuerySet[Account]]:
    """Won and lost accounts, each annotated with ``outcome_at`` (the time the buying group is
    read at): won = a member entered Customer (first such time in the period); lost = never
    won, no current member in SQL, and a member left SQL to Nurture or Disqualified (the last
    such time in the period)."""
    accounts = Account.objects.filter(f.account_q(prefix="")).annotate(
        won_at=_first_member_move(to=[Stage.CUSTOMER], last=False),
        lost_at=_first_member_move(to=LOST_TO, from_stage=Stage.SQL, last=True),
        in_sql=Exists(
            Membership.objects.filter(
                account_id=OuterRef("pk"), ended_at__isnull=True, lead__stage=Stage.SQL
            )
        ),
    )
    return {
        "won": accounts.filter(f.period_q("won_at")).annotate(outcome_at=F("won_at")),
        "lost": accounts.filter(f.period_q("lost_at"), won_at__isnull=True, in_sql=False).annotate(
            outcome_at=F("lost_at")
        ),
    }


def account_coverage(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Won vs lost accounts: the average number of buying roles their members covered when
    the account was won or lost, and the share of accounts covering each role."""
    labels = {"won": _("Won"), "lost": _("Lost")}
    out = []
    for outcome, qs in account_outcomes(f).items():
        flags = {r.value: _covers(r.value) for r in ROLES}
        totals = (
            qs.annotate(**{f"has_{k}": v for k, v in flags.items()})
            .order_by()
            .aggregate(
                accounts=Count("pk"),
                **{k: Count("pk", filter=Q(**{f"has_{k}": True})) for k in flags},
            )
        )
        n = totals["accounts"]
        covered = sum(totals[k] for k in flags)
        out.append(
            {
                "outcome": outcome,
                "label": str(labels[outcome]),
                "accounts": n,
                "avg_roles": round(covered / n, 4) if n else None,
                **{f"share_{k}": rate(totals[k], n) for k in flags},
            }
        )
    return Report(
        slug="accounts-coverage",
        title=_("Accounts: buying-group coverage of won and lost accounts"),
        columns=[
            Column("label", _("Outcome"), "text"),
            Column("accounts", _("Accounts")),
            Column("avg_roles", _("Average roles covered"), "number"),
            *(Column(f"share_{r.value}", str(r.label), "rate") for r in ROLES),
        ],
        rows=out,
        chart_label="label",
        chart_series=[f"share_{r.value}" for r in ROLES],
    )


# --- pipeline by tier -----------------------------------------------------------------------------


def account_pipeline(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Open pipeline now, by the account's tier: accounts with a current member in SQL and
    those members; beside it what was won in the period (members that became customers while
    members, their deal value). There is no open-deal value: ``deal_value`` is set on a win."""
    current = Membership.objects.filter(
        f.account_q(), ended_at__isnull=True, account__isnull=False, lead__stage=Stage.SQL
    )
    open_rows = {
        r["tier"]: r
        for r in current.order_by()
        .values(tier=F("account__tier"))
        .annotate(accounts=Count("account_id", distinct=True), sql_members=Count("pk"))
    }
    wins = member_moves(to=[Stage.CUSTOMER]).filter(f.period_q("changed_at"))
    won_rows = {
        r["tier"]: r
        for r in memberships()
        .filter(f.account_q())
        .filter(Exists(wins))
        .order_by()
        .values(tier=F("account__tier"))
        .annotate(
            won_accounts=Count("account_id", distinct=True),
            customers=Count("lead_id", distinct=True),
            won_value=Coalesce(Sum("lead__deal_value"), Value(Decimal(0))),
        )
    }
    out = []
    for tier in TIERS:
        o, w = open_rows.get(tier, {}), won_rows.get(tier, {})
        out.append(
            {
                "tier": tier,
                "tier_label": tier_label(tier),
                "accounts": o.get("accounts", 0),
                "sql_members": o.get("sql_members", 0),
                "won_accounts": w.get("won_accounts", 0),
                "customers": w.get("customers", 0),
                "won_value": float(w.get("won_value") or 0),
            }
        )
    return Report(
        slug="accounts-pipeline",
        title=_("Accounts: pipeline by tier"),
        columns=[
            Column("tier_label", _("Tier"), "text"),
            Column("accounts", _("Accounts with a member in SQL")),
            Column("sql_members", _("Members in SQL")),
            Column("won_accounts", _("Accounts won")),
            Column("customers", _("Members won")),
            Column("won_value", _("Won deal value"), "money"),
        ],
        rows=out,
        chart_label="tier_label",
        chart_series=["accounts", "won_accounts"],
    )
