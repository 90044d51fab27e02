import csv
import io

import pytest
from rest_framework.test import APIClient

from leadflow.roles import Role
from reports.selectors import REPORTS
from tests.leads.factories import UserFactory
from tests.reports.conftest import make_lead, t

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(manager) -> APIClient:
    client = APIClient()
    client.force_authenticate(manager)
    return client


@pytest.mark.parametrize("slug", list(REPORTS))
def test_every_report_answers_json_page_and_csv(slug, history, manager, client) -> None:
    api = APIClient()
    api.force_authenticate(manager)
    response = api.get(f"/api/v1/reports/{slug}/", {"date_from": "2026-01-01"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["report"] == slug
    assert body["filters"] == {"date_from": "2026-01-01"}
    assert {c["key"] for c in body["columns"]} <= set(body["rows"][0]) if body["rows"] else True
    client.force_login(manager)
    page = client.get(f"/reports/{slug}/", {"date_from": "2026-01-01"})
    assert page.status_code == 200
    assert b"vendor/chartjs/chart.umd.min.js" in page.content or b"No data" in page.content
    export = client.get(f"/reports/{slug}/export.csv", {"date_from": "2026-01-01"})
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert lines[0] == [c["label"] for c in body["columns"]]
    assert len(lines) == 1 + len(body["rows"])


def test_funnel_api_figures(api, history) -> None:
    body = api.get("/api/v1/reports/funnel/", {"source": "web"}).json()
    assert [(r["stage"], r["leads"]) for r in body["rows"]] == [
        ("suspect", 2), ("lead", 2), ("mql", 2), ("sal", 2), ("sql", 2), ("customer", 2),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2026-02-30"}, "date_from"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"owner": "abc"}, "owner"),
        ({"team": "424242"}, "team"),
        ({"sources_by": "email"}, "sources_by"),
        ({"on": "soon"}, "on"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(api, params, field) -> None:
    response = api.get("/api/v1/reports/sources/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]


def test_bad_filters_on_the_page_and_csv(client, manager) -> None:
    client.force_login(manager)
    page = client.get("/reports/funnel/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert page.status_code == 400
    assert b"must not be before its start" in page.content
    export = client.get("/reports/funnel/export.csv", {"date_from": "nope"})
    assert export.status_code == 400
    assert b"date_from" in export.content


def test_empty_period_is_an_empty_report(api, history) -> None:
    body = api.get("/api/v1/reports/cohort/", {"date_from": "2031-01-01"}).json()
    assert body["rows"] == []


def test_unknown_report_is_404(api) -> None:
    assert api.get("/api/v1/reports/nope/").status_code == 404


def test_reps_may_not_see_reports(client) -> None:
    user = UserFactory(role=Role.SALES_REP)
    api = APIClient()
    api.force_authenticate(user)
    assert api.get("/api/v1/reports/").status_code == 403
    assert api.get("/api/v1/reports/funnel/").status_code == 403
    client.force_login(user)
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/funnel/").status_code == 403
    assert client.get("/reports/funnel/export.csv").status_code == 403
    assert 'href="/reports/"' not in client.get("/leads/board/").content.decode()  # no menu
    assert APIClient().get("/api/v1/reports/funnel/").status_code in (401, 403)


def test_marketers_see_the_marketing_reports_and_no_others(client, marketer) -> None:
    """Where leads come from, what campaigns return and why sales sends leads back; not the
    managers' pipeline, pace, SLA or account reports."""
    from reports.permissions import MARKETING_REPORTS
    from reports.selectors import REPORTS

    others = set(REPORTS) - MARKETING_REPORTS
    assert {"attribution", "roi", "ltv", "sources"} <= MARKETING_REPORTS
    assert {"pipeline", "sla", "velocity", "accounts-pipeline"} <= others
    api = APIClient()
    api.force_authenticate(marketer)
    listed = {r["slug"] for r in api.get("/api/v1/reports/").json()["reports"]}
    assert listed == MARKETING_REPORTS
    client.force_login(marketer)
    index = client.get("/reports/").content.decode()
    for slug in REPORTS:
        shown = slug in MARKETING_REPORTS
        assert (f'href="/reports/{slug}/"' in index) is shown, slug
        want = 200 if shown else 403
        assert client.get(f"/reports/{slug}/").status_code == want, slug
        assert client.get(f"/reports/{slug}/export.csv").status_code == want, slug
        refused = api.get(f"/api/v1/reports/{slug}/")
        assert refused.status_code == want, slug
        if not shown:
            assert slug in refused.json()["error"]["message"]
    assert client.get("/reports/nope/").status_code == 404  # unknown is still unknown
    assert 'href="/reports/"' in client.get("/leads/board/").content.decode()  # menu entry


def test_admins_see_reports(client) -> None:
    admin = UserFactory(role=Role.ADMIN)
    client.force_login(admin)
    assert client.get("/reports/").status_code == 200


def test_csv_neutralises_formulas_in_sources(client, manager) -> None:
    from reports.services import milestones_refresh

    evil = make_lead("Z", "=HYPERLINK(1)", None, [("suspect", t(1, 5))])
    other = make_lead("Y", "@sum", None, [("suspect", t(1, 5))])
    milestones_refresh(lead_ids=[evil.pk, other.pk])
    client.force_login(manager)
    export = client.get("/reports/sources/export.csv")
    text = b"".join(export.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert {r[0] for r in rows[1:]} == {"'=HYPERLINK(1)", "'@sum"}


def test_a_filter_a_report_does_not_use_is_refused_by_name(api, client, manager) -> None:
    """Attribution and return on spend are kept per channel tags, not per owner or team: asked
    for one rep's, they answer 400 naming the filter instead of everyone's figures as if
    narrowed. The page never offers those filters."""
    from leads.models import Team
    from reports.filters import UNUSED_FIELDS

    team = Team.objects.create(name="Narrow", manager=manager)
    values = {"owner": manager.pk, "team": team.pk, "source": "web", "industry": "saas"}
    values["view"] = "now"
    client.force_login(manager)
    for slug, unused in UNUSED_FIELDS.items():
        for name in sorted(unused):
            refused = api.get(f"/api/v1/reports/{slug}/", {name: values[name]})
            assert refused.status_code == 400, (slug, name)
            assert name in refused.json()["error"]["fields"], (slug, name)
            csv_refused = client.get(f"/reports/{slug}/export.csv", {name: values[name]})
            assert csv_refused.status_code == 400, (slug, name)
            assert name in csv_refused.content.decode()
    # the filters a report reads are accepted as before
    assert api.get("/api/v1/reports/ltv/", {"owner": manager.pk}).status_code == 200
    assert api.get("/api/v1/reports/attribution/", {"view": ""}).status_code == 200
