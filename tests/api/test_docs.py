"""/api/docs/ (Swagger UI) and /api/schema/: who may see them, and no file from a CDN."""

import re

import pytest
from django.test import Client

from tests.leads.factories import UserFactory


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in_and_get_no_schema():
    client = Client()
    docs = client.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"] == "/accounts/login/?next=/api/docs/"
    assert client.get("/api/docs/?script=").status_code == 302
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 401
    assert schema.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_logged_in_users_get_the_page_its_script_and_the_schema_all_from_our_origin():
    client = Client()
    client.force_login(UserFactory())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # every script and stylesheet is ours (sidecar static files), none inline, no CDN
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(s.startswith("/static/") or s.startswith("/api/docs/") for s in sources), sources
    assert "<style" not in html
    assert re.search(r"<script>\s*\S", html) is None
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in script.content.decode()
    assert '"validatorUrl": null' in script.content.decode()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "LeadFlow API"


@pytest.mark.django_db
def test_publishing_the_docs_opens_them_to_anonymous_visitors(settings):
    settings.LEADFLOW_API_DOCS_PUBLIC = True
    client = Client()
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
