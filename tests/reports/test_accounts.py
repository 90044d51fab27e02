"""The account reports (issue 18) on a small hand-built history; every figure is worked out by
hand below and in docs/reports.md ("Accounts").

Times are UTC, 2026 (``t(month, day)`` is 09:00). Accounts, their MQAs (AccountHandover rows,
with the tier and source recorded when each opened) and members:

  Acme (tier 1, team T)   MQA H1 01-10, tier 1, source web
      a1 decision maker  sql 01-15 → customer 02-20 (deal 1000)
      a2 champion        mql (stays)
      a3 user            a new lead on 03-01, after the win
  Globex (tier 2)         MQA H2 01-20, tier 2, ads; MQA H3 03-05, tier 1, ads (re-armed)
      g1 influencer      sql 01-25 → nurture 02-10; left Globex 03-01 for Initech (its
                         company text still says Globex)
      g2 blocker         sql 01-28 → disqualified 03-20
  Initech (no tier)       MQA H4 03-02, no tier, no source
      g1 user            from 03-01: mql 03-03 → sal 03-04 → sql 03-06 (still in SQL)
  Umbrella (tier 3)       no MQA
      u1 champion, u2 unknown   in SQL now
      u3 influencer      sql → nurture 02-15; left 03-01 (explicitly no account since)
      u4 decision maker  customer 02-25 (deal 300); linked only on 03-15 (a backfill: its
                         first membership row, so it covers the lead's history before)
  z1, in SQL, belongs to no account.

MQA → opportunity → won (events):
  H1: a1 entered SQL 01-15 and Customer 02-20, both after 01-10 → opportunity, won.
  H2: g1 / g2 entered SQL 01-25 / 01-28 → opportunity; no member won.
  H3: g2 entered SQL before 03-05; g1's SQL on 03-06 was Initech's (not a Globex member by
      then) → no opportunity.
  H4: g1 entered SQL 03-06 as an Initech member → opportunity.
Coverage: won Acme (at 02-20: decision maker, champion = 2 roles) and Umbrella (at 02-25: u4
decision maker, u1 champion, u3 influencer, u2 unknown = 3 roles) → avg 2.5; lost Globex (last
SQL exit 03-20, members then: g2 blocker = 1 role). Initech is open (g1 in SQL), neither.
Pipeline now: tier 3 Umbrella 1 account / 2 SQL members; no tier Initech 1 / 1; won: tier 1
Acme 1000, tier 3 Umbrella 300.
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from companies.models import Account, Membership
from handover.models import AccountHandover
from leadflow.roles import Role
from leads.models import Lead, StageChange, Team
from reports.filters import ReportFilters
from reports.selectors import report_run
from tests.leads.factories import UserFactory
from tests.reports.conftest import make_lead

pytestmark = pytest.mark.django_db


def t(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def steps(*moves: tuple[str, datetime]) -> list[tuple[str, datetime]]:
    return [("suspect", t(1, 1)), ("lead", t(1, 2)), *moves]


def member(lead, account, role, start, end=None, source="domain") -> Membership:
    return Membership.objects.create(
        lead=lead,
        account=account,
        role=role,
        source=source,
        started_at=start,
        ended_at=end,
    )


def mqa(account, at, tier, source) -> AccountHandover:
    return AccountHandover.objects.create(
        account=account,
        opened_at=at,
        tier=tier,
        source=source,
        score=80,
        why="engaged",
        status=AccountHandover.Status.ACCEPTED,
    )


@pytest.fixture
def accounts(db) -> dict[str, Account]:
    team = Team.objects.create(name="T")
    acme = Account.objects.create(name="Acme", tier="1", team=team, industry="Software")
    globex = Account.objects.create(name="Globex", tier="2", industry="Retail")
    initech = Account.objects.create(name="Initech", tier="")
    umbrella = Account.objects.create(name="Umbrella", tier="3")
    mqa(acme, t(1, 10), "1", "web")
    mqa(globex, t(1, 20), "2", "ads")
    mqa(globex, t(3, 5), "1", "ads")
    mqa(initech, t(3, 2), "", "")

    a1 = make_lead(
        "a1", "web", Decimal(1000), steps(("mql", t(1, 5)), ("sal", t(1, 8)), ("sql", t(1, 15)), ("customer", t(2, 20)))
    )  # fmt: skip
    a2 = make_lead("a2", "web", None, steps(("mql", t(1, 6))))
    a3 = make_lead("a3", "web", None, [("suspect", t(3, 1))])
    member(a1, acme, "decision_maker", t(1, 1, 8))
    member(a2, acme, "champion", t(1, 1, 8))
    member(a3, acme, "user", t(3, 1))

    g1 = make_lead(
        "g1", "ads", None,
        steps(("mql", t(1, 21)), ("sal", t(1, 22)), ("sql", t(1, 25)), ("nurture", t(2, 10)),
              ("mql", t(3, 3)), ("sal", t(3, 4)), ("sql", t(3, 6))),
        company="Globex",
    )  # fmt: skip
    g2 = make_lead(
        "g2", "ads", None,
        steps(("mql", t(1, 21)), ("sal", t(1, 22)), ("sql", t(1, 28)), ("disqualified", t(3, 20))),
    )  # fmt: skip
    member(g1, globex, "influencer", t(1, 1, 8), end=t(3, 1))
    member(g1, initech, "user", t(3, 1), source="explicit")
    member(g2, globex, "blocker", t(1, 1, 8))

    sql = steps(("mql", t(1, 20)), ("sal", t(1, 25)), ("sql", t(2, 1)))
    u1 = make_lead("u1", "web", None, sql)
    u2 = make_lead("u2", "web", None, sql)
    u3 = make_lead("u3", "web", None, [*sql, ("nurture", t(2, 15)), ("mql", t(3, 10)),
                                      ("sal", t(3, 11)), ("sql", t(3, 12))])  # fmt: skip
    u4 = make_lead("u4", "web", Decimal(300), [*sql, ("customer", t(2, 25))])
    member(u1, umbrella, "champion", t(1, 1, 8))
    member(u2, umbrella, "unknown", t(1, 1, 8))
    member(u3, umbrella, "influencer", t(1, 1, 8), end=t(3, 1))
    Membership.objects.create(lead=u3, account=None, source="explicit", started_at=t(3, 1))
    member(u4, umbrella, "decision_maker", t(3, 15))
    make_lead("z1", "web", None, sql)
    return {"acme": acme, "globex": globex, "initech": initech, "umbrella": umbrella}


def run(slug: str, **filters) -> list[dict[str, Any]]:
    return report_run(slug=slug, filters=ReportFilters(**filters)).rows


def test_mqa_by_month(accounts) -> None:
    assert run("accounts-mqa") == [
        {"month": "2026-01", "mqas": 2, "opportunities": 2, "won": 1,
         "mqa_to_opportunity_rate": 1.0, "mqa_to_won_rate": 0.5, "opportunity_to_won_rate": 0.5},
        {"month": "2026-03", "mqas": 2, "opportunities": 1, "won": 0,
         "mqa_to_opportunity_rate": 0.5, "mqa_to_won_rate": 0.0, "opportunity_to_won_rate": 0.0},
    ]  # fmt: skip


def test_mqa_by_tier_and_source_are_those_recorded_at_the_mqa(accounts) -> None:
    by_tier = [(r["tier"], r["tier_label"], r["mqas"], r["opportunities"], r["won"])
               for r in run("accounts-mqa", mqa_by="tier")]  # fmt: skip
    # Globex is tier 2 now; its second MQA opened while it was tier 1
    assert by_tier == [("1", "Tier 1", 2, 1, 1), ("2", "Tier 2", 1, 1, 0), ("", "No tier", 1, 1, 0)]
    by_source = [(r["source"], r["mqas"], r["opportunities"], r["won"])
                 for r in run("accounts-mqa", mqa_by="source")]  # fmt: skip
    assert by_source == [("ads", 2, 1, 0), ("(none)", 1, 1, 0), ("web", 1, 1, 1)]
    month_tier = [
        (r["month"], r["tier"], r["mqas"]) for r in run("accounts-mqa", mqa_by="month_tier")
    ]
    assert month_tier == [
        ("2026-01", "1", 1),
        ("2026-01", "2", 1),
        ("2026-03", "1", 1),
        ("2026-03", "", 1),
    ]


def test_mqa_filters(accounts) -> None:
    march = run("accounts-mqa", start=t(3, 1, 0), source="ads")
    assert [(r["month"], r["mqas"], r["opportunities"]) for r in march] == [("2026-03", 1, 0)]
    team = Team.objects.get(name="T")
    assert [(r["month"], r["mqas"], r["won"]) for r in run("accounts-mqa", team_id=team.pk)] == [
        ("2026-01", 1, 1)
    ]
    assert run("accounts-mqa", industry="Retail")[0]["mqas"] == 1
    assert run("accounts-mqa", start=t(6, 1, 0)) == []


def test_a_later_mqa_takes_the_credit_for_what_follows_it(accounts) -> None:
    """Globex re-armed on 03-05: a member entering SQL after that is H3's, not H2's too."""
    g2 = Membership.objects.get(lead__first_name="g2").lead
    reopen_to_sql(g2, t(3, 25))
    rows = {r["month"]: r for r in run("accounts-mqa")}
    assert (rows["2026-01"]["opportunities"], rows["2026-03"]["opportunities"]) == (2, 2)


def reopen_to_sql(lead, at: datetime) -> None:
    """Disqualified → nurture → MQL → SAL → SQL, the last at ``at``."""
    path = ["disqualified", "nurture", "mql", "sal", "sql"]
    for i, (before, to) in enumerate(zip(path, path[1:], strict=False)):
        StageChange.objects.create(
            lead=lead, from_stage=before, to_stage=to, actor_kind="system", source="import",
            changed_at=at - timedelta(hours=3 - i),
        )  # fmt: skip
    Lead.objects.filter(pk=lead.pk).update(stage="sql")


def test_coverage_of_won_and_lost_accounts(accounts) -> None:
    won, lost = run("accounts-coverage")
    assert won == {
        "outcome": "won", "label": "Won", "accounts": 2, "avg_roles": 2.5,
        "share_decision_maker": 1.0, "share_champion": 1.0, "share_influencer": 0.5,
        "share_user": 0.0, "share_blocker": 0.0,
    }  # fmt: skip
    assert lost == {
        "outcome": "lost", "label": "Lost", "accounts": 1, "avg_roles": 1.0,
        "share_decision_maker": 0.0, "share_champion": 0.0, "share_influencer": 0.0,
        "share_user": 0.0, "share_blocker": 1.0,
    }  # fmt: skip


def test_coverage_period_is_the_time_won_or_lost(accounts) -> None:
    won, lost = run("accounts-coverage", start=t(2, 21, 0), end=t(3, 1, 0))
    assert (won["accounts"], won["avg_roles"], lost["accounts"]) == (1, 3.0, 0)  # Umbrella
    assert lost["avg_roles"] is None
    assert lost["share_blocker"] is None


def test_an_account_with_a_member_in_sql_is_not_lost(accounts) -> None:
    g2 = Membership.objects.get(lead__first_name="g2").lead
    reopen_to_sql(g2, t(3, 25))  # in SQL again: Globex is open pipeline, not lost
    _won, lost = run("accounts-coverage")
    assert lost["accounts"] == 0


def test_pipeline_by_tier(accounts) -> None:
    rows = [(r["tier"], r["accounts"], r["sql_members"], r["won_accounts"], r["customers"],
             r["won_value"]) for r in run("accounts-pipeline")]  # fmt: skip
    assert rows == [
        ("1", 0, 0, 1, 1, 1000.0),
        ("2", 0, 0, 0, 0, 0.0),
        ("3", 1, 2, 1, 1, 300.0),
        ("", 1, 1, 0, 0, 0.0),
    ]
    late = {r["tier"]: r["won_value"] for r in run("accounts-pipeline", start=t(2, 21, 0))}
    assert late == {"1": 0.0, "2": 0.0, "3": 300.0, "": 0.0}


def test_the_report_month_is_the_site_time_zones(accounts, settings) -> None:
    settings.TIME_ZONE = "Europe/Budapest"  # 01-31 23:30 UTC is 1 February there
    mqa(accounts["umbrella"], datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "3", "web")
    from django.utils import timezone

    with timezone.override("Europe/Budapest"):
        months = [(r["month"], r["mqas"]) for r in run("accounts-mqa")]
    assert months == [("2026-01", 2), ("2026-02", 1), ("2026-03", 2)]


# --- API, CSV and who may read them ---------------------------------------------------------------


@pytest.fixture
def api(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client


def test_api_and_csv(accounts, api, client, manager) -> None:
    body = api.get("/api/v1/reports/accounts-mqa/", {"mqa_by": "tier"}).json()
    assert body["report"] == "accounts-mqa"
    assert body["filters"] == {"mqa_by": "tier"}
    assert [(r["tier"], r["mqas"]) for r in body["rows"]] == [("1", 2), ("2", 1), ("", 1)]
    assert {c["key"]: c["kind"] for c in body["columns"]}["mqa_to_won_rate"] == "rate"
    client.force_login(manager)
    export = client.get("/reports/accounts-pipeline/export.csv")
    assert export.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert lines[0] == ["Tier", "Accounts with a member in SQL", "Members in SQL",
                        "Accounts won", "Members won", "Won deal value"]  # fmt: skip
    assert lines[3] == ["Tier 3", "1", "2", "1", "1", "300.0"]
    page = client.get("/reports/accounts-coverage/")
    assert page.status_code == 200
    assert b"Average roles covered" in page.content
    assert b"2.50" in page.content
    assert b'name="source"' not in page.content  # the coverage report has no source filter
    assert b"accounts-coverage" in client.get("/reports/").content  # in the reports navigation
    bad = api.get("/api/v1/reports/accounts-mqa/", {"mqa_by": "week"})
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["mqa_by"]


@pytest.mark.parametrize("slug", ["accounts-mqa", "accounts-coverage", "accounts-pipeline"])
def test_reps_may_not_read_the_account_reports(accounts, client, slug) -> None:
    rep = UserFactory(username="rep-x", role=Role.SALES_REP)
    client.force_login(rep)
    assert client.get(f"/reports/{slug}/").status_code == 403
    assert client.get(f"/reports/{slug}/export.csv").status_code == 403
    api = APIClient()
    api.force_authenticate(rep)
    assert api.get(f"/api/v1/reports/{slug}/").status_code == 403


def test_api_keys_need_the_reports_read_scope(accounts, make_api_key) -> None:
    api = APIClient()
    secret, _key = make_api_key("leads:read")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/reports/accounts-pipeline/").status_code == 403
    secret, _key = make_api_key("reports:read")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api.get("/api/v1/reports/accounts-pipeline/")
    assert response.status_code == 200
    assert response.json()["rows"][2]["sql_members"] == 2
