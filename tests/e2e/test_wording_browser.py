"""Issue 17 item 8: no doubled words on the pages that show SLA countdowns (real Chromium, with
leadflow.js rewriting the countdowns)."""

import re

import pytest

from handover.models import Handover
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Team
from leads.services import lead_mark_mql
from tests.e2e.test_browser import handover_defaults  # noqa: F401 (a fixture)
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DOUBLED = re.compile(r"\b([a-z]+)\s+\1\b", re.IGNORECASE)


def test_sla_countdowns_say_due_once(page, login, handover_defaults):  # noqa: F811
    manager = UserFactory(username="mona", role=Role.SALES_MANAGER)
    rep = UserFactory(username="rita", role=Role.SALES_REP)
    team = Team.objects.create(name="Inside", manager=manager)
    team.members.add(rep)
    lead = LeadFactory(stage=Stage.LEAD, first_name="Alice", owner=rep, team=team)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    assert Handover.objects.filter(lead=lead).exists()
    for user, path in (
        ("rita", "/handover/inbox/"),
        ("rita", f"/leads/{lead.pk}/"),
        ("mona", "/reports/team/"),
    ):
        login(user)
        page.goto(path)
        page.wait_for_function(
            "() => [...document.querySelectorAll('time[data-countdown]')]"
            ".every(t => /^(due in|overdue by) /.test(t.textContent))"
        )
        text = page.locator("main").inner_text()
        if path.startswith("/handover/"):
            assert "due in" in text  # the countdown did render (checked where it always shows)
        assert DOUBLED.findall(text) == [], (path, DOUBLED.findall(text))
        page.context.clear_cookies()
