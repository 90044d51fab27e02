"""Lifetime value: what customers have been worth so far — the win that made each a customer
(``deal_value``) and its repeat wins — in the reporting currency, per first-touch channel,
source, account or customer. Definitions: docs/reports.md (#lifetime-value-ltv)."""

from datetime import datetime
from typing import Any, Final

from django.db import connections, router
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from attribution.channels import Grouping
from attribution.models import LeadCredit, Outcome
from companies.models import Account, Membership
from leads import money
from leads.lifecycle import Stage
from leads.models import Lead, Win
from reports.base import Column, Report, none_label
from reports.filters import GROUPINGS, ReportFilters

TOP: Final = 100  # account and customer groupings list the most valuable this many

# per grouping: the key columns and the join that gives them (l = the customer)
_GROUP_SQL: Final = {
    "source": ("l.source", ""),
    "customer": ("l.id, l.first_name, l.last_name, l.email", ""),
    # (the customer's current account: a column of the customers' subquery, read from the
    # membership_current_account_idx index alone; a join read every membership, 15 % slower)
    "account": ("l.account_id", ""),
    # the tags of the touch the first-touch model credits with the win
    "channel": (
        "lc.source, lc.medium, lc.campaign",
        f"LEFT JOIN {LeadCredit._meta.db_table} lc ON lc.lead_id = l.id"
        f" AND lc.outcome = '{Outcome.CUSTOMER.value}' AND lc.first > 0",
    ),
}


def ltv(f: ReportFilters, *, now: datetime | None = None) -> Report:
    """Customers won in the period (all, without one) and everything they have been worth: one
    grouped statement, each customer joined to its group and to the sum of its repeat wins."""
    customers = Lead.objects.filter(
        f.period_q("stage_changed_at"),
        f.lead_q(prefix="", then={}),
        stage=Stage.CUSTOMER,
        erased_at__isnull=True,
    ).order_by()
    groups, labels = _grouped(f.ltv_by, customers)
    rows: list[dict[str, Any]] = [
        {
            "group": labels.get(key) or none_label(),
            "customers": n,
            "repeat_customers": repeat_n,
            "first_revenue": round(first, 2),
            "repeat_revenue": round(repeat, 2),
            "lifetime_value": round(first + repeat, 2),
            "average": round((first + repeat) / n, 2),
        }
        for key, (n, repeat_n, first, repeat) in groups.items()
    ]
    rows.sort(key=lambda r: (-r["lifetime_value"], r["group"]))
    if f.ltv_by in ("account", "customer"):
        rows = rows[:TOP]
    code = money.reporting_currency()
    return Report(
        slug="ltv",
        title=_("Lifetime value"),
        columns=[
            Column("group", str(dict(GROUPINGS["ltv_by"])[f.ltv_by]), "text"),
            Column("customers", _("Customers")),
            Column("repeat_customers", _("With repeat wins")),
            # Translators: %(currency)s is an ISO currency code, e.g. EUR
            Column("first_revenue", _("First wins (%(currency)s)") % {"currency": code}, "money"),
            Column("repeat_revenue", _("Repeat wins (%(currency)s)") % {"currency": code}, "money"),
            Column(
                "lifetime_value", _("Lifetime value (%(currency)s)") % {"currency": code}, "money"
            ),  # fmt: skip
            Column(
                "average", _("Average per customer (%(currency)s)") % {"currency": code}, "money"
            ),  # fmt: skip
        ],
        rows=rows,
        chart_label="group",
        chart_series=["average"],
    )


def _grouped(by: str, customers: Any) -> tuple[dict[Any, list[Any]], dict[Any, str]]:
    """Per group key: [customers, with repeat wins, first wins, repeat wins]; and the labels."""
    columns = ["id", "source", "first_name", "last_name", "email", "deal_value", "currency"]
    if by == "account":
        current = Membership.objects.filter(
            lead_id=OuterRef("pk"), ended_at__isnull=True, account__isnull=False
        )
        customers = customers.annotate(account_id=Subquery(current.values("account_id")[:1]))
        columns.append("account_id")
    c_sql, c_params = customers.values(*columns).query.sql_with_params()
    first_sql, first_params = money.converted_sql("l.deal_value", "l.currency")
    win_sql, win_params = money.converted_sql("w.value", "w.currency")
    keys, join = _GROUP_SQL[by]
    total = f"COALESCE(SUM({first_sql}), 0) + COALESCE(SUM(r.v), 0)"
    top = f" ORDER BY {total} DESC LIMIT {TOP}" if by in ("account", "customer") else ""
    # each customer with the sum of its repeat wins (all wins summed per lead: far fewer rows
    # than leads, and the customers stay one subquery the planner can see into)
    sql = (
        f"SELECT {keys}, COUNT(*), COUNT(r.lead_id), SUM({first_sql}), SUM(r.v)"  # noqa: S608  (names only; values are parameters)
        f" FROM ({c_sql}) l {join}"
        f" LEFT JOIN (SELECT w.lead_id, SUM({win_sql}) AS v FROM {Win._meta.db_table} w"
        f" GROUP BY w.lead_id) r ON r.lead_id = l.id"
        f" GROUP BY {keys}{top}"
    )
    params = [*first_params, *c_params, *win_params]
    if top:
        params += [*first_params]
    with connections[router.db_for_read(Lead)].cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    width = keys.count(",") + 1
    grouping = Grouping() if by == "channel" else None
    groups: dict[Any, list[Any]] = {}
    labels: dict[Any, str] = {}
    for row in fetched:
        cols, (n, repeat_n, first, repeat) = row[:width], row[width:]
        if grouping is not None:  # several tag sets fall in one channel
            key = grouping.channel(cols) if cols[0] is not None else None
            labels[key] = key or ""
        else:
            key = cols[0]
            if by == "customer":
                labels[key] = " ".join(p for p in cols[1:3] if p) or cols[3] or f"#{key}"
            elif by == "source":
                labels[key] = key
        g = groups.setdefault(key, [0, 0, 0.0, 0.0])
        g[0] += n
        g[1] += repeat_n
        g[2] += float(first or 0)
        g[3] += float(repeat or 0)
    if by == "account":
        ids = [k for k in groups if k]
        labels = dict(Account.objects.filter(pk__in=ids).values_list("pk", "name"))
    return groups, labels
