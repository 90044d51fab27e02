"""/api/docs/ in real headless Chromium: Swagger UI renders the operations under the site's
strict Content-Security-Policy, every file comes from our origin, and "Try it out" works with
the logged-in session."""

import pytest

from leadflow.roles import Role
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_the_operations_and_runs_one(page, login, live_server):
    UserFactory(username="ivy", role=Role.MARKETER)
    LeadFactory(first_name="Dora", last_name="Docs")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    login("ivy")
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    # every REST operation of every app, counted in Swagger UI's state: past about 150
    # operations it draws only those in view (its list is virtualized), so the page holds fewer
    assert page.evaluate("() => ui.getSystem().specSelectors.operations().size") > 150
    leads_list = page.locator("#operations-api-api_v1_leads_list")
    for _ in range(200):  # scroll down as a reader does until the list draws it
        if leads_list.count():
            break
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(50)
    leads_list.scroll_into_view_if_needed()
    assert "/api/v1/leads/" in leads_list.inner_text()

    leads_list.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    status = leads_list.locator(".live-responses-table .response .response-col_status")
    status.first.wait_for()
    assert status.first.inner_text().strip() == "200"
    assert "Dora" in leads_list.locator(".live-responses-table .microlight").first.inner_text()

    assert page.csp_violations == []
    foreign = [url for url in requested if not url.startswith((live_server.url, "data:"))]
    assert foreign == []  # no CDN, no validator badge
