"""Pages the production smoke (.ci/smoke) found broken in a browser, pinned here as well."""

import pytest


def test_favicon_ico_sends_browsers_to_the_static_icon(client):
    # documents without an icon link (JSON, the browsable API) make browsers ask for it
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"


@pytest.mark.django_db
def test_admin_pages_name_an_icon(admin_client):
    response = admin_client.get("/admin/")
    assert b'rel="icon" href="/static/favicon.svg"' in response.content


@pytest.mark.django_db
def test_browsable_api_page_has_no_inline_style(client, manager):
    """The CSP allows no inline style; DRF's HTML view adds one where Pygments is installed."""
    client.force_login(manager)
    response = client.get("/api/v1/reports/funnel/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"<style" not in response.content
