"""Issue 17 item 8: a very long word wraps inside its box in a real Chromium."""

import pytest

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.services import note_add
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OVERFLOWING = """() => [...document.querySelectorAll('.card, .card-lead, .timeline li, td')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.className || el.tagName)"""


def test_a_long_word_stays_inside_cards_timeline_and_tables(page, login):
    marketer = UserFactory(username="mara", role=Role.MARKETER)
    word = "x" * 9_000  # a note holds up to 10,000 characters
    lead = LeadFactory(stage=Stage.LEAD, company="C" * 150, first_name="W" * 100)
    note_add(lead_id=lead.pk, author=marketer, body=word)
    login("mara")
    for path in (f"/leads/{lead.pk}/", "/leads/list/", "/leads/board/"):
        page.goto(path)
        assert page.evaluate(OVERFLOWING) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(WIDE)
        assert width <= 1440, (path, width, wide)


WIDE = """() => [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > 1440)
  .map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().width)).slice(0, 15)"""
