"""End-to-end: a sales manager's day in real headless Chromium (issue 17) — from the Team page
to a rep's waiting handovers, accept one, reject one with a reason, reassign a lead."""

import pytest

from handover.models import Handover, HandoverAssignment, SlaTimer
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, Team
from leads.services import lead_mark_mql
from tests.e2e.test_browser import handover_defaults  # noqa: F401 (a fixture)
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_manager_decides_and_reassigns_their_teams_leads(page, login, handover_defaults):  # noqa: F811
    manager = UserFactory(username="maria", role=Role.SALES_MANAGER, first_name="Maria")
    rita = UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita", last_name="Rep")
    raj = UserFactory(username="raj", role=Role.SALES_REP, first_name="Raj", last_name="Rep")
    team = Team.objects.create(name="Inside sales", manager=manager)
    team.members.add(rita, raj)
    other_rep = UserFactory(username="otto", role=Role.SALES_REP, first_name="Otto")
    Team.objects.create(name="Field sales").members.add(other_rep)
    handovers = {}
    for first, owner in (("Alice", raj), ("Bob", raj), ("Carol", raj), ("Dora", other_rep)):
        lead = LeadFactory(
            stage=Stage.LEAD, first_name=first, last_name="Prospect", owner=owner, team=team
        )
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        handovers[first] = Handover.objects.get(lead=lead)
    Lead.objects.filter(pk=handovers["Dora"].lead_id).update(team=None)
    Handover.objects.filter(pk=handovers["Dora"].pk).update(team=None)

    login("maria")
    assert page.url.endswith("/reports/team/")
    page.get_by_role("link", name="3 to accept for Raj Rep: open the SAL inbox").click()
    page.wait_for_url(f"**/handover/inbox/?owner={raj.pk}")
    rows = page.locator(".inbox-row[data-handover]")
    assert rows.count() == 3
    assert page.get_by_label("Owner").input_value() == str(raj.pk)
    first_row = page.locator(f"#handover-{handovers['Alice'].pk}")
    assert "Owner: Raj Rep" in first_row.inner_text()
    assert first_row.locator("time[data-countdown]").inner_text().startswith("due in")
    assert page.get_by_text("Dora").count() == 0  # another team's rep's handover

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    first_row.get_by_role("button", name="Accept").dblclick()
    first_row.get_by_text("it is a SAL now and Raj Rep's to qualify").wait_for()
    page.wait_for_timeout(300)
    assert len([u for u in posts if u.endswith(f"/{handovers['Alice'].pk}/accept/")]) == 1

    row = page.locator(f"#handover-{handovers['Bob'].pk}")
    row.focus()
    page.keyboard.press("r")
    page.locator("#reject-dialog").wait_for(state="visible")
    page.get_by_label("Reason").select_option("other")
    page.get_by_label("Comment").fill("Bought a competitor last month")
    page.get_by_role("button", name="Reject lead").click()
    page.locator("#flash .success").filter(has_text="Rejected Bob Prospect").wait_for()
    assert f"owner={raj.pk}" in page.url  # back to the same filtered inbox

    page.locator(f"#handover-{handovers['Carol'].pk} a.lead-name").click()
    page.get_by_label("Reassign to").select_option(label="Rita Rep")
    page.get_by_role("button", name="Reassign").click()
    page.locator("#flash .success").filter(has_text="now belongs to Rita Rep").wait_for()

    alice, bob, carol = (
        Handover.objects.get(pk=handovers[n].pk) for n in ("Alice", "Bob", "Carol")
    )
    assert (alice.status, alice.decided_by, alice.owner) == ("accepted", manager, raj)
    assert (bob.status, bob.reason_code, bob.comment) == (
        "rejected",
        "other",
        "Bought a competitor last month",
    )
    assert Lead.objects.get(pk=bob.lead_id).stage == Stage.NURTURE
    assert (carol.status, carol.owner) == ("open", rita)
    assert SlaTimer.objects.get(handover=carol, state="running").owner == rita
    assert HandoverAssignment.objects.filter(handover=carol, assigned_by=manager).exists()
    assert page.csp_violations == []
