"""End-to-end: what marketers and reps do all day, in a real headless Chromium."""

import importlib
import re

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import expect

from handover import selectors as handover_selectors
from handover.models import Handover, SlaPolicy
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import Lead, StageChange, Team
from leads.services import lead_mark_mql
from tests.handover.factories import calendar
from tests.leads.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def handover_defaults(transactional_db):
    """live_server tests flush the database between tests, data migrations included: put back
    the rejection reasons and frameworks, and an MQL SLA clock that runs round the clock."""
    defaults = importlib.import_module("handover.migrations.0002_defaults")
    defaults.forwards(django_apps, None)
    SlaPolicy.objects.filter(stage="mql", active=True).update(active=False)
    SlaPolicy.objects.update_or_create(
        name="e2e: accept within 8 hours",
        defaults={
            "stage": "mql",
            "calendar": calendar(),
            "target_minutes": 480,
            "warn_before_minutes": 60,
            "escalation": [{"after_minutes": 0, "action": "remind_owner"}],
            "active": True,
        },
    )


def drag(page, card_selector: str, stage: str) -> None:
    """Press on a card, move to another column in small steps, release (SortableJS fallback)."""
    card = page.locator(card_selector)
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    target = page.locator(f'ol.cards[data-stage="{stage}"]')
    target.scroll_into_view_if_needed()
    box = card.bounding_box()
    tbox = target.bounding_box()
    assert box is not None
    assert tbox is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 5, box["y"] + 15, steps=3)
    page.mouse.move(tbox["x"] + tbox["width"] / 2, tbox["y"] + 30, steps=15)
    # SortableJS's fallback mode samples the pointer every 50 ms: let it see the target
    page.wait_for_timeout(120)
    page.mouse.move(tbox["x"] + tbox["width"] / 2, tbox["y"] + 34, steps=2)
    page.wait_for_timeout(120)
    page.mouse.up()


@pytest.fixture
def marketer_user(transactional_db):
    return UserFactory(username="mara", role=Role.MARKETER, first_name="Mara")


def test_marketer_filters_the_board_and_drags_a_lead(page, login, marketer_user):
    webinar = LeadFactory(
        stage=Stage.SUSPECT, first_name="Wendy", last_name="Webinar", source="webinar", score=30
    )
    LeadFactory(stage=Stage.SUSPECT, first_name="Otto", last_name="Organic", score=90)
    recycled = LeadFactory(
        stage=Stage.LEAD, first_name="Nina", last_name="Nurture", source="webinar", score=20
    )
    login("mara")
    page.goto("/leads/board/")
    page.wait_for_load_state("networkidle")  # counts loaded: nothing moves under the pointer
    expect(page.get_by_text("Otto Organic")).to_be_visible()
    page.get_by_label("Source").fill("webinar")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"/leads/board/\?source=webinar$"))  # empty fields left out
    assert page.get_by_text("Otto Organic").count() == 0
    expect(page.locator('[data-count-for="suspect"]')).to_have_text("1")

    drag(page, f"#lead-{webinar.pk}", "lead")
    page.locator("#flash .success").wait_for()
    assert "moved to Lead" in page.locator("#flash").inner_text()
    assert page.locator(f'ol.cards[data-stage="lead"] #lead-{webinar.pk}').count() == 1
    expect(page.locator('[data-count-for="lead"]')).to_have_text("2")
    webinar.refresh_from_db()
    assert webinar.stage == Stage.LEAD
    assert StageChange.objects.filter(lead=webinar, to_stage="lead", source="ui").exists()

    # a move that needs a reason asks for one first
    drag(page, f"#lead-{recycled.pk}", "nurture")
    dialog = page.locator("#reason-dialog")
    dialog.wait_for(state="visible")
    page.get_by_role("button", name="Move lead").click()
    expect(page.locator("#reason-error")).to_be_visible()  # empty reason refused in place
    page.get_by_label("Reason (required)", exact=True).fill("Not ready until Q3")
    page.get_by_role("button", name="Move lead").click()
    page.locator("#flash .success").filter(has_text="Nurture").wait_for()
    recycled.refresh_from_db()
    assert recycled.stage == Stage.NURTURE
    assert StageChange.objects.get(lead=recycled, to_stage="nurture").reason == (
        "Not ready until Q3"
    )
    assert page.csp_violations == []


def test_a_disallowed_drag_is_refused(page, login, marketer_user):
    lead = LeadFactory(stage=Stage.SUSPECT, first_name="Stuck", last_name="Suspect")
    login("mara")
    page.goto("/leads/board/")
    page.wait_for_load_state("networkidle")  # counts loaded: nothing moves under the pointer
    drag(page, f"#lead-{lead.pk}", "customer")
    page.locator("#flash .error").wait_for()
    assert "cannot be moved from Suspect to Customer" in page.locator("#flash").inner_text()
    assert page.locator(f'ol.cards[data-stage="suspect"] #lead-{lead.pk}').count() == 1
    expect(page.locator('[data-count-for="customer"]')).to_have_text("0")
    lead.refresh_from_db()
    assert lead.stage == Stage.SUSPECT


def test_a_drag_on_a_stale_board_shows_a_conflict(page, login, marketer_user):
    lead = LeadFactory(stage=Stage.LEAD, first_name="Moved", last_name="Elsewhere")
    login("mara")
    page.goto("/leads/board/")
    page.wait_for_load_state("networkidle")  # counts loaded: nothing moves under the pointer
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")  # someone else, meanwhile
    drag(page, f"#lead-{lead.pk}", "nurture")
    page.locator("#reason-dialog").wait_for(state="visible")
    page.get_by_label("Reason (required)", exact=True).fill("cold")
    page.get_by_role("button", name="Move lead").click()
    page.locator("#flash .error").wait_for()
    assert "while you were looking" in page.locator("#flash").inner_text()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_rep_accepts_one_sal_and_rejects_another_with_a_reason(page, login, handover_defaults):
    rep = UserFactory(username="rita", role=Role.SALES_REP, first_name="Rita")
    Team.objects.create(name="Inside").members.add(rep)
    handovers = []
    for first in ("Alice", "Bob"):
        lead = LeadFactory(stage=Stage.LEAD, first_name=first, last_name="Prospect", owner=rep)
        lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
        handovers.append(Handover.objects.get(lead=lead))
    accept_me, reject_me = handovers
    login("rita")
    page.goto("/handover/inbox/")
    assert page.locator("time[data-countdown]").first.inner_text().startswith("due in")
    assert page.locator(".bell-count").inner_text() == "2"

    page.locator(f"#handover-{accept_me.pk}").get_by_role("button", name="Accept").click()
    page.locator(f"#handover-{accept_me.pk}").get_by_text("it is a SAL now").wait_for()

    row = page.locator(f"#handover-{reject_me.pk}")
    row.focus()
    page.keyboard.press("r")  # keyboard: R opens the reject dialog
    page.locator("#reject-dialog").wait_for(state="visible")
    page.get_by_label("Reason").select_option("other")
    page.get_by_role("button", name="Reject lead").click()
    # "Other" needs a comment: the dialog comes back with the error in place
    page.locator("#reject-dialog").get_by_text("needs a comment").wait_for()
    page.get_by_label("Comment").fill("Asked to talk again after their merger")
    page.get_by_role("button", name="Reject lead").click()
    page.locator("#flash .success").filter(has_text="Rejected Bob Prospect").wait_for()

    accept_me.refresh_from_db()
    reject_me.refresh_from_db()
    assert accept_me.status == Handover.Status.ACCEPTED
    assert (reject_me.status, reject_me.reason_code) == ("rejected", "other")
    assert reject_me.comment == "Asked to talk again after their merger"
    assert Lead.objects.get(pk=accept_me.lead_id).stage == Stage.SAL
    assert Lead.objects.get(pk=reject_me.lead_id).stage == Stage.NURTURE
    assert page.csp_violations == []


def test_rep_accepts_with_the_keyboard(page, login, handover_defaults):
    rep = UserFactory(username="raj", role=Role.SALES_REP)
    lead = LeadFactory(stage=Stage.LEAD, first_name="Keyboard", owner=rep)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring")
    handover = Handover.objects.get(lead=lead)
    login("raj")
    page.goto("/handover/inbox/")
    page.locator(f"#handover-{handover.pk}").focus()
    page.keyboard.press("a")
    page.locator(f"#handover-{handover.pk}").get_by_text("it is a SAL now").wait_for()
    handover.refresh_from_db()
    assert handover.status == Handover.Status.ACCEPTED


def test_lead_page_renders_the_score_breakdown(page, login, marketer_user, monkeypatch):
    lead = LeadFactory(
        stage=Stage.MQL, first_name="Brenda", last_name="Breakdown", score=72, grade="A"
    )
    unscored = LeadFactory(stage=Stage.LEAD, first_name="Nora", last_name="New")
    breakdown = {
        "score": 72,
        "fit_score": 40,
        "engagement_score": 32,
        "grade": "A",
        "model_version": 3,
        "rules": [
            {
                "name": "Visited pricing",
                "dimension": "engagement",
                "points": 32,
                "count": 4,
                "decay": 0.8,
            },
            {
                "name": "Industry is Software",
                "dimension": "fit",
                "points": 40,
                "count": 1,
                "decay": 1,
            },
        ],
    }
    monkeypatch.setattr(
        handover_selectors,
        "_score_breakdown",
        lambda lead_id: breakdown if lead_id == lead.pk else None,
    )
    login("mara")
    page.goto(f"/leads/{lead.pk}/")
    page.get_by_role("heading", name="Why this score").wait_for()
    table = page.locator("table.breakdown")
    assert "Visited pricing" in table.inner_text()
    assert "Industry is Software" in table.inner_text()
    expect(page.get_by_role("heading", name="Stage history")).to_be_visible()
    page.get_by_label("Add a note").fill("Called, wants a demo")
    page.get_by_role("button", name="Add note").click()
    page.locator(".timeline").get_by_text("Called, wants a demo").wait_for()
    page.goto(f"/leads/{unscored.pk}/")
    page.locator("#not-scored").wait_for()
    assert page.csp_violations == []
    assert timezone.now()
