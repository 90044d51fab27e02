"""The demo landing page (issue 19, item 7): ``/demo/landing/`` on when LEADFLOW_DEMO_LANDING,
404 when off; the demo seed makes its form and a public analytics key whose string is derived
from SECRET_KEY (stored nowhere), idempotently, with the run's origin allowed."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from capture.demo import DEMO_KEY_NAME, demo_key, demo_key_secret
from capture.models import Form
from leadflow.apikeys import api_key_create, api_key_lookup, key_origins
from leadflow.models import ApiKey

pytestmark = pytest.mark.django_db

PAGES = ["/demo/landing/", "/demo/landing/pricing/"]


def seed(*origins: str) -> None:
    call_command("seed_capture_demo", *[f"--origin={o}" for o in origins], verbosity=0)


@pytest.mark.parametrize("url", PAGES)
def test_off_is_a_404(client, settings, url):
    settings.LEADFLOW_DEMO_LANDING = False
    seed()
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", PAGES)
def test_on_renders_the_embed_and_the_sdk_without_inline_script(client, settings, url):
    settings.LEADFLOW_DEMO_LANDING = True
    seed("http://127.0.0.1:8000")
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Northwind Analytics" in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all(" src=" in tag for tag in scripts), scripts  # no inline script: the CSP holds
    assert any("/static/vendor/analytics-next/standalone.js" in tag for tag in scripts)
    (snippet,) = [tag for tag in scripts if "capture/demo-landing.js" in tag]
    assert f'data-key="{demo_key_secret()}"' in snippet
    if url == "/demo/landing/":
        (embed,) = [tag for tag in scripts if "/f/embed.js" in tag]
        assert 'data-form="demo-whitepaper"' in embed
        assert 'data-target="#whitepaper-form"' in embed
        assert 'id="whitepaper-form"' in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_without_the_seeded_key_the_page_loads_no_sdk(client, settings):
    settings.LEADFLOW_DEMO_LANDING = True
    html = client.get("/demo/landing/").content.decode()
    assert "/f/embed.js" in html
    assert "analytics-next" not in html
    assert demo_key_secret() not in html


def test_the_seed_is_idempotent_and_stores_no_key_string(settings):
    seed("http://127.0.0.1:8000")
    seed("http://127.0.0.1:8000", "http://localhost:9000/")
    assert Form.objects.filter(public_id="demo-whitepaper").count() == 1
    key = ApiKey.objects.get(name=DEMO_KEY_NAME)
    assert key.kind == ApiKey.Kind.PUBLIC
    assert key.scopes == ["events:write"]
    assert key_origins(key) == {"http://127.0.0.1:8000", "http://localhost:9000"}
    assert set(Form.objects.get(public_id="demo-whitepaper").origins()) == {
        "http://127.0.0.1:8000",
        "http://localhost:9000",
    }
    secret = demo_key_secret()
    assert secret == demo_key_secret()  # the same string on every call
    assert demo_key() == key
    found = api_key_lookup(secret)
    assert found is not None
    assert found.pk == key.pk
    assert secret not in str(list(ApiKey.objects.filter(pk=key.pk).values()))

    # another SECRET_KEY: another demo key; the seed makes it and revokes the old one
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"  # noqa: S105
    assert demo_key_secret() != secret
    assert demo_key() is None
    seed()
    assert demo_key() is not None
    assert ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True).count() == 1
    assert api_key_lookup(secret) is None


def test_a_chosen_key_string_is_only_for_public_keys_and_must_look_like_a_key():
    good = demo_key_secret()
    with pytest.raises(ValidationError):
        api_key_create(name="srv", scopes=["events:write"], secret=good)
    with pytest.raises(ValidationError):
        api_key_create(
            name="web", scopes=["events:write"], kind=ApiKey.Kind.PUBLIC, secret="lf_short_x"
        )
    api_key_create(name="web", scopes=["events:write"], kind=ApiKey.Kind.PUBLIC, secret=good)
    with pytest.raises(ValidationError):  # its prefix is taken now
        api_key_create(name="web2", scopes=["events:write"], kind=ApiKey.Kind.PUBLIC, secret=good)


def test_run_allows_and_prints_the_origin_a_browser_opens():
    from leadflow.management.commands.run import _origin

    assert _origin("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert _origin("0.0.0.0", 8001) == "http://127.0.0.1:8001"  # noqa: S104 (a bind address)
    assert _origin("::", 8002) == "http://[::1]:8002"
