"""A rep loses an SQL on the board: the reason dialog asks for an exit reason, offers only those
that fit where the lead goes, and the move records the code."""

from playwright.sync_api import expect

from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import StageChange, Team
from tests.e2e.test_browser import drag
from tests.leads.factories import LeadFactory, UserFactory


def test_a_rep_drags_an_sql_to_nurture_with_an_exit_reason(page, login, transactional_db):
    rep = UserFactory(username="rosa", role=Role.SALES_REP)
    team = Team.objects.create(name="Inside")
    team.members.add(rep)
    lost = LeadFactory(stage=Stage.SQL, owner=rep, team=team, first_name="Lara", last_name="Lost")
    login("rosa")
    page.goto("/leads/board/")
    page.wait_for_load_state("networkidle")
    drag(page, f"#lead-{lost.pk}", "nurture")
    page.locator("#reason-dialog").wait_for(state="visible")
    code = page.get_by_label("Exit reason (required)")
    expect(code).to_be_focused()
    expect(page.locator("#reason-text-label")).to_have_text("Comment (optional)")
    # a disqualify-only reason is not offered for Nurture
    expect(code.locator('option[value="wrong_industry"]')).to_be_disabled()
    page.get_by_role("button", name="Move lead").click()
    expect(page.locator("#reason-code-error")).to_be_visible()  # no reason: refused in place
    code.select_option("other")  # "Other" needs a comment
    page.get_by_role("button", name="Move lead").click()
    expect(page.locator("#reason-error")).to_be_visible()
    code.select_option("lost_competitor")
    page.get_by_label("Comment (optional)").fill("Chose Acme")
    page.get_by_role("button", name="Move lead").click()
    page.locator("#flash .success").filter(has_text="Nurture").wait_for()
    change = StageChange.objects.get(lead=lost, to_stage="nurture")
    assert (change.reason_code, change.reason) == (
        "lost_competitor",
        "Lost to a competitor: Chose Acme",
    )
    assert page.csp_violations == []
