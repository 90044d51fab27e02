"""Languages and time zones (issue 21): which language and zone a person reads LeadFlow in.

The catalogs' wording is the translators'; these tests compare with the catalog itself
(``translation.override``), so they check the mechanism and that the catalog has the message.
"""

import html
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import formats, timezone, translation
from django.utils.translation import gettext
from django.utils.translation.trans_real import DjangoTranslation

from leadflow.apikeys import api_key_create
from leadflow.models import User
from tests.leads.factories import UserFactory


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return gettext(message)


@pytest.mark.parametrize("language", ["hu", "da", "cs", "de"])
def test_each_language_has_a_catalog_that_translates_the_top_bar(language):
    assert _in(language, "Log out") != "Log out"
    assert _in(language, "Search leads") != "Search leads"


@pytest.mark.django_db
def test_the_profile_saves_a_language_and_time_zone_and_the_next_page_follows_them(client, rep):
    client.force_login(rep)
    page = client.get("/accounts/profile/")
    assert page.status_code == 200
    assert 'value="Europe/Budapest"' in page.content.decode()
    response = client.post(
        "/accounts/profile/", {"language": "de", "time_zone": "Europe/Budapest"}, follow=True
    )
    rep.refresh_from_db()
    assert (rep.language, rep.time_zone) == ("de", "Europe/Budapest")
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert _in("de", "Your language and time zone are saved.") in html
    assert _in("de", "Log out") in html
    assert response["Content-Language"] == "de"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"language": "xx", "time_zone": ""}, "language"),
        ({"language": "de", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"language": "de", "time_zone": "<script>"}, "time_zone"),
        ({"time_zone": "UTC"}, "language"),
    ],
)
def test_the_profile_refuses_an_unknown_language_or_zone_and_saves_nothing(
    client, rep, data, field
):
    client.force_login(rep)
    response = client.post("/accounts/profile/", data)
    assert response.status_code == 422
    assert field in response.context["form"].errors
    assert "<script>" not in response.content.decode().split("<main", 1)[1].replace(
        "&lt;script&gt;", ""
    )
    rep.refresh_from_db()
    assert (rep.language, rep.time_zone) == ("", "")


@pytest.mark.django_db
def test_a_stored_language_leadflow_no_longer_has_falls_back_to_english_and_says_so_once(
    client, rep
):
    User.objects.filter(pk=rep.pk).update(language="tlh", time_zone="Nowhere/Atlantis")
    client.force_login(rep)
    first = html.unescape(client.get("/accounts/profile/").content.decode())
    assert '<html lang="en">' in first
    assert "Your profile's language tlh is not one LeadFlow has; English is used." in first
    assert "Your profile's time zone Nowhere/Atlantis is unknown" in first
    again = client.get("/accounts/profile/").content.decode()
    assert "tlh" not in again.split('id="flash"', 1)[1].split("</div>", 1)[0]


@pytest.mark.django_db
def test_an_anonymous_page_follows_accept_language_and_a_bad_header_falls_back_to_english(
    client,
):
    german = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert german.status_code == 200
    assert '<html lang="de">' in german.content.decode()
    assert "Accept-Language" in german["Vary"]
    for header in ("xx-YY", "tlh;q=abc, ;;;", "*", ""):
        response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=header)
        assert response.status_code == 200, header
        assert '<html lang="en">' in response.content.decode(), header


@pytest.mark.django_db
def test_the_first_sign_in_keeps_the_browsers_language_and_a_chosen_one_is_never_overwritten(
    client,
):
    fresh = UserFactory(username="fresh")
    chosen = UserFactory(username="chosen", language="da")
    for user in (fresh, chosen):
        client.post(
            "/accounts/login/",
            {"username": user.username, "password": "pw"},
            HTTP_ACCEPT_LANGUAGE="hu-HU,hu;q=0.9",
        )
        client.logout()
    fresh.refresh_from_db()
    chosen.refresh_from_db()
    assert fresh.language == "hu"
    assert chosen.language == "da"


@pytest.mark.django_db
def test_api_errors_keep_their_english_code_and_word_the_message_in_accept_language(client):
    secret = api_key_create(name="i18n", scopes=("leads:read",)).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    english = client.get("/api/v1/leads/?ordering=nonsense", **auth).json()["error"]
    czech = client.get(
        "/api/v1/leads/?ordering=nonsense", HTTP_ACCEPT_LANGUAGE="cs", **auth
    ).json()["error"]
    assert english["code"] == czech["code"] == "invalid"
    assert english["message"] == "The request has invalid fields."
    assert czech["message"] == _in("cs", "The request has invalid fields.") != english["message"]
    wrong = client.get("/api/v1/leads/", HTTP_ACCEPT_LANGUAGE="de", HTTP_AUTHORIZATION="Bearer x")
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert wrong.json()["error"]["message"] == _in("de", "Unknown or revoked API key.")


@pytest.mark.django_db
def test_the_javascript_catalog_is_in_the_readers_language(client, rep):
    User.objects.filter(pk=rep.pk).update(language="hu")
    client.force_login(rep)
    js = client.get("/jsi18n/").content.decode()
    assert json.dumps(_in_js("hu", "Move cancelled."))[1:-1] in js  # (the catalog is JSON)


def _in_js(language: str, message: str) -> str:
    from django.views.i18n import JavaScriptCatalog

    with translation.override(language):
        catalog = JavaScriptCatalog()
        catalog.translation = DjangoTranslation(language, domain="djangojs")
        text = catalog.get_catalog()[message]
    assert text != message
    return str(text)


@pytest.mark.django_db
def test_a_board_count_is_grouped_the_danish_way_for_a_danish_reader(client, marketer):
    from leads.lifecycle import Stage
    from leads.models import Lead

    Lead.objects.bulk_create(
        Lead(email=f"n{i}@qzv.example", stage=Stage.LEAD, stage_changed_at=timezone.now())
        for i in range(1234)
    )
    client.force_login(marketer)
    english = client.get("/leads/board/counts/").content.decode()
    assert 'data-count="1234" aria-live="polite" hx-swap-oob="true">1,234<' in english
    User.objects.filter(pk=marketer.pk).update(language="da")
    danish = client.get("/leads/board/counts/").content.decode()
    assert 'data-count="1234" aria-live="polite" hx-swap-oob="true">1.234<' in danish


@pytest.mark.django_db
def test_a_move_at_2330_utc_is_on_the_next_day_for_a_reader_in_budapest(client, rep, settings):
    from tests.leads.factories import LeadFactory

    settings.TIME_ZONE = "UTC"
    moved = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    lead = LeadFactory(first_name="Zq", owner=rep, stage_changed_at=moved)
    client.force_login(rep)
    utc_page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert ">04 Dec 2026 23:30</time>" in utc_page
    User.objects.filter(pk=rep.pk).update(time_zone="Europe/Budapest")
    budapest = client.get(f"/leads/{lead.pk}/").content.decode()
    assert ">05 Dec 2026 00:30</time>" in budapest
    User.objects.filter(pk=rep.pk).update(language="de")
    german = client.get(f"/leads/{lead.pk}/").content.decode()
    with translation.override("de"):
        expected = formats.date_format(
            moved.astimezone(ZoneInfo("Europe/Budapest")), "DATETIME_FORMAT"
        )
    assert f">{expected}</time>" in german
    assert "5. Dezember 2026" in expected


@pytest.mark.django_db
def test_stage_codes_stay_and_are_explained_in_the_readers_language(client, marketer):
    User.objects.filter(pk=marketer.pk).update(language="cs")
    client.force_login(marketer)
    board = html.unescape(client.get("/leads/board/").content.decode())
    explained = _in("cs", "Marketing qualified lead")
    assert explained != "Marketing qualified lead"
    assert f'<span title="{explained}">MQL</span>' in board
