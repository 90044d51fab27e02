"""The account reports (issue 18): MQA → opportunity → won, buying-group coverage of won and
lost accounts, and the open pipeline by tier. Exact definitions: docs/reports.md, "Accounts".

Who belonged to an account comes from the membership log (``companies.Membership``), never
from a lead's company text: a lead's move counts for an account when one of the lead's
membership rows in that account covers the move's time, [``started_at``, ``ended_at``). A
lead's *first* membership row also covers the lead's history before it, back to its entry into
the funnel: before its first link the lead had no recorded company, and the backfill links
leads that already have a history.

That rule is written once, as the SQL common table expression ``cover`` (``_Sql.cover``), and
every report is one set-based statement built on it (joins and GROUP BY; the account's outcome
time is computed once per statement, not per role or per account in Python). SQL rather than
the ORM because the ORM repeats an annotation's subquery wherever it is referred to: the
coverage report written with ``Exists`` per role took 9.5 s on 100k leads, 0.6 s as CTEs.
"""

from datetime import UTC, datetime
from typing import Any, Final

from django.db import connections, router
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.models import Account, BuyingRole, Membership, Tier
from handover.models import AccountHandover
from leads.lifecycle import Stage
from leads.models import Lead, StageChange
from reports.base import Column, Report, none_label, rate
from reports.filters import ReportFilters

# the open end of a current membership's cover (fits PostgreSQL's timestamptz and SQLite's text)
FOREVER: Final = datetime(9999, 12, 31, tzinfo=UTC)

# a lost opportunity: an SQL member recycled or disqualified (leads.lifecycle.ALLOWED[SQL])
LOST_TO: Final = (Stage.NURTURE, Stage.DISQUALIFIED)
# the buying roles a report counts as covered (``unknown`` is no role)
ROLES: Final = tuple(r for r in BuyingRole if r != BuyingRole.UNKNOWN)
TIERS: Final = (*Tier.values, "")


def tier_label(tier: str) -> str:
    """The tier's name; an MQA row records the tier as text, so a value the choices no longer
    know is shown as it is."""
    if not tier:
        return _("No tier")
    return str(Tier(tier).label) if tier in Tier.values else tier


# --- SQL shared by the reports ------------------------------------------------------------------


class _Sql:
    """A statement built in text order with its positional parameters (``%s``), so that the
    ORM's own time-zone truncation (``datetime_trunc_sql``) can be spliced in."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, text: str, *params: Any) -> "_Sql":
        self.parts.append(text)
        self.params.extend(params)
        return self

    def period(self, column: str, f: ReportFilters) -> "_Sql":
        self.add(f" AND {column} IS NOT NULL")
        if f.start is not None:
            self.add(f" AND {column} >= %s", f.start)
        if f.end is not None:
            self.add(f" AND {column} < %s", f.end)
        return self

    def accounts(self, column: str, f: ReportFilters) -> "_Sql":
        """``column`` (an account id) among the accounts the owner/team/industry filters keep."""
        if not f.account_q(prefix=""):
            return self
        self.add(f" AND {column} IN (SELECT id FROM {_T.account} WHERE 1 = 1")  # noqa: S608  (table names and stage codes only)
        if f.owner_id is not None:
            self.add(" AND owner_id = %s", f.owner_id)
        if f.team_id is not None:
            self.add(" AND team_id = %s", f.team_id)
        if f.industry:
            self.add(" AND industry = %s", f.industry)
        return self.add(")")

    def cover(self, f: ReportFilters) -> "_Sql":
        """The CTE ``cover``: each membership row in an account with the time it covers,
        [covers_from, covers_to): from ``started_at`` — or, for the lead's first row, from the
        lead's first stage-log entry if that is earlier — to ``ended_at`` (open while
        current)."""
        least = "LEAST" if self.vendor == "postgresql" else "MIN"  # SQLite's scalar min()
        self.add(
            f"cover AS (SELECT m.account_id, m.lead_id, m.role,"  # noqa: S608  (table names and stage codes only)
            f" CASE WHEN EXISTS (SELECT 1 FROM {_T.membership} e"
            f"  WHERE e.lead_id = m.lead_id AND e.started_at < m.started_at) THEN m.started_at"
            f" ELSE {least}(COALESCE((SELECT MIN(x.changed_at) FROM {_T.stagechange} x"
            f"  WHERE x.lead_id = m.lead_id), m.started_at), m.started_at) END AS covers_from,"
            f" COALESCE(m.ended_at, %s) AS covers_to"
            f" FROM {_T.membership} m WHERE m.account_id IS NOT NULL",
            FOREVER,
        )
        return self.accounts("m.account_id", f).add(")")

    def run(self, using: str) -> list[tuple[Any, ...]]:
        connection = connections[using]
        params = [
            connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
            for v in self.params
        ]
        with connection.cursor() as cursor:
            cursor.execute("".join(self.parts), params)
            return list(cursor.fetchall())


class _T:
    """Table names, from the models (nothing in the SQL comes from a request)."""

    account = Account._meta.db_table
    membership = Membership._meta.db_table
    stagechange = StageChange._meta.db_table
    lead = Lead._meta.db_table
    mqa = AccountHandover._meta.db_table


# a member's stage-log entries made while its membership row covered them
COVERED_MOVES: Final = (
    f" FROM cover c JOIN {_T.stagechange} s ON s.lead_id = c.lead_id"
    " AND s.changed_at >= c.covers_from AND s.changed_at < c.covers_to"
)


def _lost_to() -> str:
    return ", ".join(f"'{s.value}'" for s in LOST_TO)


# --- MQA → opportunity → won ----------------------------------------------------------------------


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
    using = router.db_for_read(AccountHandover)
    connection = connections[using]
    sql = _Sql(connection.vendor).add("WITH ").cover(f)
    # each MQA's credit window: [opened_at, the account's next MQA)
    sql.add(
        f", h AS (SELECT h.id, h.account_id, h.opened_at, h.tier, h.source,"  # noqa: S608  (table names only)
        f" COALESCE((SELECT MIN(n.opened_at) FROM {_T.mqa} n WHERE n.account_id = h.account_id"
        f" AND n.opened_at > h.opened_at), %s) AS until FROM {_T.mqa} h WHERE 1 = 1",
        FOREVER,
    )
    sql.period("h.opened_at", f).accounts("h.account_id", f)
    if f.source:
        sql.add(" AND h.source = %s", f.source)
    sql.add(
        f"), hit AS (SELECT h.id,"  # noqa: S608  (table names and stage codes only)
        f" MAX(CASE WHEN s.to_stage = '{Stage.SQL.value}' THEN 1 ELSE 0 END) AS opp,"
        f" MAX(CASE WHEN s.to_stage = '{Stage.CUSTOMER.value}' THEN 1 ELSE 0 END) AS won"
        f"{COVERED_MOVES} JOIN h ON h.account_id = c.account_id"
        f" AND s.changed_at >= h.opened_at AND s.changed_at < h.until"
        f" WHERE s.to_stage IN ('{Stage.SQL.value}', '{Stage.CUSTOMER.value}') GROUP BY h.id)"
        " SELECT "
    )
    names: list[str] = []
    for g in group:
        if g == "month":  # the month in the report's time zone, as TruncMonth computes it
            # (Django 4.2+ returns (sql, params); the stubs still say str)
            trunc: Any = connection.ops.datetime_trunc_sql(
                "month", "h.opened_at", (), timezone.get_current_timezone_name()
            )
            month_sql, month_params = trunc
            sql.add(f"{month_sql}, ", *month_params)
        else:
            sql.add(f"h.{g}, ")
        names.append(g)
    sql.add(
        "COUNT(*), SUM(COALESCE(hit.opp, 0)), SUM(COALESCE(hit.won, 0)),"
        " SUM(CASE WHEN hit.opp = 1 AND hit.won = 1 THEN 1 ELSE 0 END)"
        " FROM h LEFT JOIN hit ON hit.id = h.id GROUP BY "
        + ", ".join(str(i + 1) for i in range(len(names)))
    )
    rows = [
        dict(zip([*names, "mqas", "opportunities", "won", "won_after_opportunity"], r, strict=True))
        for r in sql.run(using)
    ]
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        if "month" in group:
            row["month"] = str(r["month"])[:7]  # a local datetime (PostgreSQL) or text (SQLite)
        if "tier" in group:
            row["tier"], row["tier_label"] = r["tier"], tier_label(r["tier"])
        if "source" in group:
            row["source"] = r["source"] or none_label()
        row |= {
            "mqas": int(r["mqas"]),
            "opportunities": int(r["opportunities"]),
            "won": int(r["won"]),
            "mqa_to_opportunity_rate": rate(r["opportunities"], r["mqas"]),
            "mqa_to_won_rate": rate(r["won"], r["mqas"]),
            "opportunity_to_won_rate": rate(r["won_after_opportunity"], r["opportunities"]),
        }
        out.append(row)
    out.sort(
        key=lambda r: (
            r.get("month", ""),
            TIERS.index(r["tier"]) if r.get("tier") in TIERS else len(TIERS),
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


def account_coverage(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Won vs lost accounts: the average number of buying roles their members covered when
    the account was won or lost, and the share of accounts covering each role.

    Won: a member entered Customer (the first such time, in the period). Lost: never won, no
    current member in SQL, and a member left SQL to Nurture or Disqualified (the last such
    time, in the period). One statement: the account's outcome time is computed once (CTEs),
    then the roles of the members whose rows cover it are counted."""
    using = router.db_for_read(Membership)
    sql = _Sql(connections[using].vendor).add("WITH ").cover(f)
    sql.add(
        f", ends AS (SELECT c.account_id,"  # noqa: S608  (table names and stage codes only)
        f" MIN(CASE WHEN s.to_stage = '{Stage.CUSTOMER.value}' THEN s.changed_at END) AS won_at,"
        f" MAX(CASE WHEN s.from_stage = '{Stage.SQL.value}' AND s.to_stage IN ({_lost_to()})"
        f"  THEN s.changed_at END) AS lost_at{COVERED_MOVES}"
        f" WHERE s.to_stage IN ('{Stage.CUSTOMER.value}', {_lost_to()}) GROUP BY c.account_id)"
        # accounts with a current member in SQL: open, so not lost (a hashed NOT IN below)
        f", open_accounts AS (SELECT cm.account_id FROM {_T.membership} cm"  # noqa: S608  (table names and stage codes only)
        f" JOIN {_T.lead} ld ON ld.id = cm.lead_id WHERE cm.ended_at IS NULL"
        f" AND cm.account_id IS NOT NULL AND ld.stage = '{Stage.SQL.value}')"
        f", outcome AS (SELECT 'won' AS outcome, e.account_id, e.won_at AS at FROM ends e"
        f" WHERE 1 = 1"
    )
    sql.period("e.won_at", f)
    sql.add(" UNION ALL SELECT 'lost', e.account_id, e.lost_at FROM ends e WHERE e.won_at IS NULL")
    sql.period("e.lost_at", f)
    sql.add(
        " AND e.account_id NOT IN (SELECT account_id FROM open_accounts))"  # noqa: S608  (stage codes only)
        " SELECT o.outcome, '' AS role, COUNT(*) FROM outcome o GROUP BY o.outcome"
        " UNION ALL SELECT o.outcome, c.role, COUNT(DISTINCT o.account_id) FROM outcome o"
        " JOIN cover c ON c.account_id = o.account_id AND c.covers_from <= o.at"
        f" AND c.covers_to > o.at WHERE c.role <> '{BuyingRole.UNKNOWN.value}'"
        " GROUP BY o.outcome, c.role"
    )
    counts = {(outcome, role): n for outcome, role, n in sql.run(using)}
    labels = {"won": _("Won"), "lost": _("Lost")}
    out = []
    for outcome, label in labels.items():
        n = counts.get((outcome, ""), 0)
        covered = sum(counts.get((outcome, r.value), 0) for r in ROLES)
        out.append(
            {
                "outcome": outcome,
                "label": str(label),
                "accounts": n,
                "avg_roles": round(covered / n, 4) if n else None,
                **{f"share_{r.value}": rate(counts.get((outcome, r.value), 0), n) for r in ROLES},
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
    using = router.db_for_read(Membership)
    sql = _Sql(connections[using].vendor).add("WITH ").cover(f)
    sql.add(
        f", won AS (SELECT DISTINCT c.account_id, c.lead_id{COVERED_MOVES}"
        f" WHERE s.to_stage = '{Stage.CUSTOMER.value}'"
    )
    sql.period("s.changed_at", f)
    sql.add(
        f") SELECT a.tier, COUNT(DISTINCT w.account_id), COUNT(*), SUM(l.deal_value)"  # noqa: S608  (table names only)
        f" FROM won w JOIN {_T.account} a ON a.id = w.account_id"
        f" JOIN {_T.lead} l ON l.id = w.lead_id GROUP BY a.tier"
    )
    won_rows = {
        tier: {"won_accounts": n, "customers": m, "won_value": value}
        for tier, n, m, value in sql.run(using)
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
