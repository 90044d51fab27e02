"""Issue 21 in real Chromium: a rep works in Hungarian and a marketer in German, as their
browsers ask (Accept-Language from the browser's locale), including the text the scripts write
(SLA countdowns, the board's move dialog) from the /jsi18n/ catalog. Page-by-page coverage of
every language is tests/leadflow/test_languages_pages.py; the user guide's pictures of these
pages are made by bench/ui/screenshots.py."""

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation.trans_real import DjangoTranslation
from playwright.sync_api import expect

from handover.models import Handover
from leadflow.models import User
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Team
from leads.services import lead_mark_mql
from tests.e2e.test_browser import handover_defaults  # noqa: F401 (a fixture)
from tests.languages import ENGLISH, PATH, ZONE
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return gettext(message)


def _js(language: str, message: str) -> str:
    with translation.override(language):
        return DjangoTranslation(language, domain="djangojs").gettext(message)


def _sign_in(browser, live_server, username: str, locale: str):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, base_url=live_server.url, locale=locale
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill("pw")
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()
    return page


def _english_left(page) -> list[str]:
    texts = page.locator("main, header").evaluate_all(
        "els => els.flatMap(el => el.innerText.split('\\n')).map(t => t.trim()).filter(Boolean)"
    )
    return [t for t in texts if ENGLISH.search(t) and not ZONE.match(t) and not PATH.match(t)]


def test_a_rep_works_in_hungarian_as_their_browser_asks(browser, live_server, handover_defaults):  # noqa: F811
    manager = UserFactory(username="mzk", role=Role.SALES_MANAGER)
    rep = UserFactory(username="rzk", first_name="Rzk", last_name="Qvo", role=Role.SALES_REP)
    team = Team.objects.create(name="Zqx", manager=manager)
    team.members.add(rep)
    lead = LeadFactory(
        stage=Stage.LEAD, first_name="Xq", last_name="Vzk", company="Qzv Kft", owner=rep, team=team
    )
    page = _sign_in(browser, live_server, "rzk", "hu-HU")
    rep.refresh_from_db()
    assert rep.language == "hu"  # the first sign-in kept the browser's language
    # handed over now: its notification is written in the rep's language (it is stored text)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    assert Handover.objects.filter(lead=lead).exists()
    page.goto("/handover/inbox/")
    assert page.locator("html").get_attribute("lang") == "hu"
    expect(page.get_by_role("link", name=_in("hu", "SAL inbox"))).to_be_visible()
    # the countdown is written by leadflow.js with the Hungarian djangojs catalog
    due_in = _js("hu", "due in %(span)s")
    assert due_in != "due in %(span)s"
    pattern = "^" + re.escape(due_in).replace(re.escape("%(span)s"), ".+") + "$"
    page.wait_for_function(
        "(p) => [...document.querySelectorAll('time[data-countdown]')]"
        ".some(t => new RegExp(p).test(t.textContent))",
        arg=pattern,
    )
    assert _english_left(page) == []
    page.goto(f"/leads/{lead.pk}/")
    assert _english_left(page) == []
    page.context.close()


def test_a_marketer_works_in_german_with_a_chosen_language(browser, live_server):
    marketer = UserFactory(username="kzk", role=Role.MARKETER)
    LeadFactory(stage=Stage.LEAD, first_name="Xq", last_name="Vzk", company="Qzv GmbH")
    page = _sign_in(browser, live_server, "kzk", "en-US")
    page.goto("/accounts/profile/")
    page.locator("#id_language").select_option("de")
    page.locator("#id_time_zone").select_option("Europe/Berlin")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    marketer.refresh_from_db()
    assert (marketer.language, marketer.time_zone) == ("de", "Europe/Berlin")
    expect(page.get_by_text(_in("de", "Your language and time zone are saved."))).to_be_visible()
    page.goto("/leads/board/")
    assert page.locator("html").get_attribute("lang") == "de"
    page.locator("[data-count-for=lead][data-count]").wait_for()
    assert _english_left(page) == []
    page.goto("/leads/list/")
    assert _english_left(page) == []
    User.objects.filter(pk=marketer.pk).update(language="en")
    page.goto("/leads/board/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.context.close()
